/*
 * The spawner: a small process, forked before the server has any session,
 * that spawns the children and reaps them for it (see spawner.c).
 */
#ifndef WSB_SPAWNER_H
#define WSB_SPAWNER_H

#include <sys/types.h>

struct event_base;
struct spawner;

/* Called on the main thread for every child the spawner reaped. */
typedef void	 spawner_exit_cb(void *, pid_t, int);

struct spawner	*spawner_start(struct event_base *, spawner_exit_cb *, void *);
int		 spawner_spawn(struct spawner *, const char *, char *const [],
		     char *const [], const int [3], const char *, pid_t *);
void		 spawner_poll(struct spawner *);
void		 spawner_stop(struct spawner *);

int		 spawn_direct(const char *, char *const [], char *const [],
		     const int [3], const char *, pid_t *);

#endif
