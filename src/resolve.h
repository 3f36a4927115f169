/*
 * --reverselookup: reverse DNS on worker threads, so neither event loop
 * ever waits on a resolver; answers come back to the main thread.
 */
#ifndef WSB_RESOLVE_H
#define WSB_RESOLVE_H

#include <sys/socket.h>

struct server;

typedef void (*resolve_cb)(void *, const char *);

int	 resolve_start(struct server *);
int	 resolve_lookup(struct server *, const struct sockaddr_storage *,
	     resolve_cb, void *);
void	 resolve_stop(struct server *);

#endif
