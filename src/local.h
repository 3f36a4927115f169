/*
 * Client mode without a command: our own stdin and stdout are the session's
 * local end, in place of a child's pipes.
 */
#ifndef WSB_LOCAL_H
#define WSB_LOCAL_H

struct server;
struct session;

void	 local_service(struct server *, struct session *);
void	 local_free(struct server *);
void	 local_winch(struct server *);

#endif
