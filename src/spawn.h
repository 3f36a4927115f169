/*
 * Starting a process of ours, for a session or a CGI script: its pipes
 * and the spawn itself (through the spawner, or directly without one).
 */
#ifndef WSB_SPAWN_H
#define WSB_SPAWN_H

#include <sys/types.h>

struct server;

/* A session's three pipes in one array, as spawn_make_pipes makes them. */
enum spawn_pipe_fd {
	PIPE_IN_CHILD,		/* stdin: the child's read end */
	PIPE_IN_OURS,		/* stdin: ours, written */
	PIPE_OUT_OURS,		/* stdout: ours, read */
	PIPE_OUT_CHILD,
	PIPE_ERR_OURS,		/* stderr: ours, read */
	PIPE_ERR_CHILD,
	SPAWN_PIPE_FDS
};

int		 spawn_pipe(int [2], int);
void		 spawn_pipe_close(int [2]);
int		 spawn_make_pipes(int [SPAWN_PIPE_FDS]);
int		 spawn_pty_stdout(int [SPAWN_PIPE_FDS]);
int		 spawn_pty(int [SPAWN_PIPE_FDS], unsigned, unsigned, char *,
		     size_t);
void		 spawn_close_pipes(int [SPAWN_PIPE_FDS]);
int		 spawn_start(struct server *, const char *, char *const [],
		     char *const [], const int [3], const char *, pid_t *);

#endif
