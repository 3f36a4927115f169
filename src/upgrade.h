/*
 * The answer that completes a WebSocket handshake. The main thread has
 * checked the request already (listener.c); this writes the 101, so the
 * network thread takes over a socket whose handshake is decided.
 */
#ifndef WSB_UPGRADE_H
#define WSB_UPGRADE_H

#include <stdbool.h>
#include <stddef.h>

#include "wsframe.h"

struct config;
struct http_request;

struct upgrade {
	char			*reply;		/* the 101, malloc'd */
	size_t			 len;
	bool			 deflate;	/* permessage-deflate agreed */
	struct pmd_params	 pmd;
	bool			 pty_ctl;	/* --pty's subprotocol chosen */
};

int	 upgrade_reply(const struct config *, const struct http_request *,
	     bool half_close, struct upgrade *);
const char *upgrade_subprotocol(const struct config *,
	     const struct http_request *, size_t *);

#endif
