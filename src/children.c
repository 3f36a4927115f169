/*
 * The children as a whole, on the main thread: the table that finds a
 * child by pid, reaping (children_reap, children_exited), each child's
 * kill schedule and the stop. The schedule starts once the child's stdin
 * is closed, so that EOF always comes before a signal: a grace of
 * --closems, SIGTERM to the group, another grace, SIGKILL. A child
 * object outlives its session while its process group lingers, so that
 * nothing it started escapes the schedule; it goes once stderr is drained
 * and the group is gone or has been sent SIGKILL.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/wait.h>
#include <time.h>

#include <event2/event.h>

#include "child.h"
#include "childpriv.h"
#include "config.h"
#include "log.h"
#include "server.h"
#include "session.h"
#include "spawner.h"
#include "status.h"

#define PID_BUCKETS	1024
#define FINISH_WAIT_MS	2000	/* at exit, for SIGKILLed leaders to die */
#define FINISH_NAP_MS	10
/*
 * How long SIGTERM waits for the network thread to close stdin, so that
 * EOF comes first. It answers at once; this only bounds a thread that
 * cannot (it never happened).
 */
#define STDIN_CLOSE_WAIT_MS 1000

struct children {
	struct child		*buckets[PID_BUCKETS];
	TAILQ_HEAD(, child)	 all;
	unsigned		 count;
};

static void	 child_destroy(struct child *);

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

void
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

/* Signals the whole group, so a shell script's own children hear it too. */
void
child_signal_group(struct child *c, int sig)
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

bool
child_group_alive(struct child *c)
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

void
child_arm_closems(struct child *c, struct event *ev)
{
	arm_ms(ev, c->srv->cfg->closems);
}

/* The first grace ran out: SIGTERM to the group, SIGKILL after the next. */
static void
child_send_term(struct child *c)
{
	child_signal_group(c, SIGTERM);
	c->stage = KILL_TERM;
	child_arm_closems(c, c->kill_ev);
}

/* Starts the kill schedule unless it already runs. */
void
child_start_grace(struct child *c)
{
	if (c->stage == KILL_NONE && !evtimer_pending(c->kill_ev, NULL))
		child_arm_closems(c, c->kill_ev);
}

/*
 * EOF on the child's stdin, which the network thread owns: we ask for it,
 * and whatever was queued for the child is dropped there. The kill
 * schedule, if asked for, starts once the pipe is closed (child_service),
 * so that the child always sees EOF before any signal of the schedule.
 */
void
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
void
child_stdin_closed(struct child *c)
{
	enum after_stdin	 after = c->after_stdin;

	c->after_stdin = AFTER_STDIN_NOTHING;
	if (after == AFTER_STDIN_GRACE)
		child_start_grace(c);
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
void
child_on_kill_timer(evutil_socket_t fd, short what, void *arg)
{
	struct child	*c = arg;
	struct session	*s = c->s;

	(void)fd;
	(void)what;
	if (!(c->waiting & WAIT_LEADER) && !child_group_alive(c)) {
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
	child_signal_group(c, SIGKILL);
	c->stage = KILL_DONE;
	child_maybe_free(c);
}

void
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
		child_start_grace(c);
		child_arm_closems(c, c->out_ev);
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
			child_signal_group(c, SIGKILL);
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
