/*
 * --ssl: the main thread terminates TLS and relays the plain bytes over a
 * socketpair, so everything after it (the peeked head, the CGI
 * environment, routing, lws) is the same as for plain connections.
 */
#ifndef WSB_TLS_H
#define WSB_TLS_H

#include <sys/socket.h>

struct server;

int	 tls_start(struct server *);
int	 tls_accept(struct server *, int, const struct sockaddr_storage *);
void	 tls_stop(struct server *);

#endif
