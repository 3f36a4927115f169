/*
 * The main thread's side of a session: spawning its child, the child's
 * stderr, and the session's end once the child is done (children.c has
 * the table of children, reaping and the kill schedule). Its stdin and
 * stdout belong to the network thread (netpipe.c writes the one and reads
 * the other), so data goes between socket and pipe without a hop between
 * the threads; that thread reports stdout's EOF (OUTPUT_DRAINING), and
 * closes stdin when main asks (ASK_CLOSE_STDIN), reporting it
 * (INPUT_CLOSED).
 *
 * Life cycle: spawned when the handshake completes; the session ends for
 * the child once the leader is reaped and its stdout reached EOF, so every
 * byte it wrote is queued before the close frame.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "child.h"
#include "childpriv.h"
#include "config.h"
#include "env.h"
#include "framing.h"
#include "log.h"
#include "ptyctl.h"
#include "server.h"
#include "session.h"
#include "spawn.h"
#include "status.h"

#define ERRLINE_MAX	4096

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
void
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
void
child_check_done(struct child *c)
{
	if ((c->waiting & (WAIT_LEADER | WAIT_STDOUT)) || c->s == NULL)
		return;
	if (c->waiting & WAIT_STDERR) {
		/* Bounded like stdout's wait: see on_output_wait. */
		if (!evtimer_pending(c->out_ev, NULL))
			child_arm_closems(c, c->out_ev);
		return;
	}
	event_del(c->out_ev);
	child_end_session(c);
	/* Anything the leader left in its group gets the schedule too. */
	if (child_group_alive(c))
		child_start_grace(c);
	else {
		event_del(c->kill_ev);
		c->stage = KILL_DONE;
	}
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
	c->kill_ev = evtimer_new(srv->base, child_on_kill_timer, c);
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
		child_signal_group(c, SIGHUP);
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
		child_start_grace(c);
	if (stdout_eof && (c->waiting & WAIT_STDOUT)) {
		c->waiting &= ~(unsigned)WAIT_STDOUT;
		/* Nothing more can come: stdin too, then the schedule. */
		child_close_stdin(c, true);
		child_check_done(c);
		child_maybe_free(c);	/* c may be gone now */
	}
}
