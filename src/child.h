/* The child process of a session: spawn, pipes, reaping, kill schedule. */
#ifndef WSB_CHILD_H
#define WSB_CHILD_H

#include <sys/types.h>

struct server;
struct session;

struct children	*children_create(void);
void		 children_free(struct children *);
unsigned	 children_count(const struct children *);
void		 children_reap(struct server *);
void		 children_exited(struct server *, pid_t, int);
void		 children_shutdown(struct server *);
void		 children_kill_all(struct server *);
void		 children_finish(struct server *);

void		 child_service(struct server *, struct session *);

#endif
