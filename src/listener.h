/*
 * Listening sockets and connections whose request head is still arriving.
 * The main thread reads each head (without consuming it) to build the CGI
 * environment, answers plain HTTP itself, and hands upgrades to lws.
 */
#ifndef WSB_LISTENER_H
#define WSB_LISTENER_H

struct config;
struct server;

int	 listeners_check(const struct config *);
int	 listeners_open(struct server *);
void	 listeners_close(struct server *);

#endif
