/*
 * The main thread's side of a session: the child process, its stdin and
 * stderr pipes and its kill schedule. Its stdout goes to the network thread
 * (net.c reads it), so output reaches the socket without a hop between the
 * threads; that thread reports its EOF in s->stdout_eof. A child object
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
#include "server.h"
#include "session.h"
#include "spawner.h"
#include "status.h"

#define PID_BUCKETS	1024
#define FINISH_WAIT_MS	2000	/* at exit, for SIGKILLed leaders to die */
#define FINISH_NAP_MS	10

#define ERRLINE_MAX	4096

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
	int			 in_fd, err_fd;
	struct event		*in_ev, *err_ev, *kill_ev;
	struct event		*out_ev;	/* output's wait after the leader */
	bool			 stdout_eof;	/* as the network side said */
	bool			 stderr_abandon; /* its session no longer waits */
	char			*errbuf;	/* ERRLINE_MAX, once used */
	size_t			 errlen;
	bool			 reaped;
	bool			 hup_sent;
	int			 wstatus;
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

static int
set_nonblocking(int fd)
{
	int	 flags;

	if ((flags = fcntl(fd, F_GETFL)) == -1)
		return -1;
	return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
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
arm_closems(struct child *c, struct event *ev)
{
	struct timeval	 tv;
	unsigned	 ms = c->srv->cfg->closems;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(ev, &tv);
}

/* Starts the kill schedule unless it already runs. */
static void
start_grace(struct child *c)
{
	if (c->stage == KILL_NONE && !evtimer_pending(c->kill_ev, NULL))
		arm_closems(c, c->kill_ev);
}

/*
 * EOF on the child's stdin: whatever was queued for it is dropped. The kill
 * schedule starts too, unless a half-closed client still waits for output.
 */
static void
child_close_stdin(struct child *c, bool schedule)
{
	struct session	*s = c->s;
	bool		 wake_net = false;

	if (c->in_fd < 0)
		return;
	event_del(c->in_ev);
	if (s != NULL) {
		session_lock(s);
		s->stdin_fd = -1;	/* before close: the network writes it */
		s->stdin_closed = true;
		evbuffer_drain(s->from_peer, evbuffer_get_length(s->from_peer));
		s->from_peer_ready = 0;
		wake_net = s->rx_paused;
		session_unlock(s);
		if (wake_net)
			session_wake_net(s);
	}
	close_fd(&c->in_fd);
	if (schedule)
		start_grace(c);
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
	if (c->reaped && !group_alive(c)) {
		c->stage = KILL_DONE;
		child_maybe_free(c);
		return;
	}
	if (c->stage == KILL_NONE) {
		if (s != NULL && c->stdout_eof && !c->reaped) {
			session_lock(s);
			if (!s->client_gone)
				session_set_close(s, CLOSED_CHILD, 1000,
				    "stdout closed");
			s->output_done = true;
			session_unlock(s);
			session_wake_net(s);
		}
		child_close_stdin(c, true);	/* what it did not read is dropped */
		signal_group(c, SIGTERM);
		c->stage = KILL_TERM;
		arm_closems(c, c->kill_ev);
		return;
	}
	signal_group(c, SIGKILL);
	c->stage = KILL_DONE;
	child_maybe_free(c);
}

/*
 * The leader is gone and --closems later its stdout is still open: held by
 * something it started, maybe outside the group (setsid), where the kill
 * schedule cannot reach. The network thread gives the pipe up (reading what
 * is in it), and the session ends with the leader's status.
 */
/*
 * With --passstderr, stderr is output as much as stdout is: the session
 * waits for its EOF too, so that every line reaches the client before the
 * close frame.
 */
static bool
child_stderr_pending(const struct child *c)
{
	return c->srv->cfg->passstderr && c->err_fd >= 0 && !c->stderr_abandon;
}

/*
 * The leader is gone but something it started holds stdout or (with
 * --passstderr) stderr open: after --closems the session stops waiting.
 * Later stderr lines go to the log.
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
	if (child_stderr_pending(c)) {
		log_debug("session=%llu stderr still open after the command "
		    "exited: no longer waited for",
		    (unsigned long long)c->session_id);
		c->stderr_abandon = true;
	}
	if (c->stdout_eof) {
		child_check_done(c);
		child_maybe_free(c);	/* c may be gone now */
		return;
	}
	log_debug("session=%llu stdout still open after the command exited: "
	    "closing it", (unsigned long long)c->session_id);
	session_lock(s);
	s->stdout_abandon = true;
	session_unlock(s);
	session_wake_net(s);
}

/* --passstderr: stderr lines go to the client, as JSON, not to the log. */
static size_t
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
	return 0;
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
		off = pass_stderr(c, eof);
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
		child_check_done(c);
		child_maybe_free(c);	/* c may be gone now */
	}
}

enum flush_result {
	FLUSH_IDLE,	/* everything ready was written */
	FLUSH_BLOCKED,	/* the pipe is full: wait for it */
	FLUSH_BROKEN,	/* the child closed its stdin */
};

/*
 * Writes what is ready for stdin at once; only a full pipe makes us wait
 * for EV_WRITE, so the common case costs one writev and no epoll_ctl.
 */
static enum flush_result
stdin_flush(struct child *c, struct session *s)
{
	size_t		 limit = c->srv->cfg->queue_limit;
	bool		 wake_net = false;
	int		 n, error = 0;
	enum flush_result r;

	session_lock(s);
	if ((n = session_write_input(s, c->in_fd)) == -1)
		error = errno;
	else if (n > 0)
		wake_net = s->rx_paused && s->from_peer_ready < limit / 2;
	r = error != 0 ? FLUSH_BROKEN : s->from_peer_ready == 0 ? FLUSH_IDLE :
	    FLUSH_BLOCKED;
	session_unlock(s);
	if (wake_net)
		session_wake_net(s);
	if (r == FLUSH_BROKEN)
		log_debug("session=%llu write stdin: %s",
		    (unsigned long long)c->session_id, strerror(error));
	return r;
}

static void
on_stdin_writable(evutil_socket_t fd, short what, void *arg)
{
	struct child	*c = arg;
	struct session	*s = c->s;

	(void)fd;
	(void)what;
	if (s == NULL) {
		child_close_stdin(c, true);
		return;
	}
	switch (stdin_flush(c, s)) {
	case FLUSH_BROKEN:
		/* EPIPE: the child closed its stdin; input has nowhere to go. */
		child_close_stdin(c, false);
		break;
	case FLUSH_IDLE:
		event_del(c->in_ev);
		child_service(c->srv, s);
		break;
	case FLUSH_BLOCKED:
		break;
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

	child_close_stdin(c, true);
	status_close_reason(c->wstatus, reason, sizeof reason);
	session_lock(s);
	s->exited = c->reaped;
	s->wstatus = c->wstatus;
	/* A stopping server's 1001 wins over an exit its EOF provoked. */
	if (!s->client_gone && !s->shutdown && c->reaped)
		session_set_close(s, CLOSED_CHILD,
		    status_close_code(c->wstatus), reason);
	s->output_done = true;
	s->child = NULL;
	s->main_done = true;
	session_unlock(s);
	session_wake_net(s);
	c->s = NULL;
	session_unref(s);
}

/*
 * The leader is reaped and stdout (and a passed stderr) reached EOF: every
 * byte the child wrote is queued, so the session can close with its status,
 * and the main side lets go of the session. The caller frees the child, if
 * it may, as its last act.
 */
static void
child_check_done(struct child *c)
{
	if (!c->reaped || !c->stdout_eof || c->s == NULL)
		return;
	if (child_stderr_pending(c)) {
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
	    c->stage != KILL_DONE || !c->reaped)
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
	event_free(c->in_ev);
	event_free(c->err_ev);
	event_free(c->kill_ev);
	event_free(c->out_ev);
	close_fd(&c->in_fd);
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
	c->reaped = true;
	c->wstatus = st;
	log_debug("session=%llu pid %ld ended: status %d",
	    (unsigned long long)c->session_id, (long)pid, st);
	if (!c->stdout_eof) {
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

/*
 * A child: through the spawner when there is one (its fd table is small, so
 * a spawn costs the same however many sessions are open), else from here.
 * See spawn_direct for what the child gets.
 */
int
child_spawn_fds(struct server *srv, const char *path, char *const argv[],
    char *const envp[], const int fds[3], pid_t *pid)
{
	int	 error;

	if ((error = spawner_spawn(srv->spawner, path, argv, envp, fds,
	    pid)) == -1)
		error = spawn_direct(path, argv, envp, fds, pid);
	return error;
}

static int
spawn_process(struct server *srv, struct session *s, int fds[3], pid_t *pid)
{
	const struct config	*cfg = srv->cfg;

	/* --dir picks the script per session; otherwise the one command. */
	if (s->script_path != NULL)
		return child_spawn_fds(srv, s->script_path, s->script_argv,
		    s->envp, fds, pid);
	return child_spawn_fds(srv, cfg->command_path, cfg->command, s->envp,
	    fds, pid);
}

/*
 * A close-on-exec pipe whose end p[ours] is ours and non-blocking; the
 * child gets the other end as an ordinary blocking pipe.
 */
int
child_pipe(int p[2], int ours)
{
	p[0] = p[1] = -1;
	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	return set_nonblocking(p[ours]);
}

void
child_pipe_close(int p[2])
{
	close_fd(&p[0]);
	close_fd(&p[1]);
}

static int
make_pipes(int in[2], int out[2], int err[2])
{
	in[0] = in[1] = out[0] = out[1] = err[0] = err[1] = -1;
	return child_pipe(in, 1) == -1 || child_pipe(out, 0) == -1 ||
	    child_pipe(err, 0) == -1 ? -1 : 0;
}

static void
close_pipes(int in[2], int out[2], int err[2])
{
	child_pipe_close(in);
	child_pipe_close(out);
	child_pipe_close(err);
}

/*
 * A child's three pipes, made before its upgrade is accepted: a server out
 * of file descriptors then answers 503, rather than 1011 after the
 * handshake. On failure nothing stays open and errno says why.
 */
int
child_make_pipes(int fds[CHILD_PIPE_FDS])
{
	int	 error;

	if (make_pipes(fds, fds + 2, fds + 4) == 0)
		return 0;
	error = errno;
	close_pipes(fds, fds + 2, fds + 4);
	errno = error;
	return -1;
}

void
child_close_pipes(int fds[CHILD_PIPE_FDS])
{
	close_pipes(fds, fds + 2, fds + 4);
}

static struct child *
child_new(struct server *srv, struct session *s, pid_t pid, int in, int err)
{
	struct child	*c;

	if ((c = calloc(1, sizeof *c)) == NULL)
		return NULL;
	c->srv = srv;
	c->s = s;
	c->session_id = s->id;
	c->pid = pid;
	c->in_fd = in;
	c->err_fd = err;
	c->in_ev = event_new(srv->base, in, EV_WRITE | EV_PERSIST,
	    on_stdin_writable, c);
	c->err_ev = event_new(srv->base, err, EV_READ | EV_PERSIST, on_stderr, c);
	c->kill_ev = evtimer_new(srv->base, on_kill_timer, c);
	c->out_ev = evtimer_new(srv->base, on_output_wait, c);
	if (c->in_ev == NULL || c->err_ev == NULL || c->kill_ev == NULL ||
	    c->out_ev == NULL || event_add(c->err_ev, NULL) == -1) {
		if (c->in_ev) event_free(c->in_ev);
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
	s->output_done = true;
	s->main_done = true;
	session_unlock(s);
	session_wake_net(s);
	session_unref(s);
}

static void
child_spawn(struct server *srv, struct session *s)
{
	struct child	*c;
	int		 in[2], out[2], err[2], fds[3], error;
	pid_t		 pid;

	if (s->pipes[0] >= 0) {
		/* Made when the upgrade was accepted (listener.c). */
		memcpy(in, s->pipes, sizeof in);
		memcpy(out, s->pipes + 2, sizeof out);
		memcpy(err, s->pipes + 4, sizeof err);
		memset(s->pipes, -1, sizeof s->pipes);
	} else if (make_pipes(in, out, err) == -1) {
		error = errno;
		close_pipes(in, out, err);
		spawn_failed(srv, s, strerror(error));
		return;
	}
	fds[0] = in[0];
	fds[1] = out[1];
	fds[2] = err[1];
	error = spawn_process(srv, s, fds, &pid);
	/* The child has its copy; ours would only weigh on an idle session. */
	env_free(s->envp);
	s->envp = NULL;
	close_fd(&in[0]);
	close_fd(&out[1]);
	close_fd(&err[1]);
	if (error != 0) {
		close_pipes(in, out, err);
		spawn_failed(srv, s, strerror(error));
		return;
	}
	if ((c = child_new(srv, s, pid, in[1], err[0])) == NULL) {
		/* It runs, but we cannot watch it: stop it now. */
		kill(-pid, SIGKILL);
		close_pipes(in, out, err);
		spawn_failed(srv, s, "out of memory");
		return;
	}
	children_add(srv->children, c);
	c->holds_fork = s->holds_fork;	/* the child holds the slot now */
	s->holds_fork = false;
	session_lock(s);
	s->spawned = true;
	s->pid = pid;
	s->child = c;
	s->stdin_fd = in[1];
	s->stdout_fd = out[0];		/* the network thread reads it */
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
	spawn = s->established && !s->shutdown && !srv->stopping;
	give_up = !spawn && (s->client_gone || s->shutdown || srv->stopping);
	if (give_up)
		s->main_done = true;
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
	bool		 gone, eof, abnormal, has_input, stdout_eof;

	if (s->main_done)
		return;
	if (c == NULL) {
		service_unspawned(srv, s);
		return;
	}
	session_lock(s);
	gone = s->client_gone;
	eof = gone || s->client_eof;
	abnormal = gone && (s->closed_by == CLOSED_NETWORK ||
	    s->closed_by == CLOSED_PROTOCOL);
	has_input = s->from_peer_ready > 0;
	stdout_eof = s->stdout_eof;
	session_unlock(s);
	if (abnormal && !c->hup_sent) {
		c->hup_sent = true;
		signal_group(c, SIGHUP);
	}
	if (c->in_fd >= 0 && has_input && !event_pending(c->in_ev, EV_WRITE,
	    NULL)) {
		switch (stdin_flush(c, s)) {
		case FLUSH_BROKEN:
			child_close_stdin(c, false);
			break;
		case FLUSH_BLOCKED:
			event_add(c->in_ev, NULL);
			break;
		case FLUSH_IDLE:
			has_input = false;
			break;
		}
	}
	if (c->in_fd >= 0 && !has_input && eof)
		child_close_stdin(c, gone);
	/*
	 * Queued input still goes in, but a child that will not read it must
	 * not outlive its client: the grace starts when the client leaves.
	 */
	if (gone)
		start_grace(c);
	if (stdout_eof && !c->stdout_eof) {
		c->stdout_eof = true;
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
		n += !c->reaped;
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
		c->stdout_eof = true;	/* no more comes, nor is waited for */
		c->stderr_abandon = true;
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
		if (!c->reaped)
			log_error("session=%llu pid %ld did not die: no status",
			    (unsigned long long)c->session_id, (long)c->pid);
		child_end_session(c);
	}
}
