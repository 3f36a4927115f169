/*
 * What a --connect --pty client puts on the wire besides keys (the --pty
 * protocol in wsbridge(1)): its window size in the URL's query, and the
 * resize control message. Pure, so it is unit-tested.
 */
#ifndef WSB_PTYQUERY_H
#define WSB_PTYQUERY_H

#include <stddef.h>

#define PTY_SUBPROTOCOL	"wsbridge.pty"
#define PTY_SIZE_MAX	1000	/* the protocol's limit, each way */

int	 ptyquery_url(const char *, unsigned, unsigned, char *, size_t);
int	 ptyquery_resize(unsigned, unsigned, char *, size_t);

#endif
