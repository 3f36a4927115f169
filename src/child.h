/* The child process of a session: spawn, pipes, reaping, kill schedule. */
#ifndef WSB_CHILD_H
#define WSB_CHILD_H

#include <sys/types.h>

struct server;
struct session;

/* stdin read and write end, stdout's, stderr's: as child_make_pipes. */
#define CHILD_PIPE_FDS	6

struct children	*children_create(void);
void		 children_free(struct children *);
unsigned	 children_count(const struct children *);
void		 children_reap(struct server *);
void		 children_exited(struct server *, pid_t, int);
void		 children_shutdown(struct server *);
void		 children_kill_all(struct server *);
void		 children_finish(struct server *);

void		 child_service(struct server *, struct session *);
int		 child_pipe(int [2], int);
void		 child_pipe_close(int [2]);
int		 child_make_pipes(int [CHILD_PIPE_FDS]);
void		 child_close_pipes(int [CHILD_PIPE_FDS]);
int		 child_spawn_fds(struct server *, const char *, char *const [],
		     char *const [], const int [3], pid_t *);

#endif
