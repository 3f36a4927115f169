/*
 * Client mode (--connect) on the network thread: one connection, lws's,
 * on lws's own loop (net_start_lws), since lws speaks the protocol and
 * TLS there; its protocol callback (net_callback), the headers we send
 * and the response we check, receiving and writing through lws.
 */
#include <errno.h>
#include <string.h>
#include <sys/resource.h>

#include <event2/buffer.h>
#include <libwebsockets.h>

#include "config.h"
#include "framing.h"
#include "http.h"
#include "log.h"
#include "monotime.h"
#include "netpriv.h"
#include "ptyquery.h"
#include "server.h"
#include "session.h"

static int	 net_callback(struct lws *, enum lws_callback_reasons, void *,
		     void *, size_t);

/*
 * lws_close_reason() takes the reason as a non-const buffer, though it only
 * copies it into the close frame (at most 123 bytes: a close payload is 125
 * with the code). Copying it here rather than casting const away keeps a
 * const string const.
 */
void
net_close_reason(struct lws *wsi, uint16_t code, const char *why)
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
	net_close_reason(wsi, code, why);
	close_by_lws(s);	/* lws sends the close: nothing may follow */
	return -1;
}

/*
 * --eof-wait: after our input ended, a server without the half-close gets
 * this long of silence before we close. Each message it sends restarts it.
 */
static void
net_eof_wait_arm(struct net *n, struct lws *wsi)
{
	lws_set_timer_usecs(wsi,
	    (lws_usec_t)n->srv->cfg->eof_wait_ms * 1000);
}

/* LWS_CALLBACK_TIMER: the server stayed silent; our close goes out. */
static void
net_eof_wait_over(struct session *s, struct lws *wsi)
{
	if (!half_wait_over(s))
		return;
	log_debug("session=%llu --eof-wait ran out: closing",
	    (unsigned long long)s->id);
	lws_callback_on_writable(wsi);
}

/* Client mode: lws parsed the frame; a piece of a server's message. */
static int
net_receive(struct net *n, struct session *s, struct lws *wsi,
    const void *in, size_t len)
{
	const char	*why;
	uint16_t	 code;
	bool		 final;

	if (close_is_out(s))
		return 0;	/* we said goodbye: read to the peer's close */
	if (s->half == HALF_WAITING)
		net_eof_wait_arm(n, wsi);	/* it still talks: wait on */
	final = lws_is_final_fragment(wsi) &&
	    lws_remaining_packet_payload(wsi) == 0;
	/* A continuation keeps its first frame's kind (net_take_input). */
	code = net_take_input(n, s, in, len, final,
	    !lws_frame_is_binary(wsi), &why);
	return code != 0 ? protocol_error(s, wsi, code, why) : 0;
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

	if (rlen > CLOSE_REASON_MAX)
		rlen = CLOSE_REASON_MAX;
	buf[LWS_PRE] = (unsigned char)(code >> 8);
	buf[LWS_PRE + 1] = (unsigned char)code;
	memcpy(buf + LWS_PRE + 2, reason, rlen);
	if (lws_write(wsi, buf + LWS_PRE, 2 + rlen, WRITE_CLOSE) < 0)
		return -1;
	close_frame_out(s);
	/* What comes now is read and dropped: a held socket is read again. */
	session_lock(s);
	input_resume(s);
	session_unlock(s);
	if (rx_release(s))
		lws_rx_flow_control(wsi, 1);
	lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_ACK, 5);
	return 1;
}

/*
 * Sends one frame of the current record, or the close frame once the child
 * is done and everything it wrote has gone out. Returns -1 to close, 1 if
 * there was nothing to send, 0 after a frame (*more: another is waiting).
 */
int
net_write_one(struct net *n, struct session *s, struct lws *wsi, bool *more_out)
{
	size_t		 room = net_socket_room(lws_get_socket_fd(wsi));
	size_t		 len = 0;
	int		 flags = 0;
	bool		 send = false, more = false, wake_main = false;
	bool		 close_now = false, eof = false, wait = false;
	bool		 client = n->srv->cfg->connect_url != NULL;
	uint16_t	 code = 0;
	char		 reason[CLOSE_REASON_MAX + 1];

	if (close_is_out(s))
		return 1;	/* only the peer's answer is awaited now */
	if (room == 0)
		room = FRAME_MIN;	/* lws said writable: some will go */
	session_lock(s);
	if (session_asked(s, ASK_STOP)) {
		session_set_final_close(s, CLOSED_SERVER, 1001, client ?
		    "going away" : "server shutting down");
		close_now = true;
		code = 1001;
	} else {
		if (net_next_record(s)) {
			len = s->out_left < room ? s->out_left : room;
			evbuffer_remove(s->to_peer, n->sendbuf + LWS_PRE, len);
			s->out_left -= (uint32_t)len;
			flags = lws_write_ws_flags(s->out_opcode == RECORD_TEXT ?
			    LWS_WRITE_TEXT : LWS_WRITE_BINARY,
			    s->out_record == OUT_RECORD_START, s->out_left == 0);
			s->out_record = s->out_left > 0 ? OUT_RECORD_REST :
			    OUT_RECORD_NONE;
			send = true;
			more = s->out_record != OUT_RECORD_NONE ||
			    evbuffer_get_length(s->to_peer) > 0 ||
			    s->output == OUTPUT_DONE;
			wake_main = s->output == OUTPUT_PAUSED &&
			    session_output_has_room(s);
		} else if (s->output == OUTPUT_DONE && client &&
		    s->half_close) {
			/* Our input ended; the remote's close ends the rest. */
			eof = s->half == HALF_NONE;
			half_eof_sent(s);
		} else if (s->output == OUTPUT_DONE && client &&
		    s->half != HALF_WAIT_OVER &&
		    n->srv->cfg->eof_wait_ms > 0) {
			/*
			 * Not a wsbridge server: a close now would cut off
			 * the answers to what we sent (websocketd's, an echo
			 * server's). Wait for its close, or for it to go quiet.
			 */
			wait = s->half == HALF_NONE;
			half_wait(s);
		} else if (s->output == OUTPUT_DONE)
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
	if (wait) {
		log_debug("session=%llu end of input: waiting for the server",
		    (unsigned long long)s->id);
		net_eof_wait_arm(n, wsi);
	}
	if (close_now)
		return net_send_close(s, wsi, code, reason);
	return eof ? 0 : 1;
}

/* LWS_CALLBACK_CLIENT_WRITEABLE. */
static int
net_client_writable(struct net *n, struct session *s)
{
	int	 r;

	if (s->close == CLOSE_BY_LWS)
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

	if (close_is_out(s))
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
	close_by_lws(s);	/* lws echoes it: nothing may follow */
	return 0;
}

/*
 * An unsolicited pong carrying this payload is a wsbridge client's EOF: its
 * stdin ended, but it still wants the answer and the exit status. Any other
 * server ignores such a pong, as RFC 6455 5.5.3 allows.
 */
void
net_pong(struct session *s, const void *in, size_t len)
{
	if (!s->half_close || len != strlen(HALF_CLOSE_EOF) ||
	    memcmp(in, HALF_CLOSE_EOF, len) != 0)
		return;
	session_lock(s);
	input_end(s);
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
bool
net_ping_timed_out(struct net *n, struct session *s)
{
	return n->idle_policy.secs_since_valid_hangup > 0 &&
	    mono_sec() - s->last_rx >= n->idle_policy.secs_since_valid_hangup;
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
	char	 v[8], proto[64];
	int	 n;

	/* lws keeps unknown response headers by lower-case name. */
	n = lws_hdr_custom_copy(wsi, v, sizeof v, "wsbridge-half-close:",
	    (int)strlen("wsbridge-half-close:"));
	s->half_close = n > 0 && strcmp(v, "1") == 0;
	log_debug("session=%llu half-close %s", (unsigned long long)s->id,
	    s->half_close ? "agreed" : "not offered by the server");
	/* Before the upgrade, as half_close: main reads it after. */
	s->pty_agreed = lws_hdr_copy(wsi, proto, sizeof proto,
	    WSI_TOKEN_PROTOCOL) > 0 && strcmp(proto, PTY_SUBPROTOCOL) == 0;
}

static void
net_client_failed(struct session *s, const char *why)
{
	char	 reason[CLOSE_REASON_MAX + 1];

	snprintf(reason, sizeof reason, "cannot connect: %s",
	    why != NULL ? why : "unknown error");
	session_lock(s);
	session_set_close(s, CLOSED_NETWORK, 1006, reason);
	session_gone(s);
	session_unlock(s);
	s->wsi = NULL;
	session_wake_main(s);
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
	case LWS_CALLBACK_TIMER:
		net_eof_wait_over(s, wsi);
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
int
net_connect(struct net *n, struct session *s)
{
	const struct config		*cfg = n->srv->cfg;
	struct lws_client_connect_info	 i;
	struct url			 u;
	char				 host[300], protos[1024];
	size_t				 k, off = 0;
	bool				 gone;

	if (url_parse(n->srv->dial_url != NULL ? n->srv->dial_url :
	    cfg->connect_url, &u) != 0)
		return -1;
	if (strchr(u.host, ':') != NULL)
		snprintf(host, sizeof host, "[%s]", u.host);
	else
		snprintf(host, sizeof host, "%s", u.host);
	if (u.port != (u.tls ? 443 : 80))
		snprintf(host + strlen(host), sizeof host - strlen(host),
		    ":%d", u.port);
	protos[0] = '\0';
	/* First, so that a server with --protocol too picks it. */
	if (cfg->pty)
		off = (size_t)snprintf(protos, sizeof protos, "%s",
		    PTY_SUBPROTOCOL);
	for (k = 0; k < cfg->nprotocols && off < sizeof protos; k++)
		off += (size_t)snprintf(protos + off, sizeof protos - off,
		    "%s%s", off ? "," : "", cfg->protocols[k]);
	memset(&i, 0, sizeof i);
	i.context = n->ctx;
	i.vhost = n->vh;
	i.address = u.host;
	i.port = u.port;
	i.path = u.path;
	i.host = host;
	/* Not i.origin: lws 4.1 would prefix it with "http://". */
	i.protocol = protos[0] != '\0' ? protos : NULL;
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
		gone = session_is_gone(s);
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
int
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
