/*
 * Sending a session's queued records: how much the socket takes now
 * (net_socket_room), the next record (net_next_record), and for a server
 * a burst of frames we frame ourselves, compressed with --deflate
 * (net_write_batch, deflate_record) and sent with one send().
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/sock_diag.h>

#include <zlib.h>

#include <event2/buffer.h>
#include <libwebsockets.h>

#include "framing.h"
#include "log.h"
#include "netpriv.h"
#include "peer.h"
#include "session.h"

static int	 deflate_record(struct net *, struct session *);

/*
 * Output goes out as soon as it is read rather than after one more round
 * of lws's loop: a server that frames its own messages writes whole frames
 * (net_write_batch). It waits for the writable callback instead with lws's
 * framing (a client), in a close, and while part of an earlier send still
 * waits for room: the new frames could only queue up behind it.
 */
void
net_send_now(struct net *n, struct session *s)
{
	if (!n->batch || close_begun(s) ||
	    peer_unsent(s->peer)) {
		net_want_write(s);
		return;
	}
	if (net_send_queued(n, s, false) < 0)
		net_kill(s);
	net_resume_stdout(n, s);
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
size_t
net_socket_room(int fd)
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
 * Whether a record is being sent: the one under way, or the next queued
 * one, whose header is then taken off the queue. Under the session lock.
 */
bool
net_next_record(struct session *s)
{
	unsigned char	 hdr[RECORD_HDR];
	uint32_t	 reclen;
	int		 opcode;

	if (s->out_record != OUT_RECORD_NONE ||
	    evbuffer_get_length(s->to_peer) < RECORD_HDR)
		return s->out_record != OUT_RECORD_NONE;
	evbuffer_remove(s->to_peer, hdr, sizeof hdr);
	framing_get_record(hdr, &opcode, &reclen);
	s->out_opcode = opcode;
	s->out_left = reclen;
	s->out_record = OUT_RECORD_START;
	return true;
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
    size_t room, bool *more)
{
	struct evbuffer	*from;
	size_t		 used = 0, len, avail, hl;
	bool		 first;

	session_lock(s);
	while (used + FRAME_HDR_MAX < room && net_next_record(s)) {
		first = s->out_record == OUT_RECORD_START;
		if (s->deflate && first && !s->out_rsv1 &&
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
		    first ? s->out_opcode : 0, len == s->out_left, len);
		if (first && s->out_rsv1)
			buf[used] |= 0x40;	/* RSV1: compressed */
		used += hl;
		from = s->out_rsv1 ? s->out_z : s->to_peer;
		evbuffer_remove(from, buf + used, len);
		used += len;
		s->out_left -= (uint32_t)len;
		s->out_record = s->out_left > 0 ? OUT_RECORD_REST :
		    OUT_RECORD_NONE;
		if (s->out_record == OUT_RECORD_NONE && s->out_rsv1) {
			/* What is left is the 00 00 ff ff we do not send. */
			evbuffer_drain(s->out_z, evbuffer_get_length(s->out_z));
			s->out_rsv1 = false;
		}
	}
	*more = s->out_record != OUT_RECORD_NONE ||
	    evbuffer_get_length(s->to_peer) > 0 || s->output == OUTPUT_DONE;
	session_unlock(s);
	return used;
}

/*
 * A server frames its messages itself (compressed, with deflate) and sends
 * a burst of them with one send(): lws would make a send() per frame, and
 * small messages would cost a system call each. Returns -1 to close, 1 when
 * nothing was queued (the close is then net_server_writable's), else 0.
 * In lws's writable callback the kernel has said there is room, so some
 * output goes even when net_socket_room() sees little; outside it, none does.
 */
int
net_write_batch(struct net *n, struct session *s, bool in_callback)
{
	unsigned char	*buf = n->sendbuf + LWS_PRE;
	size_t		 used, room;
	bool		 more, stop;
	int		 i;

	if (close_is_out(s))
		return 1;
	session_lock(s);
	stop = session_asked(s, ASK_STOP);
	session_unlock(s);
	if (stop)
		return 1;
	/* Bulk output: more batches while the socket has real room. */
	for (i = 0; i < WRITE_BURST; i++) {
		if ((room = net_socket_room(peer_fd(s->peer))) == 0) {
			if (i > 0 || !in_callback)
				break;
			room = FRAME_MIN;
		}
		used = fill_frames(n, s, buf, room + FRAME_HEADER, &more);
		if (used == 0)
			return 1;	/* drained: a close may be due */
		if (peer_send(s->peer, buf, used) != 0)
			return -1;
		if (!more)
			return 0;
		/*
		 * send() took part of it (net_socket_room guesses): peer.c
		 * holds the rest, and sends it before our next writable
		 * callback.
		 */
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
int
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
