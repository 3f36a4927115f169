/* The network thread: one lws context on lws's own poll loop. */
#ifndef WSB_NET_H
#define WSB_NET_H

struct server;

int	 net_start(struct server *);
void	 net_stop(struct server *);

#endif
