/*
 * The network thread. A server's connections are peers (peer.c) on a
 * libevent loop of this thread's own (epoll: an event costs the same with
 * three sessions open or thousands), and the WebSocket protocol on them is
 * ours. A client's one connection is lws's, on lws's own loop, since lws
 * speaks the protocol and TLS there. Either way the main thread hands
 * sockets and session work over through the hub and wakes this thread
 * (net_wake), and this thread alone touches a connection.
 *
 * It also reads each child's stdout and writes its stdin: data goes
 * between pipe and socket on one thread, with no wake-up of the main thread
 * in between, and each pipe has one owner. The pipes sit in an epoll set
 * of our own (outpoll), whose one fd is in the loop: one event for every
 * pipe, and the same code for both loops.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/sock_diag.h>

#include <zlib.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <libwebsockets.h>

#include "config.h"
#include "framing.h"
#include "http.h"
#include "log.h"
#include "monotime.h"
#include "net.h"
#include "peer.h"
#include "server.h"
#include "session.h"

#define SEND_CHUNK	65536	/* largest frame written in one go */
#define WRITE_BURST	32	/* frames per writable callback, at most */
#define FRAME_HEADER	16	/* room kept for a frame's header */
#define FRAME_MIN	512	/* smallest piece worth a frame */
/* lws 4.1 still frames a close for lws_write(), but no longer names it. */
#define WRITE_CLOSE	((enum lws_write_protocol)4)
#define BINARY_BATCH	65536	/* binary input handed over in pieces this big */
#define READ_CHUNK	65536	/* --binary: one read of stdout, one message */
#define DRAIN_READS	32	/* a full pipe (1 MiB at most) and its EOF */
#define POLL_EVENTS	64	/* stdout pipes served per epoll_wait */
/*
 * lws 4.1 sizes its fd tables from RLIMIT_NOFILE and walks the whole
 * table each time it closes a connection (measured here: 14% of the
 * server's CPU per session at 20000 fds, 1.4% at 2048). Docker's default
 * of 1048576 would make that milliseconds per session, so the limit is
 * held to this: 4 fds a session, over 16000 sessions.
 */
#define LWS_FD_CAP	65536
#define PROTOCOL_DEFAULT	"wsbridge"
#define CLOSE_ACK_SECS		5	/* for the client's answer to our close */
#define CLOSE_ACK_STOP_SECS	1	/* the same while the server stops */
#define REFUSE_LINGER_SECS	1	/* after refusing a client, and our FIN */
#define DEFLATE_LEVEL		6	/* zlib's default: a sane trade-off */
#define ZCHUNK			65536	/* zlib's output, in steps this big */
/*
 * lws allocates this per connection: small keeps idle sessions light, and
 * larger messages simply arrive in more pieces. --binary is for bulk data,
 * where fewer, larger pieces pay for the memory.
 */
#define RX_BUFFER	4096
#define RX_BUFFER_BULK	65536
/*
 * lws hands send() at most this much of one write (else the receive
 * buffer's size) and keeps the rest back: a whole batch must fit.
 */
#define TX_PACKET	(SEND_CHUNK + FRAME_HEADER)

struct net {
	struct server		*srv;
	/* A server's loop: see net_start_loop. */
	struct event_base	*base;
	struct event		*wake_ev;	/* the main thread's nudge */
	struct event		*outpoll_ev;	/* the stdout set is readable */
	struct peers		 peers;
	unsigned char		 sockbuf[RX_BUFFER_BULK];
	/* A client's: lws's own. */
	struct lws_context	*ctx;
	struct lws_vhost	*vh;
	pthread_t		 thread;
	atomic_bool		 stop;
	lws_retry_bo_t		 idle_policy;
	bool			 batch;		/* we frame, see net_write_batch */
	TAILQ_HEAD(, session)	 flush_q;	/* input for stdin, this round */
	int			 outpoll;	/* epoll set of the stdout pipes */
	bool			 outpoll_lws;	/* a client's: lws closes it */
	TAILQ_HEAD(, session)	 readers;	/* sessions with a pipe in it */
	TAILQ_HEAD(, session)	 writers;	/* those with a stdin in it */
	struct lws_protocols	 protocols[2];	/* ours, the terminator */
	unsigned char		 sendbuf[LWS_PRE + SEND_CHUNK + FRAME_HEADER];
	char			 readbuf[READ_CHUNK];
	unsigned char		 rxbuf[RX_BUFFER_BULK];	/* backlog replay */
	unsigned char		 zbuf[ZCHUNK];
	z_stream		*zdef[16];	/* by window bits, see deflate_record */
};

static void	 net_send_now(struct net *, struct session *);
static int	 net_send_queued(struct net *, struct session *, bool);
static int	 net_server_writable(struct net *, struct session *);
static void	 net_resume_stdout(struct net *, struct session *);
static void	 net_close_stdout(struct net *, struct session *, bool);
static void	 net_adopt_stdin(struct net *, struct session *, int);
static void	 net_close_stdin(struct net *, struct session *);
static void	 stdin_event(struct net *, struct session *, uint32_t);
static void	 net_peer_hung_up(struct net *, struct session *);
static void	 watch_hangup(struct net *, struct session *, bool);
static void	 net_hold_rx(struct net *, struct session *);
static void	 net_deadline(struct net *, struct session *, unsigned);

/*
 * A session's connection is a peer of ours (a server's) or an lws wsi (a
 * client's): these few say the same thing to either.
 */
static bool
net_linked(const struct session *s)
{
	return s->peer != NULL || s->wsi != NULL;
}

/* The writable callback runs once the socket has room. */
static void
net_want_write(struct session *s)
{
	if (s->peer != NULL)
		peer_want_write(s->peer);
	else if (s->wsi != NULL)
		lws_callback_on_writable(s->wsi);
}

/* Drops the connection right after the current callback. */
static void
net_kill(struct session *s)
{
	if (s->peer != NULL)
		peer_kill(s->peer);
	else if (s->wsi != NULL)
		lws_set_timeout(s->wsi, PENDING_TIMEOUT_CLOSE_SEND,
		    LWS_TO_KILL_ASYNC);
}

/* Reads the socket, or leaves what comes in the kernel's buffer. */
static void
net_read_socket(struct session *s, bool on)
{
	if (s->peer != NULL)
		peer_read(s->peer, on);
	else if (s->wsi != NULL)
		lws_rx_flow_control(s->wsi, on ? 1 : 0);
}

/* The connection could not be set up; the session ends before it began. */
static void
net_adopt_failed(struct session *s)
{
	log_error("session=%llu cannot watch the connection: out of memory",
	    (unsigned long long)s->id);
	session_lock(s);
	s->client_gone = true;
	session_unlock(s);
	session_wake_main(s);
	session_unref(s);
}

static void	 net_server_adopt(struct net *, struct session *, int);
static void	 net_release_rx(struct net *, struct session *);

/* Reads the socket again, now that the queue to the child has room. */
static void
net_resume_rx(struct net *n, struct session *s)
{
	if (!net_linked(s))
		return;
	if (n->srv->cfg->connect_url != NULL) {
		s->rx_held = false;
		net_read_socket(s, true);
	} else
		net_release_rx(n, s);
}

/* Tells the main side that nothing more comes from the child's stdout. */
static void
net_stdout_ended(struct session *s)
{
	session_lock(s);
	s->stdout_eof = true;
	session_unlock(s);
	session_wake_main(s);
}

/* Asks the stdout set for input from this pipe, or for none (paused). */
static void
watch_stdout(struct net *n, struct session *s, bool readable)
{
	struct epoll_event	 ev;

	memset(&ev, 0, sizeof ev);
	ev.events = readable ? EPOLLIN : 0;	/* EPOLLHUP comes anyway */
	ev.data.ptr = &s->out_watch;
	if (epoll_ctl(n->outpoll, EPOLL_CTL_MOD, s->out_fd, &ev) == -1)
		log_error("session=%llu epoll_ctl(stdout): %s",
		    (unsigned long long)s->id, strerror(errno));
}

/*
 * The child's stdout joins our epoll set. It holds a session reference of
 * its own: it may outlive the socket, reading (and dropping) output until
 * EOF, which is what ends the session for main.
 */
static void
net_adopt_stdout(struct net *n, struct session *s, int fd)
{
	struct epoll_event	 ev;

	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN;
	ev.data.ptr = &s->out_watch;
	if (epoll_ctl(n->outpoll, EPOLL_CTL_ADD, fd, &ev) == -1) {
		log_error("session=%llu cannot watch the child's stdout: %s",
		    (unsigned long long)s->id, strerror(errno));
		close(fd);
		net_stdout_ended(s);
		return;
	}
	session_ref(s);
	s->out_fd = fd;
	TAILQ_INSERT_TAIL(&n->readers, s, out_entry);
}

/* Reads stdout again once the queue to the client is below half. */
static void
net_resume_stdout(struct net *n, struct session *s)
{
	bool	 resume;

	if (!s->out_paused || s->out_fd < 0)
		return;
	session_lock(s);
	resume = s->client_gone || session_output_has_room(s);
	session_unlock(s);
	if (resume) {
		s->out_paused = false;
		watch_stdout(n, s, true);
	}
}

/* Work the main side asked for: output to send, room for input, a stop. */
static void
net_service(struct net *n, struct session *s)
{
	bool	 writable, abandon, give_up, stopping, close_in, resume = false;
	int	 out_fd, in_fd;

	if (s->fd >= 0) {
		out_fd = s->fd;
		s->fd = -1;
		net_server_adopt(n, s, out_fd);
		return;
	}
	session_lock(s);
	out_fd = s->stdout_fd;
	s->stdout_fd = -1;
	in_fd = s->stdin_fd;
	s->stdin_fd = -1;
	close_in = s->stdin_close_req;
	give_up = s->stdout_abandon;
	session_unlock(s);
	if (out_fd >= 0)
		net_adopt_stdout(n, s, out_fd);
	if (in_fd >= 0)
		net_adopt_stdin(n, s, in_fd);
	if (close_in && s->in_fd >= 0)
		net_close_stdin(n, s);
	/* The leader is gone and main waited long enough for stdout's EOF. */
	if (give_up && s->out_fd >= 0)
		net_close_stdout(n, s, true);
	if (!net_linked(s))
		return;
	session_lock(s);
	abandon = s->shutdown && !s->established;
	stopping = s->shutdown;
	writable = s->established && (s->shutdown || s->output_done ||
	    evbuffer_get_length(s->to_peer) > 0);
	if (s->rx_paused && (s->stdin_closed || session_input_has_room(s))) {
		s->rx_paused = false;
		resume = true;
	}
	session_unlock(s);
	if (abandon) {
		/* Still in its handshake: drop it, nothing was promised. */
		net_kill(s);
		return;
	}
	if (resume)
		net_resume_rx(n, s);
	if (stopping && !s->close_sent && !s->stop_seen) {
		/*
		 * A client that reads nothing leaves no room for our 1001:
		 * the stop must not wait on it longer than on an answer.
		 */
		s->stop_seen = true;
		net_deadline(n, s, 2 * CLOSE_ACK_STOP_SECS);
	}
	if (writable)
		net_want_write(s);
}

static void
net_drain(struct net *n)
{
	struct session	*s;

	while ((s = hub_next_net(n->srv->hub)) != NULL) {
		net_service(n, s);
		session_unref(s);
	}
}

/*
 * lws_close_reason() takes the reason as a non-const buffer, though it only
 * copies it into the close frame (at most 123 bytes: a close payload is 125
 * with the code). Copying it here rather than casting const away keeps a
 * const string const.
 */
static void
close_reason(struct lws *wsi, uint16_t code, const char *why)
{
	unsigned char	 buf[123];
	size_t		 n = strlen(why);

	if (n > sizeof buf)
		n = sizeof buf;
	memcpy(buf, why, n);
	lws_close_reason(wsi, (enum lws_close_status)code, buf, n);
}

static int
protocol_error(struct session *s, struct lws *wsi, uint16_t code,
    const char *why)
{
	session_lock(s);
	session_set_close(s, CLOSED_PROTOCOL, code, why);
	session_unlock(s);
	log_debug("session=%llu protocol error: %s",
	    (unsigned long long)s->id, why);
	close_reason(wsi, code, why);
	s->closing = true;	/* lws sends the close: nothing may follow */
	return -1;
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
	if (r == -1 && errno != EAGAIN && errno != EINTR)
		log_error("session=%llu read stdout: %s",
		    (unsigned long long)s->id, strerror(errno));
queue:
	eof = r <= 0;
	session_lock(s);
	if (!cfg->binary) {
		s->out_linelen += r > 0 ? (size_t)r : 0;
		session_queue_lines(s, cfg->passstderr ? "stdout" : NULL,
		    s->out_line, &s->out_linelen, cfg->max_message, eof);
	} else if (r > 0 && !s->client_gone)
		session_queue_record(s, RECORD_BINARY, data, (size_t)r);
	queued = evbuffer_get_length(s->to_peer);
	metrics_queue_level(&n->srv->metrics.to_client_hwm, queued);
	pause = !eof && !closing && !s->client_gone && !s->out_paused &&
	    session_output_full(s);
	session_unlock(s);
	if (pause) {
		s->out_paused = true;
		watch_stdout(n, s, false);	/* the child blocks */
	}
	/* At the stop every connection closes: nothing is sent any more. */
	if (queued > 0 && net_linked(s) && !atomic_load(&n->stop))
		net_send_now(n, s);
	return eof ? -1 : 1;
}

/*
 * Output goes out as soon as it is read rather than after one more round
 * of lws's loop: a server that frames its own messages writes whole frames
 * (net_write_batch). It waits for the writable callback instead with lws's
 * framing (a client), in a close, and while part of an earlier send still
 * waits for room: the new frames could only queue up behind it.
 */
static void
net_send_now(struct net *n, struct session *s)
{
	if (!n->batch || s->closing || s->close_sent || s->close_due ||
	    peer_unsent(s->peer)) {
		net_want_write(s);
		return;
	}
	if (net_send_queued(n, s, false) < 0)
		net_kill(s);
	net_resume_stdout(n, s);
}

/*
 * The pipe leaves the set: at EOF, or when the loop stops (closing: what
 * is in the pipe still goes out, a pipe's worth at most if its writer is
 * gone). Main learns that stdout is done.
 */
static void
net_close_stdout(struct net *n, struct session *s, bool drain)
{
	int	 i;

	for (i = 0; drain && i < DRAIN_READS; i++)
		if (net_read_stdout(n, s, s->out_fd, true) < 0)
			break;
	if (epoll_ctl(n->outpoll, EPOLL_CTL_DEL, s->out_fd, NULL) == -1)
		log_error("session=%llu epoll_ctl(stdout, DEL): %s",
		    (unsigned long long)s->id, strerror(errno));
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
static void
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
static void
net_close_stdouts(struct net *n)
{
	struct session	*s;

	while ((s = TAILQ_FIRST(&n->readers)) != NULL)
		net_close_stdout(n, s, true);
}

/*
 * A piece of a client message: queue it for stdin once it is whole.
 * Returns 0, or a close code for a message we refuse (*why says why).
 * While rx_drain is set the peer has gone and what it sent is read to
 * the end, so nothing pauses.
 */
static uint16_t
net_take_input(struct net *n, struct session *s, const void *in, size_t len,
    bool final, bool text, const char **why)
{
	const struct config	*cfg = n->srv->cfg;
	bool			 bad_utf8, flush = false, pause = false;

	session_lock(s);
	if (!s->in_active) {
		s->in_active = true;
		s->in_text = text;
		s->in_bytes = 0;
		utf8_check_init(&s->in_utf8);
	}
	s->in_bytes += len;
	bad_utf8 = s->in_text && (!utf8_check_feed(&s->in_utf8, in, len) ||
	    (final && !utf8_check_done(&s->in_utf8)));
	if (s->in_bytes > cfg->max_message || bad_utf8) {
		session_unlock(s);
		*why = bad_utf8 ? "invalid UTF-8 in text" : "message too big";
		return bad_utf8 ? 1007 : 1009;
	}
	if (!s->stdin_closed) {
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
		if (session_input_full(s) && !s->rx_paused && !s->rx_drain)
			pause = s->rx_paused = true;
		metrics_queue_level(&n->srv->metrics.to_child_hwm,
		    evbuffer_get_length(s->from_peer));
	}
	if (final) {
		s->in_active = false;
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

/* Client mode: lws parsed the frame; a piece of a server's message. */
static int
net_receive(struct net *n, struct session *s, struct lws *wsi,
    const void *in, size_t len)
{
	const char	*why;
	uint16_t	 code;
	bool		 final;

	if (s->close_sent)
		return 0;	/* we said goodbye: read to the peer's close */
	final = lws_is_final_fragment(wsi) &&
	    lws_remaining_packet_payload(wsi) == 0;
	code = net_take_input(n, s, in, len, final, !s->in_active ?
	    !lws_frame_is_binary(wsi) : s->in_text, &why);
	return code != 0 ? protocol_error(s, wsi, code, why) : 0;
}

/*
 * The child's stdin is this thread's alone, like its stdout: main hands
 * the pipe over at the spawn and asks for EOF (stdin_close_req); only this
 * thread writes it or closes it. It sits in the stdout set with no events
 * asked for until a write finds the pipe full, then with EPOLLOUT until
 * it takes the rest. EPOLLERR (the child closed its end) comes anyway.
 */
static void
watch_stdin(struct net *n, struct session *s, bool writable)
{
	struct epoll_event	 ev;

	if (s->in_blocked == writable)
		return;
	memset(&ev, 0, sizeof ev);
	ev.events = writable ? EPOLLOUT : 0;
	ev.data.ptr = &s->in_watch;
	if (epoll_ctl(n->outpoll, EPOLL_CTL_MOD, s->in_fd, &ev) == -1) {
		log_error("session=%llu epoll_ctl(stdin): %s",
		    (unsigned long long)s->id, strerror(errno));
		return;
	}
	s->in_blocked = writable;
}

/*
 * EOF on the child's stdin: what was queued for it is dropped, and a
 * socket held back for it is read again (its input is dropped too now).
 * Main learns it, and starts the kill schedule if it asked for one.
 */
static void
net_close_stdin(struct net *n, struct session *s)
{
	bool	 resume;

	if (epoll_ctl(n->outpoll, EPOLL_CTL_DEL, s->in_fd, NULL) == -1)
		log_error("session=%llu epoll_ctl(stdin, DEL): %s",
		    (unsigned long long)s->id, strerror(errno));
	close(s->in_fd);
	s->in_fd = -1;
	s->in_blocked = false;
	TAILQ_REMOVE(&n->writers, s, in_entry);
	session_lock(s);
	s->stdin_closed = true;
	evbuffer_drain(s->from_peer, evbuffer_get_length(s->from_peer));
	s->from_peer_ready = 0;
	resume = s->rx_paused;
	s->rx_paused = false;
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
	resume = s->rx_paused && session_input_has_room(s);
	if (resume)
		s->rx_paused = false;
	wake_main = r > 0 && s->from_peer_ready == 0 &&
	    (s->client_eof || s->client_gone);
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
static void
net_adopt_stdin(struct net *n, struct session *s, int fd)
{
	struct epoll_event	 ev;

	memset(&ev, 0, sizeof ev);
	ev.data.ptr = &s->in_watch;
	if (epoll_ctl(n->outpoll, EPOLL_CTL_ADD, fd, &ev) == -1) {
		log_error("session=%llu cannot watch the child's stdin: %s",
		    (unsigned long long)s->id, strerror(errno));
		close(fd);
		session_lock(s);
		s->stdin_closed = true;
		session_unlock(s);
		session_wake_main(s);
		return;
	}
	session_ref(s);
	s->in_fd = fd;
	TAILQ_INSERT_TAIL(&n->writers, s, in_entry);
	net_write_stdin(n, s);
}

/*
 * Input that arrived in one round of the loop goes to the children at its
 * end: one writev per session per round however many messages came. A
 * client's input is written to our stdout by main (local.c).
 */
static void
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
static void
net_close_stdins(struct net *n)
{
	struct session	*s;

	while ((s = TAILQ_FIRST(&n->writers)) != NULL)
		net_close_stdin(n, s);
}

/*
 * How much the socket takes now without a remainder kept back (by peer.c
 * for a server, by lws for a client). Output waits in the session's
 * bounded queue, not in an unsent tail that grows. And lws 4.1 drops a
 * client's connection, unannounced, when a close frame arrives while it
 * holds part of a frame (ops-ws.c, "Closing on peer close due to Pending
 * tx"). So frames are cut to fit.
 *
 * The kernel stops a send() when the memory the socket's buffers take
 * (skb overhead included: TCP cuts its queue into many small skbs for a
 * peer with a small window) reaches SO_SNDBUF, so that is what is asked
 * (SO_MEMINFO: TCP counts it in wmem_queued, a unix socket, as lws gets
 * with --ssl or --unixsocket, in wmem_alloc), and only a third of what is
 * free is used, for the overhead of what we add: a peer reading 1 KiB at
 * a time made a half too much (send() took part of a batch). Returns 0
 * when less than FRAME_MIN would fit.
 */
static size_t
socket_room(int fd)
{
	uint32_t	 mem[SK_MEMINFO_VARS];
	socklen_t	 len = sizeof mem;
	size_t		 used, room;

	memset(mem, 0, sizeof mem);
	if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mem, &len) == -1)
		return FRAME_MIN;
	used = mem[SK_MEMINFO_WMEM_QUEUED] > mem[SK_MEMINFO_WMEM_ALLOC] ?
	    mem[SK_MEMINFO_WMEM_QUEUED] : mem[SK_MEMINFO_WMEM_ALLOC];
	room = used < mem[SK_MEMINFO_SNDBUF] ?
	    (mem[SK_MEMINFO_SNDBUF] - used) / 3 : 0;
	if (room < FRAME_MIN + FRAME_HEADER)
		return 0;
	room -= FRAME_HEADER;
	return room < SEND_CHUNK ? room : SEND_CHUNK;
}

/*
 * Our close frame, written by hand: lws_close_reason() and a -1 would make
 * lws 4.1 close the socket right after it, with the peer's unread bytes
 * still in it, and the kernel would answer with a reset that can destroy
 * the last of what we sent. So we send the frame, read and drop whatever
 * still arrives, and close when the peer's close comes back (or after 5 s).
 */
static int
net_send_close(struct session *s, struct lws *wsi, uint16_t code,
    const char *reason)
{
	unsigned char	 buf[LWS_PRE + 2 + CLOSE_REASON_MAX];
	size_t		 rlen = strlen(reason);
	bool		 resume;

	if (rlen > CLOSE_REASON_MAX)
		rlen = CLOSE_REASON_MAX;
	buf[LWS_PRE] = (unsigned char)(code >> 8);
	buf[LWS_PRE + 1] = (unsigned char)code;
	memcpy(buf + LWS_PRE + 2, reason, rlen);
	if (lws_write(wsi, buf + LWS_PRE, 2 + rlen, WRITE_CLOSE) < 0)
		return -1;
	s->close_sent = true;
	session_lock(s);
	resume = s->rx_paused;
	s->rx_paused = false;
	session_unlock(s);
	if (resume)
		lws_rx_flow_control(wsi, 1);
	lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_ACK, 5);
	return 1;
}

/*
 * Whether a record is being sent: the one under way, or the next queued
 * one, whose header is then taken off the queue. Under the session lock.
 */
static bool
next_record(struct session *s)
{
	unsigned char	 hdr[RECORD_HDR];
	uint32_t	 reclen;
	int		 opcode;

	if (s->out_active || evbuffer_get_length(s->to_peer) < RECORD_HDR)
		return s->out_active;
	evbuffer_remove(s->to_peer, hdr, sizeof hdr);
	framing_get_record(hdr, &opcode, &reclen);
	s->out_opcode = opcode;
	s->out_left = reclen;
	s->out_first = true;
	s->out_active = true;
	return true;
}

/*
 * Sends one frame of the current record, or the close frame once the child
 * is done and everything it wrote has gone out. Returns -1 to close, 1 if
 * there was nothing to send, 0 after a frame (*more: another is waiting).
 */
static int
net_write_one(struct net *n, struct session *s, struct lws *wsi, bool *more_out)
{
	size_t		 room = socket_room(lws_get_socket_fd(wsi));
	size_t		 len = 0;
	int		 flags = 0;
	bool		 send = false, more = false, wake_main = false;
	bool		 close_now = false, eof = false;
	bool		 client = n->srv->cfg->connect_url != NULL;
	uint16_t	 code = 0;
	char		 reason[CLOSE_REASON_MAX + 1];

	if (s->close_sent)
		return 1;	/* only the peer's answer is awaited now */
	if (room == 0)
		room = FRAME_MIN;	/* lws said writable: some will go */
	session_lock(s);
	if (s->shutdown) {
		session_set_final_close(s, CLOSED_SERVER, 1001, client ?
		    "going away" : "server shutting down");
		close_now = true;
		code = 1001;
	} else {
		if (next_record(s)) {
			len = s->out_left < room ? s->out_left : room;
			evbuffer_remove(s->to_peer, n->sendbuf + LWS_PRE, len);
			s->out_left -= (uint32_t)len;
			flags = lws_write_ws_flags(s->out_opcode == RECORD_TEXT ?
			    LWS_WRITE_TEXT : LWS_WRITE_BINARY, s->out_first,
			    s->out_left == 0);
			s->out_first = false;
			s->out_active = s->out_left > 0;
			send = true;
			more = s->out_active ||
			    evbuffer_get_length(s->to_peer) > 0 ||
			    s->output_done;
			wake_main = s->local_paused &&
			    session_output_has_room(s);
		} else if (s->output_done && client && s->half_close) {
			/* Our input ended; the remote's close ends the rest. */
			eof = !s->eof_sent;
			s->eof_sent = true;
		} else if (s->output_done)
			close_now = true;
	}
	if (close_now && code == 0) {
		code = s->close_code != 0 ? s->close_code : 1000;
		memcpy(reason, s->close_reason, sizeof reason);
	} else if (close_now)
		snprintf(reason, sizeof reason, "%s", client ? "going away" :
		    "server shutting down");
	session_unlock(s);
	if (wake_main)
		session_wake_main(s);
	*more_out = more;
	if (send) {
		if (lws_write(wsi, n->sendbuf + LWS_PRE, len,
		    (enum lws_write_protocol)flags) < (int)len)
			return -1;
		return 0;
	}
	if (eof) {
		memcpy(n->sendbuf + LWS_PRE, HALF_CLOSE_EOF,
		    strlen(HALF_CLOSE_EOF));
		if (lws_write(wsi, n->sendbuf + LWS_PRE, strlen(HALF_CLOSE_EOF),
		    LWS_WRITE_PONG) < (int)strlen(HALF_CLOSE_EOF))
			return -1;
	}
	if (close_now)
		return net_send_close(s, wsi, code, reason);
	return eof ? 0 : 1;
}

/*
 * permessage-deflate, sending: the record about to go (out_left bytes at
 * the head of to_peer) is compressed whole into out_z, with a stream per
 * window size shared by every session of this thread and reset for each
 * message (we promised server_no_context_takeover): no session keeps
 * zlib state while it is idle. Under the session lock.
 */
static int
deflate_record(struct net *n, struct session *s)
{
	struct evbuffer_iovec	 v[8];
	z_stream		*z;
	int			 bits = s->pmd.server_bits, i, k, r, flush;
	size_t			 left = s->out_left, len;

	if ((z = n->zdef[bits]) == NULL) {
		if ((z = calloc(1, sizeof *z)) == NULL)
			return -1;
		if (deflateInit2(z, DEFLATE_LEVEL, Z_DEFLATED, -bits, 8,
		    Z_DEFAULT_STRATEGY) != Z_OK) {
			free(z);
			return -1;
		}
		n->zdef[bits] = z;
	}
	if (s->out_z == NULL && (s->out_z = evbuffer_new()) == NULL)
		return -1;
	deflateReset(z);
	do {
		k = evbuffer_peek(s->to_peer, (ev_ssize_t)left, NULL, v, 8);
		k = k > 8 ? 8 : k;
		for (i = 0; i < k || (i == 0 && k == 0); i++) {
			len = k == 0 ? 0 : v[i].iov_len < left ?
			    v[i].iov_len : left;
			z->next_in = k == 0 ? NULL : v[i].iov_base;
			z->avail_in = (uInt)len;
			left -= len;
			flush = left == 0 ? Z_SYNC_FLUSH : Z_NO_FLUSH;
			do {
				z->next_out = n->zbuf;
				z->avail_out = sizeof n->zbuf;
				r = deflate(z, flush);
				if (r == Z_STREAM_ERROR)
					return -1;
				evbuffer_add(s->out_z, n->zbuf,
				    sizeof n->zbuf - z->avail_out);
			} while (z->avail_out == 0);
			if (left == 0)
				break;
		}
		evbuffer_drain(s->to_peer, s->out_left - left);
		s->out_left = (uint32_t)left;
	} while (left > 0);
	/* RFC 7692 7.2.1: the 00 00 ff ff of the sync flush is not sent. */
	len = evbuffer_get_length(s->out_z);
	s->out_left = (uint32_t)(len >= 4 ? len - 4 : len);
	s->out_rsv1 = true;
	return 0;
}

/*
 * Frames what is queued into buf, headers and all, up to room bytes, and
 * says whether anything is left. Pieces of a record shorter than FRAME_MIN
 * are not cut off behind other frames: they wait for the next send.
 */
static size_t
fill_frames(struct net *n, struct session *s, unsigned char *buf,
    size_t room, bool *more, bool *wake_main)
{
	struct evbuffer	*from;
	size_t		 used = 0, len, avail, hl;

	session_lock(s);
	while (used + FRAME_HDR_MAX < room && next_record(s)) {
		if (s->deflate && s->out_first && !s->out_rsv1 &&
		    deflate_record(n, s) != 0) {
			/* Out of memory: the record goes out as it is. */
			log_error("session=%llu cannot compress a message",
			    (unsigned long long)s->id);
		}
		avail = room - used - FRAME_HDR_MAX;
		len = s->out_left < avail ? s->out_left : avail;
		if (len < s->out_left && len < FRAME_MIN && used > 0)
			break;
		hl = framing_frame_header(buf + used,
		    s->out_first ? s->out_opcode : 0, len == s->out_left, len);
		if (s->out_first && s->out_rsv1)
			buf[used] |= 0x40;	/* RSV1: compressed */
		used += hl;
		from = s->out_rsv1 ? s->out_z : s->to_peer;
		evbuffer_remove(from, buf + used, len);
		used += len;
		s->out_left -= (uint32_t)len;
		s->out_first = false;
		s->out_active = s->out_left > 0;
		if (!s->out_active && s->out_rsv1) {
			/* What is left is the 00 00 ff ff we do not send. */
			evbuffer_drain(s->out_z, evbuffer_get_length(s->out_z));
			s->out_rsv1 = false;
		}
	}
	*more = s->out_active || evbuffer_get_length(s->to_peer) > 0 ||
	    s->output_done;
	*wake_main = used > 0 && s->local_paused &&
	    session_output_has_room(s);
	session_unlock(s);
	return used;
}

/*
 * A server frames its messages itself (compressed, with deflate) and sends
 * a burst of them with one send(): lws would make a send() per frame, and
 * small messages would cost a system call each. Returns -1 to close, 1 when
 * nothing was queued (the close is then net_server_writable's), else 0.
 * In lws's writable callback the kernel has said there is room, so some
 * output goes even when socket_room() sees little; outside it, none does.
 */
static int
net_write_batch(struct net *n, struct session *s, bool in_callback)
{
	unsigned char	*buf = n->sendbuf + LWS_PRE;
	size_t		 used, room;
	bool		 more, wake_main, stop;
	int		 i;

	if (s->close_sent)
		return 1;
	session_lock(s);
	stop = s->shutdown;
	session_unlock(s);
	if (stop)
		return 1;
	/* Bulk output: more batches while the socket has real room. */
	for (i = 0; i < WRITE_BURST; i++) {
		if ((room = socket_room(peer_fd(s->peer))) == 0) {
			if (i > 0 || !in_callback)
				break;
			room = FRAME_MIN;
		}
		used = fill_frames(n, s, buf, room + FRAME_HEADER, &more,
		    &wake_main);
		if (wake_main)
			session_wake_main(s);
		if (used == 0)
			return 1;	/* drained: a close may be due */
		if (peer_send(s->peer, buf, used) != 0)
			return -1;
		if (!more)
			return 0;
		/* send() took part of it (socket_room guesses): peer.c holds
		 * the rest, and sends it before our next writable callback. */
		if (peer_unsent(s->peer))
			break;
	}
	peer_want_write(s->peer);
	return 0;
}

/*
 * Several frames per writable callback while the socket takes them whole:
 * a burst of small messages then costs one trip through lws's poll loop,
 * not one each.
 */
static int
net_send_queued(struct net *n, struct session *s, bool in_callback)
{
	struct lws	*wsi = s->wsi;
	bool		 more = false;
	int		 i, r;

	if (n->batch) {
		/* Nothing queued: a close may be due, which is the
		 * writable callback's (net_server_writable). */
		if ((r = net_write_batch(n, s, in_callback)) == 1)
			peer_want_write(s->peer);
		return r < 0 ? -1 : 0;
	}
	for (i = 0; i < WRITE_BURST; i++) {
		if ((r = net_write_one(n, s, wsi, &more)) != 0)
			return r < 0 ? -1 : 0;
		if (!more)
			return 0;
		if (lws_partial_buffered(wsi) || lws_send_pipe_choked(wsi))
			break;
	}
	lws_callback_on_writable(wsi);
	return 0;
}

/* LWS_CALLBACK_CLIENT_WRITEABLE. */
static int
net_client_writable(struct net *n, struct session *s)
{
	int	 r;

	if (s->closing)
		return 0;	/* lws answers or sends the close itself */
	r = net_send_queued(n, s, true);

	net_resume_stdout(n, s);
	return r;
}

/*
 * The client's close frame: kept for the log, or refused as a protocol
 * error when its code or reason is malformed (lws would echo it as is).
 */
static int
net_peer_close(struct session *s, struct lws *wsi, const unsigned char *in,
    size_t len)
{
	char		 reason[CLOSE_REASON_MAX + 1];
	uint16_t	 code = 1005;	/* "no status received" */
	size_t		 rlen = 0;

	if (s->close_sent)
		return -1;	/* the answer to ours: nothing to echo */
	if (len == 1)
		return protocol_error(s, wsi, 1002, "close frame of one byte");
	if (len >= 2) {
		code = (uint16_t)(in[0] << 8 | in[1]);
		if (!ws_close_code_valid(code))
			return protocol_error(s, wsi, 1002,
			    "invalid close code");
		if (!utf8_valid(in + 2, len - 2))
			return protocol_error(s, wsi, 1007,
			    "close reason not UTF-8");
		rlen = len - 2 < CLOSE_REASON_MAX ? len - 2 : CLOSE_REASON_MAX;
		memcpy(reason, in + 2, rlen);
	}
	reason[rlen] = '\0';
	session_lock(s);
	session_set_final_close(s, CLOSED_CLIENT, code, reason);
	session_unlock(s);
	s->closing = true;	/* lws echoes it: nothing may follow */
	return 0;
}

/*
 * An unsolicited pong carrying this payload is a wsbridge client's EOF: its
 * stdin ended, but it still wants the answer and the exit status. Any other
 * server ignores such a pong, as RFC 6455 5.5.3 allows.
 */
static void
net_pong(struct session *s, const void *in, size_t len)
{
	if (!s->half_close || len != strlen(HALF_CLOSE_EOF) ||
	    memcmp(in, HALF_CLOSE_EOF, len) != 0)
		return;
	session_lock(s);
	s->client_eof = true;
	session_unlock(s);
	session_wake_main(s);
}

/* One "Name: value" line of --header or --header-ws, for lws to send. */
static int
add_header_line(struct lws *wsi, const char *line, unsigned char **p,
    unsigned char *end)
{
	char		 name[128];
	const char	*v;
	size_t		 nlen = strcspn(line, ":");

	if (nlen + 2 > sizeof name)
		return -1;
	snprintf(name, sizeof name, "%.*s:", (int)nlen, line);
	for (v = line + nlen + 1; *v == ' ' || *v == '\t'; v++)
		;
	return lws_add_http_header_by_name(wsi, (unsigned char *)name,
	    (const unsigned char *)v, (int)strlen(v), p, end);
}


/*
 * lws hangs up a peer silent past the idle policy without saying so; a
 * silence at least that long is how we tell it from a dropped connection.
 */
static bool
net_ping_timed_out(struct net *n, struct session *s)
{
	return n->idle_policy.secs_since_valid_hangup > 0 &&
	    mono_sec() - s->last_rx >= n->idle_policy.secs_since_valid_hangup;
}

/* The socket is gone: tell the main side, once. */
static void
net_gone(struct net *n, struct session *s)
{
	bool	 was_gone, ping = s->ping_timed_out ||
	    (s->wsi != NULL && net_ping_timed_out(n, s));

	if (s->peer != NULL)
		watch_hangup(n, s, false);	/* before the fd is closed */
	session_lock(s);
	was_gone = s->client_gone;
	if (s->established && s->stop_seen && !s->close_sent)
		session_set_final_close(s, CLOSED_SERVER, 1006,
		    "server stopped; no room for its close");
	else if (s->established)
		session_set_final_close(s, CLOSED_NETWORK, 1006, ping ?
		    "ping timeout" : "connection lost");
	else if (n->srv->cfg->connect_url != NULL)
		session_set_close(s, CLOSED_NETWORK, 1006,
		    "no WebSocket handshake from the server");
	s->client_gone = true;
	session_unlock(s);
	s->wsi = NULL;
	s->peer = NULL;
	net_resume_stdout(n, s);	/* read on, to drop, until EOF */
	if (!was_gone)
		session_wake_main(s);
}

/* Client: --header lines, and the request for half-close. */
static int
net_client_headers(struct net *n, struct lws *wsi, unsigned char **p,
    size_t len)
{
	const struct config	*cfg = n->srv->cfg;
	unsigned char		*end = *p + len;
	size_t			 i;

	for (i = 0; i < cfg->nheaders; i++) {
		if (add_header_line(wsi, cfg->headers[i], p, end) != 0)
			return -1;
	}
	if (cfg->origin != NULL && lws_add_http_header_by_name(wsi,
	    (const unsigned char *)"Origin:", (const unsigned char *)cfg->origin,
	    (int)strlen(cfg->origin), p, end) != 0)
		return -1;
	return lws_add_http_header_by_name(wsi,
	    (const unsigned char *)HALF_CLOSE_HEADER ":",
	    (const unsigned char *)"1", 1, p, end) != 0 ? -1 : 0;
}

/* The response headers are still there just before the upgrade completes. */
static void
net_client_check_response(struct session *s, struct lws *wsi)
{
	char	 v[8];
	int	 n;

	/* lws keeps unknown response headers by lower-case name. */
	n = lws_hdr_custom_copy(wsi, v, sizeof v, "wsbridge-half-close:",
	    (int)strlen("wsbridge-half-close:"));
	s->half_close = n > 0 && strcmp(v, "1") == 0;
	log_debug("session=%llu half-close %s", (unsigned long long)s->id,
	    s->half_close ? "agreed" : "not offered by the server");
}

/* The handshake is done, either way round: the main side may spawn. */
static void
net_established(struct session *s)
{
	s->last_rx = mono_sec();
	session_lock(s);
	s->established = true;
	session_unlock(s);
	session_wake_main(s);
}

static void
net_client_failed(struct session *s, const char *why)
{
	char	 reason[CLOSE_REASON_MAX + 1];

	snprintf(reason, sizeof reason, "cannot connect: %s",
	    why != NULL ? why : "unknown error");
	session_lock(s);
	session_set_close(s, CLOSED_NETWORK, 1006, reason);
	s->client_gone = true;
	session_unlock(s);
	s->wsi = NULL;
	session_wake_main(s);
}

/*
 * The server's side of RFC 6455. Each upgraded socket is a peer (peer.c)
 * on this thread's libevent loop; the handshake's answer (upgrade.c), the
 * frames the client sends (parsed by wsframe.c), permessage-deflate (zlib),
 * pings and the close handshake are ours. lws 4.1's own receive path
 * accepted unmasked frames, closed on oversized control frames without a
 * close frame, waited for the payload of a frame announcing more than we
 * take, and its deflate extension aborted the process with several clients
 * at once; its loop polled every socket at each wake-up.
 */

/*
 * A paused socket is not read, so a peer that leaves behind data we are
 * holding back would go unnoticed: EPOLLRDHUP (FIN) and EPOLLHUP/EPOLLERR
 * (reset) still come through the stdout set while the loop does not read.
 */
static void
watch_hangup(struct net *n, struct session *s, bool on)
{
	struct epoll_event	 ev;

	if (s->hup_watched == on || s->peer == NULL)
		return;
	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLRDHUP;
	ev.data.ptr = &s->hup_watch;
	if (epoll_ctl(n->outpoll, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL,
	    peer_fd(s->peer), &ev) == -1) {
		log_error("session=%llu epoll_ctl(socket): %s",
		    (unsigned long long)s->id, strerror(errno));
		return;
	}
	s->hup_watched = on;
}

/* Input is held back: read no more from the socket until there is room. */
static void
net_hold_rx(struct net *n, struct session *s)
{
	if (!net_linked(s))
		return;
	s->rx_held = true;
	net_read_socket(s, false);
	watch_hangup(n, s, true);	/* a server's only */
}

/* Frames a control message into the send buffer and writes it. */
static int
net_send_control(struct net *n, struct session *s, int opcode,
    const void *payload, size_t len)
{
	unsigned char	*buf = n->sendbuf + LWS_PRE;
	size_t		 hl;

	hl = framing_frame_header(buf, opcode, true, len);
	if (len > 0)
		memcpy(buf + hl, payload, len);
	return peer_send(s->peer, buf, hl + len);
}

/*
 * A close frame from us. Answering the client's close, the connection ends
 * once the frame is out (hang_up). Refusing what the client sent, we shut
 * our side once the frame is out and drop whatever comes until the client
 * closes (rx_discard): its frames can no longer be trusted to be frames.
 * Otherwise we read on, dropping data, until the client's close comes back.
 * Both wait at most the close timeout: closing with the client's bytes
 * unread would make the kernel send a reset that can destroy our last
 * frames.
 */
static int
net_server_close(struct net *n, struct session *s, uint16_t code,
    const char *reason)
{
	unsigned char	 payload[2 + CLOSE_REASON_MAX];
	size_t		 rlen = strlen(reason);
	bool		 stopping;

	if (rlen > CLOSE_REASON_MAX)
		rlen = CLOSE_REASON_MAX;
	payload[0] = (unsigned char)(code >> 8);
	payload[1] = (unsigned char)code;
	memcpy(payload + 2, reason, rlen);
	if (net_send_control(n, s, 8, payload, 2 + rlen) < 0)
		return -1;
	s->close_sent = true;
	if (s->hang_up || s->rx_discard)
		peer_want_write(s->peer);	/* once it has gone out */
	session_lock(s);
	stopping = s->shutdown;
	s->rx_paused = false;	/* what comes now is read and dropped */
	session_unlock(s);
	if (!s->hang_up)
		net_release_rx(n, s);
	/*
	 * Bounded in every case: a client that stops reading keeps even our
	 * answer to its own close from going out. A stopping server waits
	 * less: its deadline is closems-bound.
	 */
	net_deadline(n, s, stopping ? CLOSE_ACK_STOP_SECS : CLOSE_ACK_SECS);
	return 0;
}

/* Sends our close when nothing else is due; see net_server_close. */
static void
net_server_refuse(struct net *n, struct session *s, uint16_t code,
    const char *why)
{
	session_lock(s);
	session_set_final_close(s, CLOSED_PROTOCOL, code, why);
	session_unlock(s);
	log_debug("session=%llu protocol error: %s", (unsigned long long)s->id,
	    why);
	if (s->close_sent || s->close_due)
		return;		/* the first reason is the one given */
	s->close_due = true;
	s->rx_discard = true;
	net_deadline(n, s, CLOSE_ACK_SECS);
	s->close_out_code = code;
	snprintf(s->close_out_reason, sizeof s->close_out_reason, "%s", why);
	peer_want_write(s->peer);
}

/*
 * Inflates one piece of a compressed message into the queue for stdin.
 * A stream that ended (BFINAL) starts again: what follows is another.
 */
static uint16_t
inflate_piece(struct net *n, struct session *s, const unsigned char *in,
    size_t len, bool text, const char **why)
{
	z_stream	*z = s->inflater;
	size_t		 got;
	uint16_t	 code = 0;
	int		 r;

	z->next_in = (Bytef *)(uintptr_t)in;
	z->avail_in = (uInt)len;
	do {
		z->next_out = n->zbuf;
		z->avail_out = sizeof n->zbuf;
		r = inflate(z, Z_SYNC_FLUSH);
		if (r != Z_OK && r != Z_BUF_ERROR && r != Z_STREAM_END) {
			*why = "invalid compressed data";
			return 1007;
		}
		got = sizeof n->zbuf - z->avail_out;
		if (got > 0 && (code = net_take_input(n, s, n->zbuf, got, false,
		    text, why)) != 0)
			return code;
		if (r == Z_STREAM_END)
			inflateReset(z);
		else if (r == Z_BUF_ERROR)
			break;		/* it needs more input */
	} while (z->avail_in > 0 || z->avail_out == 0);
	return 0;
}

/*
 * permessage-deflate, receiving: a message is inflated as it arrives, with
 * a stream that lives only while the message does (the client was told
 * client_no_context_takeover), and its size is checked as it grows, so a
 * small message that inflates to a huge one is refused with 1009 midway.
 */
static uint16_t
net_inflate(struct net *n, struct session *s, const unsigned char *in,
    size_t len, bool final, bool text, const char **why)
{
	/* RFC 7692 7.2.2: the sender dropped this from the end. */
	static const unsigned char tail[4] = { 0x00, 0x00, 0xff, 0xff };
	uint16_t	 code;

	if (s->inflater == NULL) {
		if ((s->inflater = calloc(1, sizeof *s->inflater)) == NULL ||
		    inflateInit2(s->inflater, -15) != Z_OK) {
			free(s->inflater);
			s->inflater = NULL;
			*why = "out of memory";
			return 1011;
		}
	}
	code = inflate_piece(n, s, in, len, text, why);
	if (code == 0 && final)
		code = inflate_piece(n, s, tail, sizeof tail, text, why);
	if (code == 0 && final)
		code = net_take_input(n, s, NULL, 0, true, text, why);
	if (code != 0 || final) {
		inflateEnd(s->inflater);
		free(s->inflater);
		s->inflater = NULL;
	}
	return code;
}

static int	 net_server_peer_close(struct net *, struct session *,
		     struct wsrx_out *);

/* What one event of the parser means for the session. */
static int
net_server_event(struct net *n, struct session *s, struct wsrx_out *ev)
{
	const char	*why = NULL;
	uint16_t	 code = 0;

	switch (ev->type) {
	case WSRX_DATA:
		if (s->close_sent || s->close_due)
			return 0;	/* we said goodbye: read to its close */
		if (ev->compressed)
			code = net_inflate(n, s, ev->data, ev->len, ev->final,
			    ev->text, &why);
		else
			code = net_take_input(n, s, ev->data, ev->len,
			    ev->final, ev->text, &why);
		if (code != 0)
			net_server_refuse(n, s, code, why);
		return code != 0 ? 1 : 0;
	case WSRX_PING:
		if (s->close_sent || s->close_due)
			return 0;
		/* RFC 6455 5.5.3: answering the latest ping is enough. */
		memcpy(s->pong, ev->data, ev->len);
		s->pong_len = ev->len;
		s->pong_due = true;
		peer_want_write(s->peer);
		return 0;
	case WSRX_PONG:
		net_pong(s, ev->data, ev->len);
		return 0;
	case WSRX_CLOSE:
		return net_server_peer_close(n, s, ev);
	case WSRX_ERROR:
		net_server_refuse(n, s, ev->code, ev->reason);
		return 1;
	case WSRX_NEED_MORE:
		break;
	}
	return 0;
}

/*
 * Parses what the socket gave us. Returns -1 to hang up now, 1 when
 * parsing stopped for good (a close, an error), else 0. What is left when
 * input is held back waits in rx_backlog, ahead of anything read later.
 */
static int
net_server_parse(struct net *n, struct session *s, unsigned char *buf,
    size_t len)
{
	struct wsrx_out	 ev;
	size_t		 used;
	int		 r;

	while (len > 0) {
		if (s->rx_held) {
			if (s->rx_backlog == NULL &&
			    (s->rx_backlog = evbuffer_new()) == NULL)
				return -1;
			return evbuffer_prepend(s->rx_backlog, buf, len) == 0 ?
			    0 : -1;
		}
		used = wsrx_parse(&s->rx, buf, len, &ev);
		buf += used;
		len -= used;
		if (ev.type == WSRX_NEED_MORE)
			break;
		if ((r = net_server_event(n, s, &ev)) != 0)
			return r;
		if (s->rx_discard)
			return 1;
	}
	return 0;
}

/* Bytes from a client (peer.c's rx handler). */
static int
net_server_rx(struct net *n, struct session *s, unsigned char *in,
    size_t len)
{
	int	 r;

	s->last_rx_ms = mono_ms();
	if (s->rx_discard)
		return 0;	/* we refused it: nothing more is read */
	if (s->rx_held || (s->rx_backlog != NULL &&
	    evbuffer_get_length(s->rx_backlog) > 0)) {
		/* Read before the pause (a hang-up's drain): keep the order. */
		if (s->rx_backlog == NULL &&
		    (s->rx_backlog = evbuffer_new()) == NULL)
			return -1;
		return evbuffer_add(s->rx_backlog, in, len) == 0 ? 0 : -1;
	}
	r = net_server_parse(n, s, in, len);
	return r < 0 ? -1 : 0;
}

/*
 * Room for input again (or the peer left: rx_drain): what waited in the
 * backlog goes first, then the socket is read again unless that filled the
 * queue once more.
 */
static void
net_release_rx(struct net *n, struct session *s)
{
	size_t	 k;
	int	 r = 0;

	if (!s->rx_held || s->peer == NULL)
		return;
	s->rx_held = false;
	watch_hangup(n, s, false);
	while (r == 0 && !s->rx_held && s->rx_backlog != NULL &&
	    (k = evbuffer_get_length(s->rx_backlog)) > 0) {
		if (k > sizeof n->rxbuf)
			k = sizeof n->rxbuf;
		evbuffer_remove(s->rx_backlog, n->rxbuf, k);
		r = net_server_parse(n, s, n->rxbuf, k);
	}
	if (r < 0) {
		peer_kill(s->peer);
		return;
	}
	if (s->rx_discard && s->rx_backlog != NULL)	/* after a close */
		evbuffer_drain(s->rx_backlog,
		    evbuffer_get_length(s->rx_backlog));
	if (!s->rx_held)
		peer_read(s->peer, true);
}

/*
 * The peer shut its side (or reset) while we held its input back: it
 * sends nothing more, so what it did send is finite. Read it all, to its
 * close frame if there is one, beyond the queue's limit.
 */
static void
net_peer_hung_up(struct net *n, struct session *s)
{
	log_debug("session=%llu the client left while its input was held "
	    "back", (unsigned long long)s->id);
	s->rx_drain = true;
	net_release_rx(n, s);
}

/* The client's close frame: answered with its own code, then hang up. */
static int
net_server_peer_close(struct net *n, struct session *s, struct wsrx_out *ev)
{
	char	 reason[CLOSE_REASON_MAX + 1];
	size_t	 rlen = ev->len < CLOSE_REASON_MAX ? ev->len : CLOSE_REASON_MAX;

	if (s->close_sent)
		return -1;	/* the answer to ours: done */
	if (s->close_due) {
		s->hang_up = true;	/* ours, already due, answers it */
		s->rx_discard = true;
		return 1;
	}
	memcpy(reason, ev->data, rlen);
	reason[rlen] = '\0';
	session_lock(s);
	session_set_final_close(s, CLOSED_CLIENT, ev->code, reason);
	session_unlock(s);
	s->hang_up = true;
	s->rx_discard = true;	/* nothing may follow its close */
	s->close_due = true;
	/* Our answer may find no room (the client reads nothing): bounded. */
	net_deadline(n, s, CLOSE_ACK_SECS);
	/* 1005 means "none was sent": the answer then carries none either. */
	s->close_out_code = ev->code;
	memcpy(s->close_out_reason, reason, rlen + 1);
	peer_want_write(s->peer);
	return 1;
}

/* Control frames waiting to go: a pong, our ping, our close. */
static int
net_server_controls(struct net *n, struct session *s)
{
	if (s->pong_due) {
		s->pong_due = false;
		if (net_send_control(n, s, 10, s->pong, s->pong_len) < 0)
			return -1;
	}
	if (s->ping_due && !s->close_due) {
		s->ping_due = false;
		if (net_send_control(n, s, 9, NULL, 0) < 0)
			return -1;
	}
	if (!s->close_due)
		return 0;
	s->close_due = false;
	if (s->close_out_code == 1005) {
		if (net_send_control(n, s, 8, NULL, 0) < 0)
			return -1;
		s->close_sent = true;
		peer_want_write(s->peer);
		return 1;
	}
	return net_server_close(n, s, s->close_out_code,
	    s->close_out_reason) < 0 ? -1 : 1;
}

/*
 * Room on a client's socket (peer.c's writable handler, which runs only
 * once whatever an earlier send() left over has gone out).
 */
static int
net_server_writable(struct net *n, struct session *s)
{
	bool		 stopping, done;
	uint16_t	 code;
	char		 reason[CLOSE_REASON_MAX + 1];
	int		 r;

	if (s->close_sent) {
		if (s->hang_up)
			return -1;	/* our answer to its close is out */
		if (s->rx_discard && !s->shut_wr) {
			/* Our FIN: the client answers it by closing. */
			s->shut_wr = true;
			if (shutdown(peer_fd(s->peer), SHUT_WR) == -1)
				return -1;
			/* Our frame and FIN are out: a short wait is enough. */
			net_deadline(n, s, REFUSE_LINGER_SECS);
		}
		return 0;
	}
	if ((r = net_server_controls(n, s)) != 0)
		return r < 0 ? -1 : 0;
	if ((r = net_write_batch(n, s, true)) <= 0) {
		net_resume_stdout(n, s);
		return r;
	}
	/* Nothing queued: the close, if the session is over. */
	session_lock(s);
	stopping = s->shutdown;
	done = s->output_done;
	if (stopping)
		session_set_final_close(s, CLOSED_SERVER, 1001,
		    "server shutting down");
	code = stopping ? 1001 : s->close_code != 0 ? s->close_code : 1000;
	snprintf(reason, sizeof reason, "%s", stopping ?
	    "server shutting down" : s->close_reason);
	session_unlock(s);
	net_resume_stdout(n, s);
	if (!stopping && !done)
		return 0;
	return net_server_close(n, s, code, reason);
}

/* Our ping is out and nothing came from the client since. */
static bool
ping_unanswered(const struct session *s)
{
	return s->ping_sent_ms != 0 && s->last_rx_ms < s->ping_sent_ms;
}

/*
 * A server's session has one timer. It looks at two things: the end of a
 * close handshake (close_at_ms, when the connection is dropped whatever
 * the client does) and --pingms: an interval after the client's last word,
 * or after our ping.
 */
static void
net_arm_timer(struct net *n, struct session *s)
{
	uint64_t	 now = mono_ms(), every = n->srv->cfg->ping_ms, next = 0;

	if (every > 0 && !s->close_sent)
		next = (ping_unanswered(s) ? s->ping_sent_ms : s->last_rx_ms) +
		    every;
	if (s->close_at_ms != 0 && (next == 0 || s->close_at_ms < next))
		next = s->close_at_ms;
	peer_set_timer(s->peer, next == 0 ? 0 : next > now ? next - now : 1);
}

/*
 * The connection ends in secs, whatever the client does meanwhile; a later
 * deadline replaces an earlier one.
 */
static void
net_deadline(struct net *n, struct session *s, unsigned secs)
{
	if (s->peer == NULL) {
		if (s->wsi != NULL)
			lws_set_timeout(s->wsi, PENDING_TIMEOUT_CLOSE_ACK,
			    (int)secs);
		return;
	}
	s->close_at_ms = mono_ms() + (uint64_t)secs * 1000;
	net_arm_timer(n, s);
}

/*
 * --pingms: a ping after an interval without a word from the client, and
 * the end when another interval passes with no answer to it. The timer
 * looks again an interval after the last word (or after our ping), not on
 * a fixed beat: on a beat, a look just short of an interval sent no ping
 * and the next found two intervals of silence. A session whose input we
 * hold back is not judged: its pongs wait unread behind the data we are
 * not reading. The timer may come early (the loop's clock is read once a
 * round): then it is only set again.
 */
static void
net_server_timer(struct net *n, struct session *s)
{
	uint64_t	 now = mono_ms(), every = n->srv->cfg->ping_ms;

	if (s->close_at_ms != 0 && now >= s->close_at_ms) {
		s->close_at_ms = 0;
		peer_kill(s->peer);
		return;
	}
	if (every > 0 && !s->close_sent) {
		if (s->rx_held) {
			s->last_rx_ms = now;
			s->ping_sent_ms = 0;
		} else if (ping_unanswered(s)) {
			if (now - s->ping_sent_ms >= every) {
				s->ping_timed_out = true;
				peer_kill(s->peer);
				return;
			}
		} else if (now - s->last_rx_ms >= every) {
			s->ping_due = true;
			s->ping_sent_ms = now;
			peer_want_write(s->peer);
		}
	}
	net_arm_timer(n, s);
}

/* What a server's session held on this thread, at its end. */
static void
net_server_forget(struct session *s)
{
	if (s->rx_backlog != NULL)
		evbuffer_free(s->rx_backlog);
	s->rx_backlog = NULL;
	if (s->out_z != NULL)
		evbuffer_free(s->out_z);
	s->out_z = NULL;
	if (s->inflater != NULL) {
		inflateEnd(s->inflater);
		free(s->inflater);
		s->inflater = NULL;
	}
}

/* peer.c's handlers for a server's connections; the argument is the session. */
static int
on_peer_rx(void *arg, unsigned char *in, size_t len)
{
	struct session	*s = arg;

	return net_server_rx(s->srv->net, s, in, len);
}

static int
on_peer_writable(void *arg)
{
	struct session	*s = arg;

	return net_server_writable(s->srv->net, s);
}

static void
on_peer_timer(void *arg)
{
	struct session	*s = arg;

	net_server_timer(s->srv->net, s);
}

/* The connection's network reference goes with it. */
static void
on_peer_closed(void *arg)
{
	struct session	*s = arg;

	net_gone(s->srv->net, s);
	net_server_forget(s);
	session_unref(s);
}

static const struct peer_handlers server_peer = {
	on_peer_rx, on_peer_writable, on_peer_timer, on_peer_closed
};

/*
 * A socket whose handshake listener.c decided: it joins our loop, our 101
 * goes out first, and the session is established.
 */
static void
net_server_adopt(struct net *n, struct session *s, int fd)
{
	const struct config	*cfg = n->srv->cfg;

	if ((s->peer = peer_new(&n->peers, fd, s)) == NULL) {
		close(fd);
		net_adopt_failed(s);
		return;
	}
	wsrx_init(&s->rx, cfg->max_message, s->deflate, true);
	if (peer_send(s->peer, s->reply, s->reply_len) != 0) {
		peer_kill(s->peer);
		return;
	}
	free(s->reply);
	s->reply = NULL;
	s->last_rx_ms = mono_ms();
	net_arm_timer(n, s);
	net_established(s);
}

/* A client's one connection: lws speaks the protocol. */
static int
net_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct session	*s;
	struct net	*n;

	(void)user;
	if (reason == LWS_CALLBACK_EVENT_WAIT_CANCELLED) {
		n = lws_context_user(lws_get_context(wsi));
		net_drain(n);
		return 0;
	}
	if (reason == LWS_CALLBACK_RAW_RX_FILE) {
		/* Our one raw file: the set of the children's stdout pipes. */
		n = lws_context_user(lws_get_context(wsi));
		net_poll_stdouts(n);
		return 0;
	}
	if ((s = lws_get_opaque_user_data(wsi)) == NULL)
		return 0;
	n = lws_context_user(lws_get_context(wsi));
	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		return net_client_headers(n, wsi, in, len);
	case LWS_CALLBACK_CLIENT_FILTER_PRE_ESTABLISH:
		net_client_check_response(s, wsi);
		break;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		net_established(s);
		break;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		net_client_failed(s, in);
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		s->last_rx = mono_sec();
		return net_receive(n, s, wsi, in, len);
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return net_client_writable(n, s);
	case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
		s->last_rx = mono_sec();
		break;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		return net_peer_close(s, wsi, in, len);
	case LWS_CALLBACK_CLIENT_CLOSED:
		net_gone(n, s);
		break;
	case LWS_CALLBACK_WSI_DESTROY:
		net_gone(n, s);
		lws_set_opaque_user_data(wsi, NULL);
		session_unref(s);
		break;
	default:
		break;
	}
	return 0;
}

/* Offered only with --deflate: it costs zlib state in every session. */
static const struct lws_extension deflate_ext[] = {
	{ "permessage-deflate", lws_extension_callback_pm_deflate,
	    "permessage-deflate; client_no_context_takeover; "
	    "client_max_window_bits" },
	{ NULL, NULL, NULL },
};

static void
lws_log_emit(int level, const char *line)
{
	size_t	 n = strlen(line);

	(void)level;
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	log_debug("lws: %.*s", (int)n, line);
}

/*
 * Each round of the loop (a server's libevent one, or lws's for a client)
 * ends by writing the input it brought to the children's stdin.
 */
static void *
net_run(void *arg)
{
	struct net	*n = arg;
	int		 r;

	while (!atomic_load(&n->stop)) {
		if (n->base != NULL)
			r = event_base_loop(n->base, EVLOOP_ONCE);
		else
			r = lws_service(n->ctx, 0);
		if (r < 0) {
			log_error("the network thread's loop failed");
			break;
		}
		net_flush_stdin(n);
	}
	net_flush_stdin(n);	/* lets go of the sessions it holds */
	net_close_stdins(n);
	net_close_stdouts(n);
	if (n->base != NULL)
		peers_close_all(&n->peers);	/* a client's: lws_context_destroy */
	return NULL;
}

static void
net_wake(void *arg)
{
	struct net	*n = arg;

	if (n->base != NULL)
		event_active(n->wake_ev, EV_READ, 1);
	else
		lws_cancel_service(n->ctx);
}

static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	net_drain(arg);
}

static void
on_outpoll(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	net_poll_stdouts(arg);
}

/* A client's --protocol names are offers, sent as they are. */
static void
set_protocols(struct net *n, const struct config *cfg)
{
	memset(n->protocols, 0, sizeof n->protocols);
	n->protocols[0].name = PROTOCOL_DEFAULT;
	n->protocols[0].callback = net_callback;
	n->protocols[0].tx_packet_size = TX_PACKET;
	n->protocols[0].rx_buffer_size = cfg->binary ? RX_BUFFER_BULK :
	    RX_BUFFER;
}

/* Client mode: dial the URL for the one session there is. */
static int
net_connect(struct net *n, struct session *s)
{
	const struct config		*cfg = n->srv->cfg;
	struct lws_client_connect_info	 i;
	struct url			 u;
	char				 host[300], protos[1024];
	size_t				 k, off = 0;
	bool				 gone;

	if (url_parse(cfg->connect_url, &u) != 0)
		return -1;
	if (strchr(u.host, ':') != NULL)
		snprintf(host, sizeof host, "[%s]", u.host);
	else
		snprintf(host, sizeof host, "%s", u.host);
	if (u.port != (u.tls ? 443 : 80))
		snprintf(host + strlen(host), sizeof host - strlen(host),
		    ":%d", u.port);
	protos[0] = '\0';
	for (k = 0; k < cfg->nprotocols; k++)
		off += (size_t)snprintf(protos + off, sizeof protos - off,
		    "%s%s", k ? "," : "", cfg->protocols[k]);
	memset(&i, 0, sizeof i);
	i.context = n->ctx;
	i.vhost = n->vh;
	i.address = u.host;
	i.port = u.port;
	i.path = u.path;
	i.host = host;
	/* Not i.origin: lws 4.1 would prefix it with "http://". */
	i.protocol = cfg->nprotocols > 0 ? protos : NULL;
	i.local_protocol_name = PROTOCOL_DEFAULT;
	i.ietf_version_or_minus_one = -1;
	i.opaque_user_data = s;
	i.pwsi = &s->wsi;
	if (u.tls) {
		i.ssl_connection = LCCSCF_USE_SSL;
		if (cfg->insecure)
			i.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED |
			    LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
			    LCCSCF_ALLOW_EXPIRED | LCCSCF_ALLOW_INSECURE;
	}
	if (n->idle_policy.secs_since_valid_ping > 0)
		i.retry_and_idle_policy = &n->idle_policy;
	if (lws_client_connect_via_info(&i) == NULL) {
		session_lock(s);
		gone = s->client_gone;
		session_unlock(s);
		/* Unless lws already said why (and let go), say it here. */
		if (!gone) {
			net_client_failed(s, "connection failed");
			session_unref(s);
		}
	}
	return 0;
}

/*
 * Client: the epoll set of the children's stdout pipes goes into lws's
 * loop as a raw file, readable whenever one of them is. lws closes it at
 * the end.
 */
static int
watch_outpoll_lws(struct net *n)
{
	lws_sock_file_fd_type	 desc;

	desc.filefd = n->outpoll;
	if (lws_adopt_descriptor_vhost(n->vh, LWS_ADOPT_RAW_FILE_DESC, desc,
	    PROTOCOL_DEFAULT, NULL) == NULL) {
		log_fatal("lws cannot watch the stdout pipes");
		return -1;
	}
	n->outpoll_lws = true;
	return 0;
}

/*
 * Lowers our soft fd limit to LWS_FD_CAP before lws sizes its tables by it.
 * Children inherit it; they may raise it again up to the hard limit.
 */
static void
cap_fd_limit(void)
{
	struct rlimit	 rl;
	rlim_t		 was;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
		log_error("getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
		return;
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur <= LWS_FD_CAP)
		return;
	was = rl.rlim_cur;
	rl.rlim_cur = LWS_FD_CAP;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		log_error("cannot lower the fd limit to %d: %s", LWS_FD_CAP,
		    strerror(errno));
	else
		log_debug("fd limit lowered from %llu to %d for lws's tables",
		    (unsigned long long)was, LWS_FD_CAP);
}

/*
 * A client's loop is lws's own: one lws context, its one connection (see
 * net_connect) and the stdout set as a raw file.
 */
static int
net_start_lws(struct net *n)
{
	const struct config			*cfg = n->srv->cfg;
	struct lws_context_creation_info	 info;

	cap_fd_limit();
	lws_set_log_level(log_enabled(LL_DEBUG) ? LLL_ERR | LLL_WARN : 0,
	    lws_log_emit);
	memset(&info, 0, sizeof info);
	info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
	    LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.user = n;
	info.pt_serv_buf_size = RX_BUFFER_BULK + LWS_PRE;
	/* A client reads the server's head: let it be as big as ours. */
	info.max_http_header_data = HTTP_HEAD_MAX + 1024;
	info.connect_timeout_secs = cfg->connect_timeout;
	info.timeout_secs = cfg->connect_timeout;
	info.client_ssl_ca_filepath = cfg->sslca;
	info.client_ssl_cert_filepath = cfg->sslcert;
	info.client_ssl_private_key_filepath = cfg->sslkey;
	if ((n->ctx = lws_create_context(&info)) == NULL) {
		log_fatal("cannot create the lws context");
		return -1;
	}
	set_protocols(n, cfg);
	info.protocols = n->protocols;
	info.vhost_name = "wsbridge";
	if (cfg->deflate)
		info.extensions = deflate_ext;
	if (cfg->ping_ms > 0) {
		/* lws 4.1 counts in whole seconds: round up, never to 0. */
		n->idle_policy.secs_since_valid_ping =
		    (uint16_t)((cfg->ping_ms + 999) / 1000);
		n->idle_policy.secs_since_valid_hangup =
		    (uint16_t)(2 * n->idle_policy.secs_since_valid_ping);
		info.retry_and_idle_policy = &n->idle_policy;
	}
	if ((n->vh = lws_create_vhost(n->ctx, &info)) == NULL) {
		log_fatal("cannot create the lws vhost");
		return -1;
	}
	return watch_outpoll_lws(n);
}

/*
 * A server's loop is libevent's (epoll). Not with EVENT_BASE_FLAG_PRECISE_
 * TIMER: that costs a timerfd_settime per round, and a timer that comes a
 * little early is only set again (net_server_timer). The base is
 * thread-safe (main.c called evthread_use_pthreads): the main thread wakes
 * this one with event_active on wake_ev.
 */
static int
net_start_loop(struct net *n)
{
	if ((n->base = event_base_new()) == NULL ||
	    (n->wake_ev = event_new(n->base, -1, 0, on_wake, n)) == NULL ||
	    (n->outpoll_ev = event_new(n->base, n->outpoll,
	    EV_READ | EV_PERSIST, on_outpoll, n)) == NULL ||
	    event_add(n->outpoll_ev, NULL) == -1)
		goto fail;
	peers_init(&n->peers, n->base, &server_peer, n->sockbuf,
	    sizeof n->sockbuf);
	n->batch = true;	/* we frame: see net_write_batch */
	return 0;
fail:
	log_fatal("cannot create the network thread's event loop");
	return -1;
}

/* What net_start made; the thread is not running. */
static void
net_free(struct net *n)
{
	size_t	 i;

	if (n->ctx != NULL)
		lws_context_destroy(n->ctx);
	if (!n->outpoll_lws && n->outpoll >= 0)
		close(n->outpoll);	/* else lws's to close */
	if (n->wake_ev != NULL)
		event_free(n->wake_ev);
	if (n->outpoll_ev != NULL)
		event_free(n->outpoll_ev);
	if (n->base != NULL)
		event_base_free(n->base);
	for (i = 0; i < sizeof n->zdef / sizeof n->zdef[0]; i++) {
		if (n->zdef[i] == NULL)
			continue;
		deflateEnd(n->zdef[i]);
		free(n->zdef[i]);
	}
	free(n);
}

int
net_start(struct server *srv, struct session *client)
{
	struct net	*n;
	sigset_t	 all, old;
	int		 error;

	if ((n = calloc(1, sizeof *n)) == NULL) {
		log_fatal("net: out of memory");
		return -1;
	}
	n->srv = srv;
	TAILQ_INIT(&n->flush_q);
	TAILQ_INIT(&n->writers);
	TAILQ_INIT(&n->readers);
	if ((n->outpoll = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		log_fatal("epoll_create1: %s", strerror(errno));
		free(n);
		return -1;
	}
	if ((srv->cfg->connect_url != NULL ? net_start_lws(n) :
	    net_start_loop(n)) != 0) {
		net_free(n);
		return -1;
	}
	srv->net = n;
	srv->hub->wake_net = net_wake;
	srv->hub->wake_net_arg = n;
	/* Before the thread runs, this thread may still call lws. */
	if (srv->cfg->connect_url != NULL && net_connect(n, client) != 0)
		goto fail;
	/* Signals belong to the main thread: the new thread blocks them all. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	error = pthread_create(&n->thread, NULL, net_run, n);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (error == 0)
		return 0;
	log_fatal("cannot start the network thread: %s", strerror(error));
fail:
	srv->hub->wake_net = NULL;
	srv->net = NULL;
	net_free(n);
	return -1;
}

void
net_stop(struct server *srv)
{
	struct net	*n = srv->net;

	if (n == NULL)
		return;
	atomic_store(&n->stop, true);
	net_wake(n);
	pthread_join(n->thread, NULL);
	srv->hub->wake_net = NULL;
	/* The thread is gone: freeing here races with nothing. */
	net_free(n);
	srv->net = NULL;
}
