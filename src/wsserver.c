/*
 * The server's side of RFC 6455. Each upgraded socket is a peer (peer.c)
 * on this thread's libevent loop; the handshake's answer (upgrade.c), the
 * frames the client sends (parsed by wsframe.c), permessage-deflate (zlib),
 * pings and the close handshake are ours. lws 4.1's own receive path
 * accepted unmasked frames, closed on oversized control frames without a
 * close frame, waited for the payload of a frame announcing more than we
 * take, and its deflate extension aborted the process with several clients
 * at once; its loop polled every socket at each wake-up. Here: adopting
 * the socket and our 101 first (net_server_adopt), the loop
 * (net_start_loop), the client's frames (net_server_rx), control frames,
 * close and refusal, holding input back (net_hold_rx, net_release_rx),
 * inflating, and the per-session timer for --pingms and deadlines.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <zlib.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <libwebsockets.h>

#include "config.h"
#include "framing.h"
#include "log.h"
#include "monotime.h"
#include "netpriv.h"
#include "peer.h"
#include "server.h"
#include "session.h"

static int	 net_server_rx(struct net *, struct session *, unsigned char *,
		     size_t);
static int	 net_server_peer_close(struct net *, struct session *,
		     struct wsrx_out *);

/*
 * A paused socket is not read, so a peer that leaves behind data we are
 * holding back would go unnoticed: EPOLLRDHUP (FIN) and EPOLLHUP/EPOLLERR
 * (reset) still come through the stdout set while the loop does not read.
 */
void
net_watch_hangup(struct net *n, struct session *s, bool on)
{
	if (s->hup_watched == on || s->peer == NULL)
		return;
	if (net_outpoll_ctl(n, s, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL,
	    peer_fd(s->peer), EPOLLRDHUP, &s->hup_watch) == 0)
		s->hup_watched = on;
}

/* Input is held back: read no more from the socket until there is room. */
void
net_hold_rx(struct net *n, struct session *s)
{
	if (!net_linked(s))
		return;
	rx_hold(s);
	net_read_socket(s, false);
	net_watch_hangup(n, s, true);	/* a server's only */
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
 * once the frame is out (CLOSE_ANSWERED). Refusing what the client sent, we
 * shut our side once the frame is out and drop whatever comes until the
 * client closes (RX_DISCARDING): its frames can no longer be trusted.
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
	close_frame_out(s);
	if (s->close == CLOSE_ANSWERED || s->rx_state == RX_DISCARDING)
		peer_want_write(s->peer);	/* once it has gone out */
	session_lock(s);
	stopping = session_asked(s, ASK_STOP);
	input_resume(s);	/* what comes now is read and dropped */
	session_unlock(s);
	if (s->close != CLOSE_ANSWERED)
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
	if (!close_refuse(s))
		return;		/* the first reason is the one given */
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

/* What one event of the parser means for the session. */
static int
net_server_event(struct net *n, struct session *s, struct wsrx_out *ev)
{
	const char	*why = NULL;
	uint16_t	 code = 0;

	switch (ev->type) {
	case WSRX_DATA:
		if (close_begun(s))
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
		if (close_begun(s))
			return 0;
		/* RFC 6455 5.5.3: answering the latest ping is enough. */
		memcpy(s->pong, ev->data, ev->len);
		s->pong_len = ev->len;
		s->controls_due |= CONTROL_PONG;
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
		if (s->rx_state == RX_HELD) {
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
		if (s->rx_state == RX_DISCARDING)
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
	if (s->rx_state == RX_DISCARDING)
		return 0;	/* we refused it: nothing more is read */
	if (s->rx_state == RX_HELD || (s->rx_backlog != NULL &&
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
 * Room for input again (or the peer left: RX_DRAINING): what waited in the
 * backlog goes first, then the socket is read again unless that filled the
 * queue once more.
 */
void
net_release_rx(struct net *n, struct session *s)
{
	size_t	 k;
	int	 r = 0;

	if (s->peer == NULL || !rx_release(s))
		return;
	net_watch_hangup(n, s, false);
	while (r == 0 && s->rx_state != RX_HELD && s->rx_backlog != NULL &&
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
	if (s->rx_state == RX_DISCARDING && s->rx_backlog != NULL) /* after a close */
		evbuffer_drain(s->rx_backlog,
		    evbuffer_get_length(s->rx_backlog));
	if (s->rx_state != RX_HELD)
		peer_read(s->peer, true);
}

/*
 * The peer shut its side (or reset) while we held its input back: it
 * sends nothing more, so what it did send is finite. Read it all, to its
 * close frame if there is one, beyond the queue's limit.
 */
void
net_peer_hung_up(struct net *n, struct session *s)
{
	log_debug("session=%llu the client left while its input was held "
	    "back", (unsigned long long)s->id);
	rx_drain(s);
	net_release_rx(n, s);
}

/* The client's close frame: answered with its own code, then hang up. */
static int
net_server_peer_close(struct net *n, struct session *s, struct wsrx_out *ev)
{
	char	 reason[CLOSE_REASON_MAX + 1];
	size_t	 rlen = ev->len < CLOSE_REASON_MAX ? ev->len : CLOSE_REASON_MAX;

	if (close_is_out(s))
		return -1;	/* the answer to ours: done */
	if (close_owed(s)) {
		close_answer(s);	/* ours, already due, answers it */
		return 1;
	}
	memcpy(reason, ev->data, rlen);
	reason[rlen] = '\0';
	session_lock(s);
	session_set_final_close(s, CLOSED_CLIENT, ev->code, reason);
	session_unlock(s);
	close_answer(s);
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
	if (s->controls_due & CONTROL_PONG) {
		s->controls_due &= ~(unsigned)CONTROL_PONG;
		if (net_send_control(n, s, 10, s->pong, s->pong_len) < 0)
			return -1;
	}
	if ((s->controls_due & CONTROL_PING) && !close_owed(s)) {
		s->controls_due &= ~(unsigned)CONTROL_PING;
		if (net_send_control(n, s, 9, NULL, 0) < 0)
			return -1;
	}
	if (!close_owed(s))
		return 0;
	if (s->close_out_code == 1005) {
		if (net_send_control(n, s, 8, NULL, 0) < 0)
			return -1;
		close_frame_out(s);
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
int
net_server_writable(struct net *n, struct session *s)
{
	bool		 stopping, done;
	uint16_t	 code;
	char		 reason[CLOSE_REASON_MAX + 1];
	int		 r;

	if (close_is_out(s)) {
		if (s->close == CLOSE_ANSWERED)
			return -1;	/* our answer to its close is out */
		if (s->close == CLOSE_SENT && s->rx_state == RX_DISCARDING) {
			/* Our FIN: the client answers it by closing. */
			close_shut(s);
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
	stopping = session_asked(s, ASK_STOP);
	done = s->output == OUTPUT_DONE;
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

	if (every > 0 && !close_is_out(s))
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
void
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
	if (every > 0 && !close_is_out(s)) {
		if (s->rx_state == RX_HELD) {
			s->last_rx_ms = now;
			s->ping_sent_ms = 0;
		} else if (ping_unanswered(s)) {
			if (now - s->ping_sent_ms >= every) {
				session_lock(s);
				session_set_final_close(s, CLOSED_NETWORK,
				    1006, "ping timeout");
				session_unlock(s);
				peer_kill(s->peer);
				return;
			}
		} else if (now - s->last_rx_ms >= every) {
			s->controls_due |= CONTROL_PING;
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
void
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

/*
 * A server's loop is libevent's (epoll). Not with EVENT_BASE_FLAG_PRECISE_
 * TIMER: that costs a timerfd_settime per round, and a timer that comes a
 * little early is only set again (net_server_timer). The base is
 * thread-safe (main.c called evthread_use_pthreads): the main thread wakes
 * this one with event_active on wake_ev.
 */
int
net_start_loop(struct net *n)
{
	if ((n->base = event_base_new()) == NULL ||
	    (n->wake_ev = event_new(n->base, -1, 0, net_on_wake, n)) == NULL ||
	    (n->outpoll_ev = event_new(n->base, n->outpoll,
	    EV_READ | EV_PERSIST, net_on_outpoll, n)) == NULL ||
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
