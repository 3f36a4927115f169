/*
 * A session's child as main sees it, shared by child.c (spawning it, its
 * stderr, the session's end) and children.c (the table of children by pid,
 * reaping, the kill schedule, the stop). Nothing else includes it.
 */
#ifndef WSB_CHILDPRIV_H
#define WSB_CHILDPRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>
#include <unistd.h>

#include <event2/event.h>

struct children;
struct server;
struct session;

/*
 * What the session still waits for before it can end with the leader's
 * status (child_check_done): a set, since these end in any order.
 */
enum child_wait {
	WAIT_LEADER = 1 << 0,	/* the leader is not reaped */
	WAIT_STDOUT = 1 << 1,	/* the network has not read stdout to EOF */
	WAIT_STDERR = 1 << 2,	/* --passstderr: stderr has not ended */
};

/* The child's stdin, which the network thread owns (net_close_stdin). */
enum child_stdin {
	STDIN_OPEN,		/* written by the network thread */
	STDIN_ASKED,		/* its EOF is asked for */
	STDIN_CLOSED,		/* the network thread closed it */
};

/* What waits for stdin's EOF, so that it comes before any signal. */
enum after_stdin {
	AFTER_STDIN_NOTHING,
	AFTER_STDIN_GRACE,	/* the kill schedule's first grace */
	AFTER_STDIN_TERM,	/* SIGTERM at once: the grace ran out */
};

enum kill_stage {
	KILL_NONE,	/* nothing sent yet */
	KILL_TERM,	/* SIGTERM sent, SIGKILL next */
	KILL_DONE,	/* SIGKILL sent, or the group is gone */
};

struct child {
	struct server		*srv;
	struct session		*s;		/* NULL once the session ended */
	uint64_t		 session_id;
	pid_t			 pid;		/* also the process group */
	int			 err_fd;
	struct event		*err_ev, *kill_ev;
	struct event		*out_ev;	/* output's wait after the leader */
	unsigned		 waiting;	/* enum child_wait */
	char			*errbuf;	/* ERRLINE_MAX, once used */
	size_t			 errlen;
	bool			 hup_sent;	/* SIGHUP goes once */
	enum child_stdin	 stdin_state;
	enum after_stdin	 after_stdin;
	int			 wstatus;	/* once WAIT_LEADER is gone */
	enum kill_stage		 stage;
	bool			 holds_fork;	/* from its session */
	struct child		*hash_next;
	TAILQ_ENTRY(child)	 entry;
};

static inline void
close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

/* children.c */
void		 children_add(struct children *, struct child *);
void		 child_signal_group(struct child *, int);
bool		 child_group_alive(struct child *);
void		 child_arm_closems(struct child *, struct event *);
void		 child_start_grace(struct child *);
void		 child_close_stdin(struct child *, bool);
void		 child_stdin_closed(struct child *);
void		 child_on_kill_timer(evutil_socket_t, short, void *);
void		 child_maybe_free(struct child *);

/* child.c */
void		 child_end_session(struct child *);
void		 child_check_done(struct child *);

#endif
