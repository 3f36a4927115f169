/* The network thread: every connection and every child's stdin and stdout. */
#ifndef WSB_NET_H
#define WSB_NET_H

struct server;
struct session;

int	 net_start(struct server *, struct session *);
void	 net_stop(struct server *);

#endif
