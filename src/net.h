/* The network thread: one lws context on lws's own poll loop. */
#ifndef WSB_NET_H
#define WSB_NET_H

struct server;
struct session;

int	 net_start(struct server *, struct session *);
void	 net_stop(struct server *);

#endif
