/*
 * The spawner: a process of a few fds that spawns and reaps the children.
 *
 * Spawning from the server costs more with every session open: the clone
 * copies the server's fd table (4 fds a session), exec then closes every
 * one of them in the child (close-on-exec), and each waitpid(-1) walks
 * every child. With 3,000 sessions open that made a spawn 3.5 times as
 * costly as with none. The spawner is forked before any session exists,
 * keeps only its socket to the server and a signalfd, and spawns for the
 * server: a request (spawnmsg.h) carries the program, its arguments and
 * environment, and the child's three fds as SCM_RIGHTS; the answer is the
 * pid. It reports every child it reaps (pid and wait status) on the same
 * socket, in order, so an exit never comes before its spawn's answer.
 *
 * The server waits for each answer (a spawn was synchronous before too),
 * keeping the exits that arrive meanwhile for its loop. If the spawner is
 * gone, the server spawns by itself again (spawn_direct): it is a
 * subreaper, so the children the spawner left are reparented to it and
 * reaped by its own SIGCHLD handler.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "monotime.h"
#include "spawner.h"
#include "spawnmsg.h"

#define SPAWNER_NAME	"wsbridge-spawn"	/* its name in ps -o comm */
#define SPAWNER_SOCK	3		/* its fds after the fork */
#define SPAWNER_SIGFD	4
#define ANSWER_MS	10000	/* for a spawn's answer, at most */
#define STOP_MS		1000	/* for the spawner to exit at the stop */
#define READY_MS	5000	/* for it to say it is ready */
#define SWEEP_MS	10	/* see struct reaper */

extern char **environ;

/* A message and the control data that carries a child's three fds. */
union fds_control {
	struct cmsghdr	 hdr;
	char		 space[CMSG_SPACE(3 * sizeof(int))];
};

struct exit_note {
	pid_t	 pid;
	int	 status;
};

struct spawner {
	int			 fd;		/* -1 once the spawner is gone */
	pid_t			 pid;
	struct event		*ev;
	spawner_exit_cb		*exited;
	void			*arg;
	struct exit_note	*notes;		/* read while waiting */
	size_t			 nnotes, capnotes;
	unsigned char		 buf[SPAWNMSG_MAX];
};

/*
 * The child's fds 0, 1 and 2. Without a terminal they are fds[0..2]. With
 * one (--pty) the child is a session leader (POSIX_SPAWN_SETSID, which
 * glibc applies before the file actions) and opens the terminal by its
 * path without O_NOCTTY: a session leader with no controlling terminal
 * that opens a terminal belonging to no session gets it as its controlling
 * terminal. That open is fd 0, dup'd to 1 and 2, as a login's getty does;
 * fds[] then only hold the terminal open until the child has it.
 */
static int
child_fds(posix_spawn_file_actions_t *fa, const int fds[3], const char *tty)
{
	int	 error;

	if (tty == NULL) {
		/* Our ends are close-on-exec; dup2 clears the flag on 0-2. */
		if ((error = posix_spawn_file_actions_adddup2(fa, fds[0],
		    0)) == 0 &&
		    (error = posix_spawn_file_actions_adddup2(fa, fds[1],
		    1)) == 0)
			error = posix_spawn_file_actions_adddup2(fa, fds[2], 2);
		return error;
	}
	if ((error = posix_spawn_file_actions_addopen(fa, 0, tty, O_RDWR,
	    0)) == 0 &&
	    (error = posix_spawn_file_actions_adddup2(fa, 0, 1)) == 0)
		error = posix_spawn_file_actions_adddup2(fa, 0, 2);
	return error;
}

/*
 * posix_spawn with the child in its own process group, every signal back
 * to its default and unblocked, and fds[0..2] as its 0, 1 and 2; or, with
 * tty, in a session of its own whose controlling terminal is tty (see
 * child_fds). A session leader leads its process group too, so the kill
 * schedule's kill(-pid) reaches it either way (setpgid would fail in a
 * session leader, hence one flag or the other). Our own fds are all
 * close-on-exec, so the child sees those three only.
 */
int
spawn_direct(const char *path, char *const argv[], char *const envp[],
    const int fds[3], const char *tty, pid_t *pid)
{
	posix_spawn_file_actions_t	 fa;
	posix_spawnattr_t		 attr;
	sigset_t			 all, none;
	short				 flags;
	int				 error;

	sigfillset(&all);
	sigemptyset(&none);
	flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
	flags |= tty != NULL ? POSIX_SPAWN_SETSID : POSIX_SPAWN_SETPGROUP;
	if ((error = posix_spawn_file_actions_init(&fa)) != 0)
		return error;
	if ((error = posix_spawnattr_init(&attr)) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return error;
	}
	if ((error = child_fds(&fa, fds, tty)) == 0 &&
	    (error = posix_spawnattr_setflags(&attr, flags)) == 0 &&
	    (error = posix_spawnattr_setpgroup(&attr, 0)) == 0 &&
	    (error = posix_spawnattr_setsigmask(&attr, &none)) == 0 &&
	    (error = posix_spawnattr_setsigdefault(&attr, &all)) == 0)
		error = posix_spawn(pid, path, &fa, &attr, argv,
		    envp != NULL ? envp : environ);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	return error;
}

/* ---- the spawner process ---------------------------------------------- */

/* A message from the spawner; it exits when the server is gone. */
static void
spawner_say(int type, pid_t pid, int value)
{
	struct spawnmsg	 m;

	memset(&m, 0, sizeof m);
	m.type = (uint32_t)type;
	m.pid = pid;
	m.value = value;
	while (send(SPAWNER_SOCK, &m, sizeof m, MSG_NOSIGNAL) == -1)
		if (errno != EINTR)
			_exit(0);
}

/*
 * Reaping. waitpid(-1) walks every child of ours on each call, and the
 * last call of a loop (the one that finds none) walks them all: with
 * thousands of sessions open that was a quarter of a spawn's cost. Each
 * SIGCHLD names the child that raised it (ssi_pid), and waitpid(pid) looks
 * at that one child only. But SIGCHLD is not queued: children that end
 * while one is pending go unnamed, so a full sweep follows, at most every
 * SWEEP_MS (the poll's timeout says when one is due): such a child's
 * status comes that much later, never lost.
 */
struct reaper {
	bool		 sweep_due;
	uint64_t	 last_sweep_ms;
};

static void
reap_named(void)
{
	struct signalfd_siginfo	 si;
	pid_t			 pid;
	int			 st;

	while (read(SPAWNER_SIGFD, &si, sizeof si) == (ssize_t)sizeof si) {
		if ((pid = waitpid((pid_t)si.ssi_pid, &st, WNOHANG)) > 0)
			spawner_say(SPAWNMSG_EXITED, pid, st);
	}
}

static void
reap_all(struct reaper *r)
{
	pid_t	 pid;
	int	 st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
		spawner_say(SPAWNMSG_EXITED, pid, st);
	r->sweep_due = false;
	r->last_sweep_ms = mono_ms();
}

/* The poll's timeout: when the next sweep is due, or never (-1). */
static int
reap_timeout(const struct reaper *r)
{
	uint64_t	 since = mono_ms() - r->last_sweep_ms;

	if (!r->sweep_due)
		return -1;
	return since >= SWEEP_MS ? 0 : (int)(SWEEP_MS - since);
}

static void
fds_message(struct msghdr *msg, struct iovec *iov, void *data, size_t len,
    union fds_control *ctl)
{
	iov->iov_base = data;
	iov->iov_len = len;
	memset(msg, 0, sizeof *msg);
	memset(ctl, 0, sizeof *ctl);
	msg->msg_iov = iov;
	msg->msg_iovlen = 1;
	msg->msg_control = ctl->space;
	msg->msg_controllen = sizeof ctl->space;
}

/* Serves one request. Returns -1 once the server has closed its end. */
static int
spawner_serve(unsigned char *buf)
{
	union fds_control	 ctl;
	struct cmsghdr		*cm;
	struct msghdr		 msg;
	struct iovec		 iov;
	struct spawnreq		 req;
	int			 fds[3] = { -1, -1, -1 }, nfds = 0, i, error;
	pid_t			 pid = -1;
	ssize_t			 n;

	fds_message(&msg, &iov, buf, SPAWNMSG_MAX, &ctl);
	if ((n = recvmsg(SPAWNER_SOCK, &msg, MSG_CMSG_CLOEXEC)) == -1)
		return errno == EINTR || errno == EAGAIN ? 0 : -1;
	if (n == 0)
		return -1;
	for (cm = CMSG_FIRSTHDR(&msg); cm != NULL; cm = CMSG_NXTHDR(&msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		for (i = 0; (size_t)i < (cm->cmsg_len - CMSG_LEN(0)) /
		    sizeof(int); i++) {
			int	 fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof fd);
			if (nfds < 3)
				fds[nfds++] = fd;
			else
				close(fd);
		}
	}
	error = EINVAL;
	if (nfds == 3 && !(msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) &&
	    spawnmsg_decode(buf, (size_t)n, &req) == 0) {
		error = spawn_direct(req.path, req.argv, req.envp, fds,
		    req.tty, &pid);
		spawnreq_free(&req);
	}
	for (i = 0; i < nfds; i++)
		close(fds[i]);
	spawner_say(SPAWNMSG_DONE, error == 0 ? pid : -1, error);
	return 0;
}

/*
 * The spawner's only fds: 0-2 as the server's, its socket and a signalfd
 * for SIGCHLD. It ignores the signals that stop the server: a Ctrl-C or a
 * systemd stop reaches the whole process group or cgroup, and the server
 * still needs the exit statuses while it stops. It goes when the server
 * closes the socket, or dies.
 */
static void __attribute__((noreturn))
spawner_main(int sock, pid_t server)
{
	static const int	 ignored[] = { SIGINT, SIGTERM, SIGHUP, SIGPIPE,
				     SIGQUIT, SIGUSR1, SIGUSR2 };
	static unsigned char	 buf[SPAWNMSG_MAX];
	struct reaper		 reaper = { false, 0 };
	struct pollfd		 pfd[2];
	sigset_t		 chld;
	size_t			 i;
	int			 sfd, sig;

	prctl(PR_SET_NAME, SPAWNER_NAME);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != server)
		_exit(0);
	for (sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);	/* libevent's handlers are not ours */
	for (i = 0; i < sizeof ignored / sizeof ignored[0]; i++)
		signal(ignored[i], SIG_IGN);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_SETMASK, &chld, NULL);
	if ((sfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC)) == -1 ||
	    dup2(sock, SPAWNER_SOCK) == -1 || dup2(sfd, SPAWNER_SIGFD) == -1 ||
	    fcntl(SPAWNER_SOCK, F_SETFD, FD_CLOEXEC) == -1 ||
	    fcntl(SPAWNER_SIGFD, F_SETFD, FD_CLOEXEC) == -1 ||
	    fcntl(SPAWNER_SIGFD, F_SETFL, O_NONBLOCK) == -1 ||
	    close_range(SPAWNER_SIGFD + 1, ~0U, 0) == -1) {
		log_error("spawner: cannot set up: %s", strerror(errno));
		_exit(1);
	}
	spawner_say(SPAWNMSG_DONE, getpid(), 0);	/* ready */
	pfd[0].fd = SPAWNER_SOCK;
	pfd[0].events = POLLIN;
	pfd[1].fd = SPAWNER_SIGFD;
	pfd[1].events = POLLIN;
	for (;;) {
		if (poll(pfd, 2, reap_timeout(&reaper)) == -1) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		if (pfd[1].revents != 0) {
			reap_named();
			reaper.sweep_due = true;
		}
		if (reaper.sweep_due && reap_timeout(&reaper) == 0)
			reap_all(&reaper);
		if (pfd[0].revents != 0 && spawner_serve(buf) != 0)
			break;
	}
	reap_named();
	reap_all(&reaper);
	_exit(0);
}

/* ---- the server's side ------------------------------------------------ */

static void	 on_spawner(evutil_socket_t, short, void *);

/* The spawner died or broke: the server spawns by itself from now on. */
static void
spawner_gone(struct spawner *sp, const char *why)
{
	if (sp->fd < 0)
		return;
	log_error("the spawner (pid %ld) %s: the server spawns its children "
	    "itself from now on", (long)sp->pid, why);
	/* Not watched yet when it fails to start (spawner_start). */
	if (sp->ev != NULL)
		event_free(sp->ev);
	sp->ev = NULL;
	close(sp->fd);
	sp->fd = -1;
}

/*
 * Its first message says it is set up (named, its fds closed). A signal
 * may come meanwhile (a stop right after start): the wait goes on, and
 * the loop handles the signal later.
 */
static bool
spawner_ready(struct spawner *sp)
{
	struct pollfd	 pfd;
	struct spawnmsg	 m;
	uint64_t	 until = mono_ms() + READY_MS, now;
	ssize_t		 n;
	int		 r;

	pfd.fd = sp->fd;
	pfd.events = POLLIN;
	do {
		now = mono_ms();
		r = now >= until ? 0 : poll(&pfd, 1, (int)(until - now));
	} while (r == -1 && errno == EINTR);
	if (r != 1)
		return false;
	do
		n = recv(sp->fd, &m, sizeof m, 0);
	while (n == -1 && errno == EINTR);
	return n == (ssize_t)sizeof m && m.type == SPAWNMSG_DONE &&
	    m.pid == sp->pid;
}

/*
 * Forks the spawner. Call it before any thread or session exists. NULL
 * (and a log line) when it cannot be had: the server then spawns itself.
 */
struct spawner *
spawner_start(struct event_base *base, spawner_exit_cb *exited, void *arg)
{
	struct spawner	*sp;
	int		 sv[2];
	pid_t		 server = getpid();

	/* The spawner's children come to us if it dies before them. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) == -1) {
		log_error("cannot become a subreaper (%s): no spawner",
		    strerror(errno));
		return NULL;
	}
	if ((sp = calloc(1, sizeof *sp)) == NULL) {
		log_error("no spawner: out of memory");
		return NULL;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		log_error("no spawner: socketpair: %s", strerror(errno));
		free(sp);
		return NULL;
	}
	sp->exited = exited;
	sp->arg = arg;
	if ((sp->pid = fork()) == -1) {
		log_error("no spawner: fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		free(sp);
		return NULL;
	}
	if (sp->pid == 0)
		spawner_main(sv[1], server);
	close(sv[1]);
	sp->fd = sv[0];
	if (!spawner_ready(sp)) {
		log_error("no spawner: it did not start");
		kill(sp->pid, SIGKILL);
		spawner_stop(sp);
		return NULL;
	}
	if (fcntl(sp->fd, F_SETFL, O_NONBLOCK) == -1 ||
	    (sp->ev = event_new(base, sp->fd, EV_READ | EV_PERSIST, on_spawner,
	    sp)) == NULL || event_add(sp->ev, NULL) == -1) {
		log_error("no spawner: cannot watch its socket");
		spawner_stop(sp);
		return NULL;
	}
	log_debug("spawner started: pid %ld", (long)sp->pid);
	return sp;
}

static int
keep_note(struct spawner *sp, pid_t pid, int status)
{
	struct exit_note	*n;
	size_t			 cap;

	if (sp->nnotes == sp->capnotes) {
		cap = sp->capnotes == 0 ? 16 : sp->capnotes * 2;
		if ((n = reallocarray(sp->notes, cap, sizeof *n)) == NULL)
			return -1;
		sp->notes = n;
		sp->capnotes = cap;
	}
	sp->notes[sp->nnotes].pid = pid;
	sp->notes[sp->nnotes].status = status;
	sp->nnotes++;
	return 0;
}

/* Exits read while a spawn was answered go out first, in their order. */
static void
deliver_notes(struct spawner *sp)
{
	struct exit_note	 n;

	while (sp->nnotes > 0) {
		n = sp->notes[0];
		memmove(sp->notes, sp->notes + 1,
		    --sp->nnotes * sizeof *sp->notes);
		sp->exited(sp->arg, n.pid, n.status);
	}
}

/*
 * One message from the spawner, if there is one: 1 after one, 0 when
 * there is none now, -1 when the spawner is gone.
 */
static int
read_message(struct spawner *sp, struct spawnmsg *m)
{
	ssize_t	 n;

	if ((n = recv(sp->fd, m, sizeof *m, 0)) == (ssize_t)sizeof *m)
		return 1;
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return 0;
	spawner_gone(sp, n == 0 ? "exited" : "sent a malformed message");
	return -1;
}

/* Reads the exits the spawner reported, without waiting. */
void
spawner_poll(struct spawner *sp)
{
	struct spawnmsg	 m;

	if (sp == NULL)
		return;
	deliver_notes(sp);
	while (sp->fd >= 0 && read_message(sp, &m) > 0) {
		if (m.type == SPAWNMSG_EXITED)
			sp->exited(sp->arg, m.pid, m.value);
		else
			log_error("spawner: unexpected message %u", m.type);
	}
}

static void
on_spawner(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	spawner_poll(arg);
}

static int
remaining_ms(const struct timespec *until)
{
	struct timespec	 now;
	long long	 ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (until->tv_sec - now.tv_sec) * 1000LL +
	    (until->tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : (int)ms;
}

/* Sends a request with the child's fds; -1 when it could not go. */
static int
send_request(struct spawner *sp, size_t len, const int fds[3],
    const struct timespec *until)
{
	union fds_control	 ctl;
	struct cmsghdr		*cm;
	struct msghdr		 msg;
	struct iovec		 iov;
	struct pollfd		 pfd;

	fds_message(&msg, &iov, sp->buf, len, &ctl);
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(3 * sizeof(int));
	memcpy(CMSG_DATA(cm), fds, 3 * sizeof(int));
	while (sendmsg(sp->fd, &msg, MSG_NOSIGNAL) == -1) {
		if (errno != EAGAIN && errno != EINTR) {
			spawner_gone(sp, "cannot be written to");
			return -1;
		}
		pfd.fd = sp->fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, remaining_ms(until)) == 0) {
			spawner_gone(sp, "does not read");
			return -1;
		}
	}
	return 0;
}

/*
 * Spawns through the spawner (see spawn_direct for what the child gets).
 * Returns 0 with *pid, an errno when the spawn failed, or -1 when the
 * spawner cannot take this request (none, gone, too large a request): the
 * caller then spawns by itself. Exits reported meanwhile are kept for the
 * loop, which is woken to deliver them.
 */
int
spawner_spawn(struct spawner *sp, const char *path, char *const argv[],
    char *const envp[], const int fds[3], const char *tty, pid_t *pid)
{
	struct timespec	 until;
	struct spawnmsg	 m;
	struct pollfd	 pfd;
	size_t		 len;
	int		 r, error = -1;

	if (sp == NULL || sp->fd < 0 || (len = spawnmsg_encode(sp->buf,
	    sizeof sp->buf, path, argv, envp, tty)) == 0)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += ANSWER_MS / 1000;
	if (send_request(sp, len, fds, &until) != 0)
		return -1;
	pfd.fd = sp->fd;
	pfd.events = POLLIN;
	while (error == -1) {
		if ((r = read_message(sp, &m)) < 0) {
			error = EIO;	/* it took the request, then broke */
			break;
		}
		if (r == 0) {
			if (poll(&pfd, 1, remaining_ms(&until)) == 0) {
				kill(sp->pid, SIGKILL);
				spawner_gone(sp, "did not answer");
				error = ETIMEDOUT;
			}
			continue;
		}
		if (m.type == SPAWNMSG_EXITED) {
			if (keep_note(sp, m.pid, m.value) != 0)
				log_error("spawner: out of memory for pid "
				    "%ld's exit", (long)m.pid);
		} else if (m.type == SPAWNMSG_DONE) {
			error = m.value;
			*pid = m.pid;
		} else
			log_error("spawner: unexpected message %u", m.type);
	}
	if (sp->nnotes > 0 && sp->ev != NULL)
		event_active(sp->ev, EV_READ, 1);
	return error;
}

/*
 * At the end, once every child is reaped: the spawner exits when its
 * socket closes. It is waited for (bounded), so nothing outlives us.
 */
void
spawner_stop(struct spawner *sp)
{
	struct timespec	 nap = { 0, 10 * 1000000L };
	int		 waited, st;

	if (sp == NULL)
		return;
	spawner_poll(sp);
	if (sp->ev != NULL)
		event_free(sp->ev);
	if (sp->fd >= 0)
		close(sp->fd);
	for (waited = 0; waitpid(sp->pid, &st, WNOHANG) == 0; waited += 10) {
		if (waited >= STOP_MS) {
			kill(sp->pid, SIGKILL);
			waitpid(sp->pid, &st, 0);
			break;
		}
		nanosleep(&nap, NULL);
	}
	free(sp->notes);
	free(sp);
}
