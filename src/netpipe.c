/*
 * The network thread's side of the children's pipes: stdout read into
 * messages for the peer (net_read_stdout), the peer's messages queued for
 * stdin (net_take_input) and written to it (net_write_stdin). Both pipes of
 * a child are this thread's alone from the spawn on, in the epoll set
 * outpoll; main asks for stdin's EOF and hears when stdout ended.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "config.h"
#include "framing.h"
#include "log.h"
#include "netpriv.h"
#include "ptyctl.h"
#include "server.h"
#include "session.h"

static int	 net_read_stdout(struct net *, struct session *, int, bool);
static void	 net_write_stdin(struct net *, struct session *);
static void	 stdin_event(struct net *, struct session *, uint32_t);

/* Tells the main side that nothing more comes from the child's stdout. */
static void
net_stdout_ended(struct session *s)
{
	session_lock(s);
	output_stdout_ended(s);
	session_unlock(s);
	session_wake_main(s);
}

/*
 * One change to the epoll set outpoll for one of a session's fds; the
 * watch says which when an event comes. Logged with what it was for;
 * returns -1 if it failed.
 */
int
net_outpoll_ctl(struct net *n, struct session *s, int op, int fd,
    uint32_t events, struct net_watch *w)
{
	static const char *const kinds[] = { "stdout", "stdin", "socket" };
	struct epoll_event	 ev;

	memset(&ev, 0, sizeof ev);
	ev.events = events;
	ev.data.ptr = w;
	if (epoll_ctl(n->outpoll, op, fd, &ev) == 0)
		return 0;
	log_error("session=%llu epoll_ctl(%s, %s): %s",
	    (unsigned long long)s->id, kinds[w->kind],
	    op == EPOLL_CTL_ADD ? "add" : op == EPOLL_CTL_DEL ? "del" : "mod",
	    strerror(errno));
	return -1;
}

/* Asks the stdout set for input from this pipe, or for none (paused). */
static void
watch_stdout(struct net *n, struct session *s, bool readable)
{
	uint32_t	 want = readable ? EPOLLIN : 0;

	/* EPOLLHUP comes anyway. */
	if (net_outpoll_ctl(n, s, EPOLL_CTL_MOD, s->out_fd, want,
	    &s->out_watch) == 0)
		s->out_events = want;
}

/*
 * The child's stdout joins our epoll set. It holds a session reference of
 * its own: it may outlive the socket, reading (and dropping) output until
 * EOF, which is what ends the session for main.
 */
void
net_adopt_stdout(struct net *n, struct session *s, int fd)
{
	if (net_outpoll_ctl(n, s, EPOLL_CTL_ADD, fd, EPOLLIN,
	    &s->out_watch) == -1) {
		close(fd);
		net_stdout_ended(s);
		return;
	}
	session_ref(s);
	s->out_fd = fd;
	s->out_events = EPOLLIN;
	TAILQ_INSERT_TAIL(&n->readers, s, out_entry);
}

/* Reads stdout again once the queue to the client is below half. */
void
net_resume_stdout(struct net *n, struct session *s)
{
	bool	 resume;

	/* The pipe's watch tells, without the lock, whether it is paused. */
	if (s->out_fd < 0 || s->out_events == EPOLLIN)
		return;
	session_lock(s);
	resume = (session_is_gone(s) || session_output_has_room(s)) &&
	    output_resume(s);
	session_unlock(s);
	if (resume)
		watch_stdout(n, s, true);
}

/*
 * One read of the child's stdout: in line mode its complete lines become
 * messages, with --binary the read is one message. Returns 1 after data,
 * 0 when there is none now, -1 at EOF. While lws closes the pipe
 * (closing), "none now" is the end too, and a partial line goes out.
 */
static int
net_read_stdout(struct net *n, struct session *s, int fd, bool closing)
{
	const struct config	*cfg = n->srv->cfg;
	char			*data;
	size_t			 queued, room;
	ssize_t			 r;
	bool			 eof, pause;

	if (cfg->binary) {
		data = n->readbuf;
		room = sizeof n->readbuf;
	} else {
		if (s->out_linelen == s->out_linecap &&
		    framing_grow_line_buffer(&s->out_line, &s->out_linecap,
		    cfg->max_message) != 0) {
			log_error("session=%llu out of memory for a line",
			    (unsigned long long)s->id);
			closing = true;		/* what is buffered goes out */
			r = 0;
			goto queue;
		}
		data = s->out_line + s->out_linelen;
		room = s->out_linecap - s->out_linelen;
	}
	r = read(fd, data, room);
	if (r == -1 && (errno == EAGAIN || errno == EINTR) && !closing)
		return 0;
	/* EIO: --unbuffer's terminal has no holder left, its EOF. */
	if (r == -1 && errno != EAGAIN && errno != EINTR && errno != EIO)
		log_error("session=%llu read stdout: %s",
		    (unsigned long long)s->id, strerror(errno));
queue:
	eof = r <= 0;
	session_lock(s);
	if (!cfg->binary) {
		s->out_linelen += r > 0 ? (size_t)r : 0;
		session_queue_lines(s, cfg->passstderr ? "stdout" : NULL,
		    s->out_line, &s->out_linelen, cfg->max_message, eof);
	} else if (r > 0 && !session_is_gone(s))
		session_queue_record(s, RECORD_BINARY, data, (size_t)r);
	queued = evbuffer_get_length(s->to_peer);
	metrics_queue_level(&n->srv->metrics.to_client_hwm, queued);
	pause = !eof && !closing && !session_is_gone(s) &&
	    session_output_full(s) && output_pause(s);
	session_unlock(s);
	if (pause)
		watch_stdout(n, s, false);	/* the child blocks */
	/* At the stop every connection closes: nothing is sent any more. */
	if (queued > 0 && net_linked(s) && !atomic_load(&n->stop))
		net_send_now(n, s);
	return eof ? -1 : 1;
}

/*
 * The pipe leaves the set: at EOF, or when the loop stops (closing: what
 * is in the pipe still goes out, a pipe's worth at most if its writer is
 * gone). Main learns that stdout is done.
 */
void
net_close_stdout(struct net *n, struct session *s, bool drain)
{
	int	 i;

	for (i = 0; drain && i < DRAIN_READS; i++)
		if (net_read_stdout(n, s, s->out_fd, true) < 0)
			break;
	(void)net_outpoll_ctl(n, s, EPOLL_CTL_DEL, s->out_fd, 0,
	    &s->out_watch);
	close(s->out_fd);
	s->out_fd = -1;
	TAILQ_REMOVE(&n->readers, s, out_entry);
	net_stdout_ended(s);
	session_unref(s);
}

/*
 * The stdout set is readable: one read for each pipe that is ready. A
 * paused pipe is asked for no input, but its EPOLLHUP still comes: then
 * it is read anyway, since what its gone writer left is bounded.
 */
void
net_poll_stdouts(struct net *n)
{
	struct epoll_event	 ev[POLL_EVENTS];
	struct net_watch	*w;
	struct session		*s;
	int			 i, k;

	if ((k = epoll_wait(n->outpoll, ev, POLL_EVENTS, 0)) == -1) {
		if (errno != EINTR)
			log_error("epoll_wait(stdout): %s", strerror(errno));
		return;
	}
	for (i = 0; i < k; i++) {
		w = ev[i].data.ptr;
		s = w->s;
		switch (w->kind) {
		case WATCH_SOCKET:
			net_peer_hung_up(n, s);
			break;
		case WATCH_STDIN:
			/* Room, or EPOLLERR: the write says which. */
			if (s->in_fd >= 0)
				stdin_event(n, s, ev[i].events);
			break;
		case WATCH_STDOUT:
			if (net_read_stdout(n, s, s->out_fd, false) < 0)
				net_close_stdout(n, s, false);
			break;
		}
	}
}

/* At the stop: every pipe still watched is read out and closed. */
void
net_close_stdouts(struct net *n)
{
	struct session	*s;

	while ((s = TAILQ_FIRST(&n->readers)) != NULL)
		net_close_stdout(n, s, true);
}

/*
 * --pty: the terminal's window size; the kernel sends SIGWINCH to its
 * foreground process group. Our two fds are the same master, either will
 * do. Before the terminal reaches this thread the size waits for
 * net_adopt_stdin; after the hang-up there is no terminal to size.
 */
static void
net_pty_resize(struct session *s, const struct ptysize *size)
{
	struct winsize	 ws;
	int		 fd = s->in_fd >= 0 ? s->in_fd : s->out_fd;

	if (fd < 0) {
		s->winsz_cols = (unsigned short)size->cols;
		s->winsz_rows = (unsigned short)size->rows;
		return;
	}
	memset(&ws, 0, sizeof ws);
	ws.ws_col = (unsigned short)size->cols;
	ws.ws_row = (unsigned short)size->rows;
	if (ioctl(fd, TIOCSWINSZ, &ws) == -1)
		log_error("session=%llu resizing the terminal: %s",
		    (unsigned long long)s->id, strerror(errno));
	else
		log_debug("session=%llu terminal resized to %ux%u",
		    (unsigned long long)s->id, size->cols, size->rows);
}

/*
 * --pty with the wsbridge.pty subprotocol: a text message is a control
 * message (ptyctl.h), not keys. It is collected whole (a control message
 * is small: PTYCTL_MSG_MAX), then obeyed. Returns 0, or 1007 for a bad
 * one (*why says so), as net_take_input.
 */
static uint16_t
net_take_control(struct session *s, const void *in, size_t len, bool final,
    const char **why)
{
	struct ptysize	 size;
	size_t		 msglen;

	if (s->ctl_msg == NULL &&
	    (s->ctl_msg = malloc(PTYCTL_MSG_MAX)) == NULL) {
		*why = "out of memory";
		return 1011;
	}
	if (len > PTYCTL_MSG_MAX - s->ctl_len) {
		*why = "bad control message";
		return 1007;
	}
	memcpy(s->ctl_msg + s->ctl_len, in, len);
	s->ctl_len += len;
	if (!final)
		return 0;
	msglen = s->ctl_len;
	s->ctl_len = 0;
	if (ptyctl_parse(s->ctl_msg, msglen, &size) != 0) {
		*why = "bad control message";
		return 1007;
	}
	net_pty_resize(s, &size);
	return 0;
}

/*
 * A piece of a client message: queue it for stdin once it is whole.
 * Returns 0, or a close code for a message we refuse (*why says why).
 * While RX_DRAINING the peer has gone and what it sent is read to the
 * end, so nothing pauses. After the peer's EOF (a half-close) nothing is
 * queued any more, as after stdin closed: a client that says it is done
 * and sends on cannot grow the queue.
 */
uint16_t
net_take_input(struct net *n, struct session *s, const void *in, size_t len,
    bool final, bool text, const char **why)
{
	const struct config	*cfg = n->srv->cfg;
	bool			 bad_utf8, flush = false, pause = false;

	session_lock(s);
	if (s->in_message == IN_MESSAGE_NONE) {
		s->in_message = text ? IN_MESSAGE_TEXT : IN_MESSAGE_BINARY;
		s->in_bytes = 0;
		utf8_check_init(&s->in_utf8);
	}
	text = s->in_message == IN_MESSAGE_TEXT;
	s->in_bytes += len;
	bad_utf8 = text && (!utf8_check_feed(&s->in_utf8, in, len) ||
	    (final && !utf8_check_done(&s->in_utf8)));
	if (s->in_bytes > cfg->max_message || bad_utf8) {
		session_unlock(s);
		*why = bad_utf8 ? "invalid UTF-8 in text" : "message too big";
		return bad_utf8 ? 1007 : 1009;
	}
	if (s->pty_ctl && text) {
		if (final) {
			s->in_message = IN_MESSAGE_NONE;
			s->msgs_in++;
			s->bytes_in += s->in_bytes;
		}
		session_unlock(s);
		return net_take_control(s, in, len, final, why);
	}
	if (!input_ended(s)) {
		evbuffer_add(s->from_peer, in, len);
		if (final && !cfg->binary)
			evbuffer_add(s->from_peer, "\n", 1);
		/*
		 * Line mode hands over whole messages; binary, pieces of up to
		 * 64 KiB, so the child reads in large gulps rather than in the
		 * socket's receive pieces.
		 */
		if (final || (cfg->binary && evbuffer_get_length(s->from_peer) -
		    s->from_peer_ready >= BINARY_BATCH))
			s->from_peer_ready = evbuffer_get_length(s->from_peer);
		flush = s->from_peer_ready > 0;
		pause = session_input_full(s) && s->rx_state != RX_DRAINING &&
		    input_pause(s);
		metrics_queue_level(&n->srv->metrics.to_child_hwm,
		    evbuffer_get_length(s->from_peer));
	}
	if (final) {
		s->in_message = IN_MESSAGE_NONE;
		s->msgs_in++;
		s->bytes_in += s->in_bytes;
	}
	session_unlock(s);
	if (pause)
		net_hold_rx(n, s);
	if (flush && !s->on_flush) {
		session_ref(s);
		s->on_flush = true;
		TAILQ_INSERT_TAIL(&n->flush_q, s, flush_entry);
	}
	return 0;
}

/*
 * The child's stdin is this thread's alone, like its stdout: main hands
 * the pipe over at the spawn and asks for EOF (ASK_CLOSE_STDIN); only this
 * thread writes it or closes it. It sits in the stdout set with no events
 * asked for until a write finds the pipe full, then with EPOLLOUT until
 * it takes the rest. EPOLLERR (the child closed its end) comes anyway.
 */
static void
watch_stdin(struct net *n, struct session *s, bool writable)
{
	uint32_t	 want = writable ? EPOLLOUT : 0;

	if (s->in_events == want)
		return;
	if (net_outpoll_ctl(n, s, EPOLL_CTL_MOD, s->in_fd, want,
	    &s->in_watch) == 0)
		s->in_events = want;
}

/*
 * EOF on the child's stdin: what was queued for it is dropped, and a
 * socket held back for it is read again (its input is dropped too now).
 * Main learns it, and starts the kill schedule if it asked for one.
 */
void
net_close_stdin(struct net *n, struct session *s)
{
	bool	 resume;

	(void)net_outpoll_ctl(n, s, EPOLL_CTL_DEL, s->in_fd, 0, &s->in_watch);
	close(s->in_fd);
	s->in_fd = -1;
	s->in_events = 0;
	TAILQ_REMOVE(&n->writers, s, in_entry);
	session_lock(s);
	resume = input_close(s);
	evbuffer_drain(s->from_peer, evbuffer_get_length(s->from_peer));
	s->from_peer_ready = 0;
	session_unlock(s);
	if (resume)
		net_resume_rx(n, s);
	session_wake_main(s);
	session_unref(s);
}

/*
 * Writes what is ready for stdin: one writev for everything that arrived
 * in a round. A full pipe waits for EPOLLOUT, a broken one is closed.
 * Main is woken when the queue empties under a client that has finished
 * sending, since its EOF is main's to ask for.
 */
static void
net_write_stdin(struct net *n, struct session *s)
{
	bool	 broken, blocked, resume, wake_main;
	int	 r, error;

	session_lock(s);
	r = session_write_input(s, s->in_fd);
	error = errno;
	broken = r == -1;
	blocked = !broken && s->from_peer_ready > 0;
	resume = session_input_has_room(s) && input_resume(s);
	wake_main = r > 0 && s->from_peer_ready == 0 && input_ended(s);
	session_unlock(s);
	if (broken) {
		log_debug("session=%llu write stdin: %s",
		    (unsigned long long)s->id, strerror(error));
		net_close_stdin(n, s);
		return;
	}
	watch_stdin(n, s, blocked);
	if (resume)
		net_resume_rx(n, s);
	if (wake_main)
		session_wake_main(s);
}

/* Room in the pipe, or (EPOLLERR) no reader left: nothing can go in. */
static void
stdin_event(struct net *n, struct session *s, uint32_t events)
{
	if (events & (EPOLLERR | EPOLLHUP))
		net_close_stdin(n, s);
	else
		net_write_stdin(n, s);
}

/* The child's stdin joins the set, and what waited for it is written. */
void
net_adopt_stdin(struct net *n, struct session *s, int fd)
{
	if (net_outpoll_ctl(n, s, EPOLL_CTL_ADD, fd, 0, &s->in_watch) == -1) {
		close(fd);
		session_lock(s);
		input_close(s);
		session_unlock(s);
		session_wake_main(s);
		return;
	}
	session_ref(s);
	s->in_fd = fd;
	TAILQ_INSERT_TAIL(&n->writers, s, in_entry);
	if (s->winsz_cols != 0) {
		struct ptysize	 size = { s->winsz_cols, s->winsz_rows };

		s->winsz_cols = 0;
		net_pty_resize(s, &size);
	}
	net_write_stdin(n, s);
}

/*
 * Input that arrived in one round of the loop goes to the children at its
 * end: one writev per session per round however many messages came. A
 * client's input is written to our stdout by main (local.c).
 */
void
net_flush_stdin(struct net *n)
{
	struct session	*s;

	while ((s = TAILQ_FIRST(&n->flush_q)) != NULL) {
		TAILQ_REMOVE(&n->flush_q, s, flush_entry);
		s->on_flush = false;
		if (s->in_fd >= 0)
			net_write_stdin(n, s);
		else if (n->srv->cfg->connect_url != NULL)
			session_wake_main(s);
		/* Else no pipe yet: net_adopt_stdin writes it. */
		session_unref(s);
	}
}

/* At the stop: every child's stdin still open gets its EOF. */
void
net_close_stdins(struct net *n)
{
	struct session	*s;

	while ((s = TAILQ_FIRST(&n->writers)) != NULL)
		net_close_stdin(n, s);
}
