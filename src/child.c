/*
 * The main thread's side of a session: the child process, its stderr pipe
 * and its kill schedule. Its stdin and stdout belong to the network thread
 * (net.c writes the one and reads the other), so data goes between socket
 * and pipe without a hop between the threads; that thread reports stdout's
 * EOF (OUTPUT_DRAINING), and closes stdin when main asks (ASK_CLOSE_STDIN),
 * reporting it (INPUT_CLOSED). A child object
 * outlives its session when the process group lingers, so that nothing it
 * started escapes the schedule.
 *
 * Life cycle: spawned when the handshake completes; the session ends for
 * the child once the leader is reaped and its stdout reached EOF, so every
 * byte it wrote is queued before the close frame. The object itself goes
 * once stderr is drained and the group is gone or has been sent SIGKILL.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "child.h"
#include "config.h"
#include "env.h"
#include "framing.h"
#include "log.h"
#include "ptyctl.h"
#include "server.h"
#include "session.h"
#include "spawn.h"
#include "spawner.h"
#include "status.h"

#define PID_BUCKETS	1024
#define FINISH_WAIT_MS	2000	/* at exit, for SIGKILLed leaders to die */
#define FINISH_NAP_MS	10

#define ERRLINE_MAX	4096
/*
 * How long SIGTERM waits for the network thread to close stdin, so that
 * EOF comes first. It answers at once; this only bounds a thread that
 * cannot (it never happened).
 */
#define STDIN_CLOSE_WAIT_MS 1000

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

struct children {
	struct child		*buckets[PID_BUCKETS];
	TAILQ_HEAD(, child)	 all;
	unsigned		 count;
};

static void	 child_check_done(struct child *);
static void	 child_stdin_closed(struct child *);
static void	 child_maybe_free(struct child *);
static void	 child_destroy(struct child *);
static void	 close_fd(int *);

struct children *
children_create(void)
{
	struct children	*ch;

	if ((ch = calloc(1, sizeof *ch)) == NULL)
		return NULL;
	TAILQ_INIT(&ch->all);
	return ch;
}

/* At exit: whatever is left was killed; only the bookkeeping remains. */
void
children_free(struct children *ch)
{
	struct child	*c;

	if (ch == NULL)
		return;
	while ((c = TAILQ_FIRST(&ch->all)) != NULL) {
		TAILQ_REMOVE(&ch->all, c, entry);
		child_destroy(c);
	}
	free(ch);
}

unsigned
children_count(const struct children *ch)
{
	return ch->count;
}

static struct child **
bucket(struct children *ch, pid_t pid)
{
	return &ch->buckets[(unsigned)pid % PID_BUCKETS];
}

static struct child *
children_find(struct children *ch, pid_t pid)
{
	struct child	*c;

	for (c = *bucket(ch, pid); c != NULL; c = c->hash_next) {
		if (c->pid == pid)
			return c;
	}
	return NULL;
}

static void
children_add(struct children *ch, struct child *c)
{
	struct child	**b = bucket(ch, c->pid);

	c->hash_next = *b;
	*b = c;
	TAILQ_INSERT_TAIL(&ch->all, c, entry);
	ch->count++;
}

static void
children_remove(struct children *ch, struct child *c)
{
	struct child	**p;

	for (p = bucket(ch, c->pid); *p != NULL; p = &(*p)->hash_next) {
		if (*p == c) {
			*p = c->hash_next;
			break;
		}
	}
	TAILQ_REMOVE(&ch->all, c, entry);
	ch->count--;
}

static void
close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

/* Signals the whole group, so a shell script's own children hear it too. */
static void
signal_group(struct child *c, int sig)
{
	if (kill(-c->pid, sig) == -1 && errno != ESRCH)
		log_error("session=%llu kill(-%ld, %s): %s",
		    (unsigned long long)c->session_id, (long)c->pid,
		    status_signame(sig), strerror(errno));
	else
		log_debug("session=%llu sent %s to process group %ld",
		    (unsigned long long)c->session_id, status_signame(sig),
		    (long)c->pid);
}

static bool
group_alive(struct child *c)
{
	return kill(-c->pid, 0) == 0 || errno == EPERM;
}

/* Every wait of a child's end is --closems long. */
static void
arm_ms(struct event *ev, unsigned ms)
{
	struct timeval	 tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(ev, &tv);
}

static void
arm_closems(struct child *c, struct event *ev)
{
	arm_ms(ev, c->srv->cfg->closems);
}

/* The first grace ran out: SIGTERM to the group, SIGKILL after the next. */
static void
child_send_term(struct child *c)
{
	signal_group(c, SIGTERM);
	c->stage = KILL_TERM;
	arm_closems(c, c->kill_ev);
}

/* Starts the kill schedule unless it already runs. */
static void
start_grace(struct child *c)
{
	if (c->stage == KILL_NONE && !evtimer_pending(c->kill_ev, NULL))
		arm_closems(c, c->kill_ev);
}

/*
 * EOF on the child's stdin, which the network thread owns: we ask for it,
 * and whatever was queued for the child is dropped there. The kill
 * schedule, if asked for, starts once the pipe is closed (child_service),
 * so that the child always sees EOF before any signal of the schedule.
 */
static void
child_close_stdin(struct child *c, bool schedule)
{
	struct session	*s = c->s;

	if (schedule && c->after_stdin == AFTER_STDIN_NOTHING)
		c->after_stdin = AFTER_STDIN_GRACE;
	if (s == NULL || c->stdin_state == STDIN_CLOSED) {
		/* Nothing left to wait for: the session is over or it is shut. */
		c->stdin_state = STDIN_CLOSED;
		child_stdin_closed(c);
		return;
	}
	if (c->stdin_state == STDIN_ASKED)
		return;
	c->stdin_state = STDIN_ASKED;
	session_lock(s);
	session_ask(s, ASK_CLOSE_STDIN);
	session_unlock(s);
	session_wake_net(s);
}

/* The pipe is closed: what waited for it goes ahead. */
static void
child_stdin_closed(struct child *c)
{
	enum after_stdin	 after = c->after_stdin;

	c->after_stdin = AFTER_STDIN_NOTHING;
	if (after == AFTER_STDIN_GRACE)
		start_grace(c);
	else if (after == AFTER_STDIN_TERM && c->stage == KILL_NONE) {
		event_del(c->kill_ev);
		child_send_term(c);
	}
}

/*
 * The grace after stdin closed ran out: SIGTERM, then after a second grace
 * SIGKILL. A child that closed stdout but lives gets its client's close
 * here, since nothing more can come from it.
 */
static void
on_kill_timer(evutil_socket_t fd, short what, void *arg)
{
	struct child	*c = arg;
	struct session	*s = c->s;

	(void)fd;
	(void)what;
	if (!(c->waiting & WAIT_LEADER) && !group_alive(c)) {
		c->stage = KILL_DONE;
		child_maybe_free(c);
		return;
	}
	if (c->stage == KILL_NONE && c->after_stdin != AFTER_STDIN_TERM) {
		if (s != NULL && (c->waiting & (WAIT_LEADER | WAIT_STDOUT)) ==
		    WAIT_LEADER) {
			session_lock(s);
			if (!session_is_gone(s))
				session_set_close(s, CLOSED_CHILD, 1000,
				    "stdout closed");
			output_done(s);
			session_unlock(s);
			session_wake_net(s);
		}
		/* What it did not read is dropped; EOF comes before SIGTERM. */
		child_close_stdin(c, false);
		if (c->stdin_state != STDIN_CLOSED) {
			c->after_stdin = AFTER_STDIN_TERM;
			arm_ms(c->kill_ev, STDIN_CLOSE_WAIT_MS);
			return;
		}
	}
	if (c->stage == KILL_NONE) {
		/* Closed, or (never seen) the network did not answer. */
		c->after_stdin = AFTER_STDIN_NOTHING;
		child_send_term(c);
		return;
	}
	signal_group(c, SIGKILL);
	c->stage = KILL_DONE;
	child_maybe_free(c);
}

/*
 * The leader is gone and --closems later its stdout (or, with
 * --passstderr, stderr) is still open: held by something it started, maybe
 * outside the group (setsid), where the kill schedule cannot reach. The
 * network thread gives stdout up (reading what is in it), later stderr
 * lines go to the log, and the session ends with the leader's status.
 */
static void
on_output_wait(evutil_socket_t fd, short what, void *arg)
{
	struct child	*c = arg;
	struct session	*s = c->s;

	(void)fd;
	(void)what;
	if (s == NULL)
		return;
	if (c->waiting & WAIT_STDERR) {
		log_debug("session=%llu stderr still open after the command "
		    "exited: no longer waited for",
		    (unsigned long long)c->session_id);
		c->waiting &= ~(unsigned)WAIT_STDERR;
	}
	if (!(c->waiting & WAIT_STDOUT)) {
		child_check_done(c);
		child_maybe_free(c);	/* c may be gone now */
		return;
	}
	log_debug("session=%llu stdout still open after the command exited: "
	    "closing it", (unsigned long long)c->session_id);
	session_lock(s);
	session_ask(s, ASK_DROP_STDOUT);
	session_unlock(s);
	session_wake_net(s);
}

/* --passstderr: stderr lines go to the client, as JSON, not to the log. */
static void
pass_stderr(struct child *c, bool eof)
{
	struct session	*s = c->s;
	size_t		 left = c->errlen;
	bool		 was_empty;

	session_lock(s);
	was_empty = evbuffer_get_length(s->to_peer) == 0;
	session_queue_lines(s, "stderr", c->errbuf, &left,
	    ERRLINE_MAX - 1, eof);
	was_empty = was_empty && evbuffer_get_length(s->to_peer) > 0;
	session_unlock(s);
	if (was_empty)
		session_wake_net(s);
	/* Consumed lines moved out; what stays is a partial line. */
	c->errlen = left;
}

/* Each stderr line goes to the log, tagged with its session. */
static void
on_stderr(evutil_socket_t fd, short what, void *arg)
{
	struct child	*c = arg;
	size_t		 off = 0, msglen, used;
	ssize_t		 n;
	bool		 eof;

	(void)what;
	/* Most children never write to stderr: no buffer until one does. */
	if (c->errbuf == NULL && (c->errbuf = malloc(ERRLINE_MAX)) == NULL) {
		log_error("session=%llu out of memory for stderr",
		    (unsigned long long)c->session_id);
		return;
	}
	n = read(fd, c->errbuf + c->errlen, ERRLINE_MAX - c->errlen);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	eof = n <= 0;
	c->errlen += n > 0 ? (size_t)n : 0;
	if (c->srv->cfg->passstderr && c->s != NULL)
		pass_stderr(c, eof);
	while (framing_next_line(c->errbuf + off, c->errlen - off,
	    ERRLINE_MAX - 1, eof, &msglen, &used)) {
		log_error("session=%llu stderr: %.*s",
		    (unsigned long long)c->session_id, (int)msglen,
		    c->errbuf + off);
		off += used;
	}
	memmove(c->errbuf, c->errbuf + off, c->errlen - off);
	c->errlen -= off;
	if (eof) {
		event_del(c->err_ev);
		close_fd(&c->err_fd);
		c->waiting &= ~(unsigned)WAIT_STDERR;
		child_check_done(c);
		child_maybe_free(c);	/* c may be gone now */
	}
}

/*
 * The main side lets go of the session, with the leader's status if it was
 * reaped (only a leader that would not die at exit is not).
 */
static void
child_end_session(struct child *c)
{
	struct session	*s = c->s;
	char		 reason[64];
	bool		 reaped;

	child_close_stdin(c, true);
	status_close_reason(c->wstatus, reason, sizeof reason);
	session_lock(s);
	reaped = !(c->waiting & WAIT_LEADER);
	s->wstatus = reaped ? c->wstatus : WSTATUS_NONE;
	/* A stopping server's 1001 wins over an exit its EOF provoked. */
	if (!session_is_gone(s) && !session_asked(s, ASK_STOP) && reaped)
		session_set_close(s, CLOSED_CHILD,
		    status_close_code(c->wstatus), reason);
	output_done(s);
	s->child = NULL;
	main_done(s);
	session_unlock(s);
	session_wake_net(s);
	c->s = NULL;
	session_unref(s);
}

/*
 * The leader is reaped and stdout reached EOF, and with --passstderr so
 * did stderr: stderr is output as much as stdout is. Every byte the child
 * wrote is queued, so the session can close with its status,
 * and the main side lets go of the session. The caller frees the child, if
 * it may, as its last act.
 */
static void
child_check_done(struct child *c)
{
	if ((c->waiting & (WAIT_LEADER | WAIT_STDOUT)) || c->s == NULL)
		return;
	if (c->waiting & WAIT_STDERR) {
		/* Bounded like stdout's wait: see on_output_wait. */
		if (!evtimer_pending(c->out_ev, NULL))
			arm_closems(c, c->out_ev);
		return;
	}
	event_del(c->out_ev);
	child_end_session(c);
	/* Anything the leader left in its group gets the schedule too. */
	if (group_alive(c))
		start_grace(c);
	else {
		event_del(c->kill_ev);
		c->stage = KILL_DONE;
	}
}

static void
child_maybe_free(struct child *c)
{
	if (c->s != NULL || c->err_fd >= 0 ||
	    c->stage != KILL_DONE || (c->waiting & WAIT_LEADER))
		return;
	children_remove(c->srv->children, c);
	if (c->holds_fork)
		c->srv->forks--;
	child_destroy(c);
}

/* What a child object holds; whatever fd is still open is closed. */
static void
child_destroy(struct child *c)
{
	if (c->err_ev != NULL)
		event_free(c->err_ev);
	event_free(c->kill_ev);
	event_free(c->out_ev);
	close_fd(&c->err_fd);
	free(c->errbuf);
	free(c);
}

/* A process ended, reaped here or by the spawner: ours, or no concern. */
void
children_exited(struct server *srv, pid_t pid, int st)
{
	struct child	*c;

	if ((c = children_find(srv->children, pid)) == NULL)
		return;
	c->waiting &= ~(unsigned)WAIT_LEADER;
	c->wstatus = st;
	log_debug("session=%llu pid %ld ended: status %d",
	    (unsigned long long)c->session_id, (long)pid, st);
	if (c->waiting & WAIT_STDOUT) {
		/* Something it started holds stdout: bound the wait. */
		start_grace(c);
		arm_closems(c, c->out_ev);
	}
	child_check_done(c);
	child_maybe_free(c);
}

/*
 * What the spawner reaped, then our own children: those spawned here,
 * the spawner's if it died before them (we are a subreaper), and, as PID 1
 * in a container, every orphan.
 */
void
children_reap(struct server *srv)
{
	pid_t	 pid;
	int	 st;

	spawner_poll(srv->spawner);
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
		children_exited(srv, pid, st);
}

static int
spawn_process(struct server *srv, struct session *s, int fds[3],
    const char *tty, pid_t *pid)
{
	const struct config	*cfg = srv->cfg;

	/* --dir picks the script per session; otherwise the one command. */
	if (s->script_path != NULL)
		return spawn_start(srv, s->script_path, s->script_argv,
		    s->envp, fds, tty, pid);
	return spawn_start(srv, cfg->command_path, cfg->command, s->envp,
	    fds, tty, pid);
}

static struct child *
child_new(struct server *srv, struct session *s, pid_t pid, int err)
{
	struct child	*c;

	if ((c = calloc(1, sizeof *c)) == NULL)
		return NULL;
	c->srv = srv;
	c->s = s;
	c->session_id = s->id;
	c->pid = pid;
	c->err_fd = err;
	c->waiting = WAIT_LEADER | WAIT_STDOUT;
	if (srv->cfg->passstderr && err >= 0)
		c->waiting |= WAIT_STDERR;
	/* --pty: no stderr pipe, the terminal has it all. */
	if (err >= 0)
		c->err_ev = event_new(srv->base, err, EV_READ | EV_PERSIST,
		    on_stderr, c);
	c->kill_ev = evtimer_new(srv->base, on_kill_timer, c);
	c->out_ev = evtimer_new(srv->base, on_output_wait, c);
	if ((err >= 0 && (c->err_ev == NULL ||
	    event_add(c->err_ev, NULL) == -1)) ||
	    c->kill_ev == NULL || c->out_ev == NULL) {
		if (c->err_ev) event_free(c->err_ev);
		if (c->kill_ev) event_free(c->kill_ev);
		if (c->out_ev) event_free(c->out_ev);
		free(c);
		return NULL;
	}
	return c;
}

/* A session that will not (or no longer) have a child frees its slot. */
static void
release_fork(struct server *srv, struct session *s)
{
	if (s->holds_fork) {
		s->holds_fork = false;
		srv->forks--;
	}
}

/* Ends a session whose child never ran: the client hears why. */
static void
spawn_failed(struct server *srv, struct session *s, const char *why)
{
	release_fork(srv, s);
	log_error("session=%llu cannot run command: %s",
	    (unsigned long long)s->id, why);
	session_lock(s);
	session_set_close(s, CLOSED_CHILD, 1011, "cannot run command");
	output_done(s);
	main_done(s);
	session_unlock(s);
	session_wake_net(s);
	session_unref(s);
}

/*
 * --pty: the three pipes give way to a terminal of the size the URL asked
 * for (spawn_pty). Returns its path for the spawn, or NULL with errno.
 */
static const char *
child_pty(struct session *s, int p[SPAWN_PIPE_FDS], int fds[3], char *tty,
    size_t len)
{
	struct ptysize	 ws;

	ptyctl_query_size(s->target, &ws);
	if (spawn_pty(p, ws.cols, ws.rows, tty, len) == -1)
		return NULL;
	fds[0] = fds[1] = fds[2] = p[PIPE_IN_CHILD];
	return tty;
}

static void
child_spawn(struct server *srv, struct session *s)
{
	struct child	*c;
	char		 ttybuf[64];
	const char	*tty = NULL;
	int		 p[SPAWN_PIPE_FDS], fds[3], error;
	pid_t		 pid;

	if (s->pipes[0] >= 0) {
		/* Made when the upgrade was accepted (listener.c). */
		memcpy(p, s->pipes, sizeof p);
		memset(s->pipes, -1, sizeof s->pipes);
	} else if (spawn_make_pipes(p) == -1) {
		spawn_failed(srv, s, strerror(errno));
		return;
	}
	if (srv->cfg->unbuffer && spawn_pty_stdout(p) == -1) {
		error = errno;
		spawn_close_pipes(p);
		spawn_failed(srv, s, strerror(error));
		return;
	}
	fds[0] = p[PIPE_IN_CHILD];
	fds[1] = p[PIPE_OUT_CHILD];
	fds[2] = p[PIPE_ERR_CHILD];
	if (srv->cfg->pty && (tty = child_pty(s, p, fds, ttybuf,
	    sizeof ttybuf)) == NULL) {
		error = errno;
		spawn_close_pipes(p);
		spawn_failed(srv, s, strerror(error));
		return;
	}
	error = spawn_process(srv, s, fds, tty, &pid);
	/* The child has its copy; ours would only weigh on an idle session. */
	env_free(s->envp);
	s->envp = NULL;
	close_fd(&p[PIPE_IN_CHILD]);
	close_fd(&p[PIPE_OUT_CHILD]);
	close_fd(&p[PIPE_ERR_CHILD]);
	if (error != 0) {
		spawn_close_pipes(p);
		spawn_failed(srv, s, strerror(error));
		return;
	}
	if ((c = child_new(srv, s, pid, p[PIPE_ERR_OURS])) == NULL) {
		/* It runs, but we cannot watch it: stop it now. */
		kill(-pid, SIGKILL);
		spawn_close_pipes(p);
		spawn_failed(srv, s, "out of memory");
		return;
	}
	children_add(srv->children, c);
	c->holds_fork = s->holds_fork;	/* the child holds the slot now */
	s->holds_fork = false;
	session_lock(s);
	main_running(s);
	s->pid = pid;
	s->child = c;
	s->stdin_fd = p[PIPE_IN_OURS];	/* the network thread writes it */
	s->stdout_fd = p[PIPE_OUT_OURS];	/* and reads this one */
	session_unlock(s);
	session_wake_net(s);
	log_info("session=%llu remote=%s path=%s pid=%ld started",
	    (unsigned long long)s->id, s->remote, s->target, (long)pid);
	child_service(srv, s);
}

/*
 * Before a child exists: every completed handshake spawns the command, even
 * if the client has already left again, so each session has an exit status
 * and the child learns how it ended (EOF or SIGHUP) like any other.
 */
static void
service_unspawned(struct server *srv, struct session *s)
{
	bool	 spawn, give_up;

	session_lock(s);
	spawn = session_is_upgraded(s) && !session_asked(s, ASK_STOP) &&
	    !srv->stopping;
	give_up = !spawn && (session_is_gone(s) || session_asked(s, ASK_STOP) ||
	    srv->stopping);
	if (give_up)
		main_done(s);
	session_unlock(s);
	if (spawn)
		child_spawn(srv, s);
	else if (give_up) {
		release_fork(srv, s);
		session_unref(s);
	}
}

/*
 * Called whenever the network side changed something: new input, the client
 * gone, room again in the queue to the client.
 */
void
child_service(struct server *srv, struct session *s)
{
	struct child	*c = s->child;
	bool		 gone, eof, abnormal, has_input, stdout_eof, stdin_closed;

	if (s->main_state == MAIN_DONE)
		return;
	if (c == NULL) {
		service_unspawned(srv, s);
		return;
	}
	session_lock(s);
	gone = session_is_gone(s);
	eof = input_ended(s);
	abnormal = gone && (s->closed_by == CLOSED_NETWORK ||
	    s->closed_by == CLOSED_PROTOCOL);
	has_input = s->from_peer_ready > 0;
	stdout_eof = s->output == OUTPUT_DRAINING || s->output == OUTPUT_DONE;
	stdin_closed = s->input == INPUT_CLOSED;
	session_unlock(s);
	if (abnormal && !c->hup_sent) {
		c->hup_sent = true;
		signal_group(c, SIGHUP);
	}
	if (stdin_closed && c->stdin_state != STDIN_CLOSED) {
		c->stdin_state = STDIN_CLOSED;
		child_stdin_closed(c);
	}
	/*
	 * The network writes stdin; once all is in, EOF is ours to ask. A
	 * terminal has no EOF but its hang-up (see net_service): a client's
	 * half-close leaves it up, and output and status still come.
	 */
	if (!has_input && eof && (gone || !srv->cfg->pty))
		child_close_stdin(c, gone);
	/*
	 * Queued input still goes in, but a child that will not read it must
	 * not outlive its client: the grace starts when the client leaves.
	 */
	if (gone)
		start_grace(c);
	if (stdout_eof && (c->waiting & WAIT_STDOUT)) {
		c->waiting &= ~(unsigned)WAIT_STDOUT;
		/* Nothing more can come: stdin too, then the schedule. */
		child_close_stdin(c, true);
		child_check_done(c);
		child_maybe_free(c);	/* c may be gone now */
	}
}

/* The server is stopping: every child gets EOF, then the schedule. */
void
children_shutdown(struct server *srv)
{
	struct child	*c;

	TAILQ_FOREACH(c, &srv->children->all, entry)
		child_close_stdin(c, true);
}

/* The stop took too long: nothing may outlive the server. */
void
children_kill_all(struct server *srv)
{
	struct child	*c;

	TAILQ_FOREACH(c, &srv->children->all, entry) {
		if (c->stage != KILL_DONE) {
			signal_group(c, SIGKILL);
			/* Its end needs no schedule: it goes once reaped. */
			event_del(c->kill_ev);
			c->stage = KILL_DONE;
		}
	}
}

static unsigned
children_unreaped(struct children *ch)
{
	struct child	*c;
	unsigned	 n = 0;

	TAILQ_FOREACH(c, &ch->all, entry)
		n += (c->waiting & WAIT_LEADER) != 0;
	return n;
}

/*
 * At exit, once the network thread is gone (it read what was left in each
 * stdout and closed it): every child still running is killed and, for a
 * bounded time, reaped, and every session still held here ends, so that its
 * ACCESS line has the status, SIGKILL if it had to be.
 */
void
children_finish(struct server *srv)
{
	struct timespec	 nap = { 0, FINISH_NAP_MS * 1000000L };
	struct child	*c;
	unsigned	 waited;

	TAILQ_FOREACH(c, &srv->children->all, entry) {
		/* No more comes, nor is waited for. */
		c->waiting &= ~(unsigned)(WAIT_STDOUT | WAIT_STDERR);
	}
	children_kill_all(srv);
	for (waited = 0;; waited += FINISH_NAP_MS) {
		children_reap(srv);	/* ends the sessions of those reaped */
		if (children_unreaped(srv->children) == 0 ||
		    waited >= FINISH_WAIT_MS)
			break;
		nanosleep(&nap, NULL);
	}
	TAILQ_FOREACH(c, &srv->children->all, entry) {
		if (c->s == NULL)
			continue;
		if (c->waiting & WAIT_LEADER)
			log_error("session=%llu pid %ld did not die: no status",
			    (unsigned long long)c->session_id, (long)c->pid);
		child_end_session(c);
	}
}
