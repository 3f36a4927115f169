/*
 * wsload: a small WebSocket load generator for the wsbridge benchmarks.
 *
 * One thread, epoll, non-blocking sockets, its own client framing (RFC 6455,
 * masked frames, SHA-1 checked handshake). Loopback use only: it connects to
 * --host (an IPv4 literal, default 127.0.0.1).
 *
 * Scenarios (each prints ONE line of key=value pairs on stdout):
 *   spawn    --count N sessions, --conns C at a time; each does the handshake,
 *            one echo round trip, a clean close (close frame sent, close
 *            frame received, then the server's FIN). -> rate (sessions/s)
 *   echo     --conns C connections each sending --count M messages of
 *            --size S bytes, at most --window W outstanding per connection.
 *            Timed from "all C open" to "last byte echoed". -> msg_rate,
 *            mb_rate (payload MB/s one way, 1 MB = 1e6 bytes)
 *   latency  one connection, --warmup then --count K ping-pong round trips
 *            of --size bytes. -> p50_us, p90_us, p99_us, ...
 *   idle     --count N sessions opened (--conns handshakes in flight), each
 *            verified by one echo, held; then the server (--server-pid) is
 *            measured: RSS, fds, threads, children (PPid == server or its
 *            spawner, whose CPU, RSS and fds count as the server's) and
 *            their RSS; then every session echoes once more ("served"), all
 *            are closed, and the server's fd count / children are watched
 *            until they return to the baseline (--drain-ms).
 *   scale    the same as idle, meant for large N (default 10000).
 *   hold     --count N sessions opened and verified as in idle, then held
 *            open while other tools measure the server on the side: prints
 *            one "phase=ready" line (flushed) once all are open (after
 *            --settle-ms, and, with --idle-ms M and --server-pid, after
 *            measuring the server's CPU over M ms with nothing happening),
 *            then waits for SIGTERM/SIGINT or --seconds S, whichever is
 *            first; then every session echoes once more ("served"), all are
 *            closed, the server is watched until it returns to its baseline
 *            (--drain-ms), and a "phase=done" line is printed.
 *
 * --binary sends binary frames and checks the echo as a byte stream (the
 * server may re-chunk); otherwise text frames, each echoed message must be
 * exactly the message sent (line mode through `cat`).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* options */

enum scen { SC_SPAWN, SC_ECHO, SC_LATENCY, SC_IDLE, SC_SCALE, SC_HOLD };
static const char *scen_names[] = { "spawn", "echo", "latency", "idle", "scale",
    "hold" };
#define NSCEN ((int)(sizeof(scen_names) / sizeof(scen_names[0])))

static struct {
	enum scen	 scen;
	const char	*host;
	int		 port;
	const char	*path;
	const char	*header;	/* --header: one more request line */
	long		 conns;
	long		 count;
	long		 size;
	long		 window;
	long		 warmup;
	int		 binary;
	long		 timeout_ms;
	long		 max_seconds;
	long		 server_pid;
	long		 settle_ms;
	long		 hold_ms;
	long		 drain_ms;
	long		 max_fail;
	long		 hold_seconds;
	long		 idle_ms;
	int		 verbose;
} opt = {
	.host = "127.0.0.1", .port = 0, .path = "/",
	.conns = -1, .count = -1, .size = -1, .window = 16, .warmup = 200,
	.timeout_ms = 15000, .max_seconds = 300, .server_pid = 0,
	.settle_ms = 1000, .hold_ms = 0, .drain_ms = 15000, .max_fail = 100,
	.hold_seconds = 600, .idle_ms = 0,
};

/* ------------------------------------------------------------------ */
/* small utilities */

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *, ...)
    __attribute__((format(printf, 1, 2), noreturn));

static void
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "wsload: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static uint64_t rng_state;

static uint64_t
rng(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array. */
static uint64_t
pct(const uint64_t *v, size_t n, double p)
{
	size_t i;

	if (n == 0)
		return 0;
	i = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (i < 1)
		i = 1;
	if (i > n)
		i = n;
	return v[i - 1];
}

/* ------------------------------------------------------------------ */
/* SHA-1 and base64, for Sec-WebSocket-Accept */

static uint32_t
rol(uint32_t x, int n)
{
	return (x << n) | (x >> (32 - n));
}

static void
sha1_block(uint32_t h[5], const unsigned char *p)
{
	uint32_t w[80], a, b, c, d, e, f, k, t;
	int i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		    (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (i = 16; i < 80; i++)
		w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	a = h[0]; b = h[1]; c = h[2]; d = h[3]; e = h[4];
	for (i = 0; i < 80; i++) {
		if (i < 20) {
			f = (b & c) | (~b & d); k = 0x5A827999;
		} else if (i < 40) {
			f = b ^ c ^ d; k = 0x6ED9EBA1;
		} else if (i < 60) {
			f = (b & c) | (b & d) | (c & d); k = 0x8F1BBCDC;
		} else {
			f = b ^ c ^ d; k = 0xCA62C1D6;
		}
		t = rol(a, 5) + f + e + k + w[i];
		e = d; d = c; c = rol(b, 30); b = a; a = t;
	}
	h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e;
}

static void
sha1(const void *data, size_t len, unsigned char out[20])
{
	uint32_t h[5] = { 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476,
	    0xC3D2E1F0 };
	const unsigned char *p = data;
	unsigned char blk[128];
	size_t i, rem, tail;
	uint64_t bits = (uint64_t)len * 8;

	for (i = 0; i + 64 <= len; i += 64)
		sha1_block(h, p + i);
	rem = len - i;
	memset(blk, 0, sizeof(blk));
	memcpy(blk, p + i, rem);
	blk[rem] = 0x80;
	tail = rem + 1 + 8 <= 64 ? 64 : 128;
	for (i = 0; i < 8; i++)
		blk[tail - 1 - i] = (unsigned char)(bits >> (8 * i));
	sha1_block(h, blk);
	if (tail == 128)
		sha1_block(h, blk + 64);
	for (i = 0; i < 5; i++) {
		out[4 * i] = (unsigned char)(h[i] >> 24);
		out[4 * i + 1] = (unsigned char)(h[i] >> 16);
		out[4 * i + 2] = (unsigned char)(h[i] >> 8);
		out[4 * i + 3] = (unsigned char)h[i];
	}
}

static void
b64(const unsigned char *in, size_t n, char *out)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i;
	uint32_t v;

	for (i = 0; i + 2 < n; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		*out++ = tab[v >> 18]; *out++ = tab[(v >> 12) & 63];
		*out++ = tab[(v >> 6) & 63]; *out++ = tab[v & 63];
	}
	if (n - i == 1) {
		v = (uint32_t)in[i] << 16;
		*out++ = tab[v >> 18]; *out++ = tab[(v >> 12) & 63];
		*out++ = '='; *out++ = '=';
	} else if (n - i == 2) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		*out++ = tab[v >> 18]; *out++ = tab[(v >> 12) & 63];
		*out++ = tab[(v >> 6) & 63]; *out++ = '=';
	}
	*out = '\0';
}

/* ------------------------------------------------------------------ */
/* errors, counted by kind */

enum err {
	E_CONNECT, E_HS_STATUS, E_HS_ACCEPT, E_HS_EOF, E_PROTO, E_EOF,
	E_RESET, E_TIMEOUT, E_SRV_CLOSE, E_MISMATCH, E_NR
};
static const char *err_names[] = {
	"connect", "hs_status", "hs_accept", "hs_eof", "proto", "eof",
	"reset", "timeout", "server_close", "mismatch"
};
static long err_count[E_NR];
static int err_reported;

/* ------------------------------------------------------------------ */
/* connections */

enum cstate {
	CS_FREE, CS_CONNECTING, CS_HS_RECV, CS_OPEN, CS_CLOSE_SENT, CS_WAIT_EOF
};

struct conn {
	int		 fd;
	uint32_t	 slot, gen;
	enum cstate	 state;
	int		 epout;		/* EPOLLOUT registered */
	/* output */
	unsigned char	*wb;
	size_t		 wlen, woff, wcap;
	/* handshake */
	char		*hs;
	size_t		 hslen;
	char		 accept[32];
	/* frame parser */
	unsigned char	 fh[14];
	unsigned	 fhlen, fhneed;
	uint64_t	 fleft;
	int		 fop, ffin, in_payload;
	unsigned char	 ctl[125];
	unsigned	 ctllen;
	uint64_t	 msglen;	/* bytes of the current message */
	int		 close_rcvd, close_code;
	/* scenario */
	uint64_t	 tx_msgs, rx_msgs, rx_frames, tx_bytes, rx_bytes;
	uint64_t	 rx_off;	/* verification offset in the pattern */
	uint64_t	 t0, t_sent, deadline;
	int		 phase;
	int		 done;		/* scenario work finished */
	int		 pend_err;	/* failure to report from the loop */
	char		 pend_msg[80];
};

static int epfd;
static struct conn *conns;
static uint32_t nslots;
static uint32_t *freelist;
static uint32_t nfree;
static long nlive;

static struct sockaddr_in srv_addr;
static unsigned char *pattern;	/* 2 * size bytes: payload pattern, twice */
static size_t psize;
static unsigned char rbuf[256 * 1024];
static volatile sig_atomic_t got_signal;

/* Scenario hooks. */
static void (*on_open)(struct conn *);
static void (*on_msg_end)(struct conn *);
static void (*on_closed)(struct conn *, int ok);
static void (*on_read_done)(struct conn *);	/* after each read's frames */

static void conn_fail(struct conn *, enum err, const char *, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * A connection that fails inside conn_new() is reported from the event loop,
 * not at once: the scenario's on_closed would start another one, recursing.
 */
static uint32_t *pending;
static uint32_t npending;

static void
defer_fail(struct conn *c, enum err e, const char *what, int errnum)
{
	c->pend_err = (int)e + 1;
	snprintf(c->pend_msg, sizeof(c->pend_msg), "%s: %s", what,
	    strerror(errnum));
	pending[npending++] = c->slot;
}

static void
process_pending(void)
{
	while (npending > 0) {
		struct conn *c = &conns[pending[--npending]];

		if (c->state != CS_FREE && c->pend_err)
			conn_fail(c, (enum err)(c->pend_err - 1), "%s",
			    c->pend_msg);
	}
}

static void
set_events(struct conn *c, int out)
{
	struct epoll_event ev;

	if (c->epout == out)
		return;
	ev.events = EPOLLIN | (out ? EPOLLOUT : 0);
	ev.data.u64 = (uint64_t)c->gen << 32 | c->slot;
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) == -1)
		die("epoll_ctl: %s", strerror(errno));
	c->epout = out;
}

static void
conn_free(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);	/* also removes it from epoll */
	free(c->wb);
	free(c->hs);
	c->wb = NULL;
	c->hs = NULL;
	c->fd = -1;
	c->state = CS_FREE;
	c->gen++;
	freelist[nfree++] = c->slot;
	nlive--;
}

static void
conn_finish(struct conn *c, int ok)
{
	conn_free(c);
	if (on_closed)
		on_closed(c, ok);
}

static void
conn_fail(struct conn *c, enum err e, const char *fmt, ...)
{
	va_list ap;

	err_count[e]++;
	if (opt.verbose || err_reported < 5) {
		fprintf(stderr, "wsload: conn %u: %s: ", c->slot, err_names[e]);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
		err_reported++;
	}
	conn_finish(c, 0);
}

static void
wb_reserve(struct conn *c, size_t extra)
{
	size_t need;

	if (c->woff > 0 && c->woff == c->wlen)
		c->woff = c->wlen = 0;
	need = c->wlen + extra;
	if (need <= c->wcap)
		return;
	if (c->woff > 0) {
		memmove(c->wb, c->wb + c->woff, c->wlen - c->woff);
		c->wlen -= c->woff;
		c->woff = 0;
		need = c->wlen + extra;
		if (need <= c->wcap)
			return;
	}
	if (c->wcap == 0)
		c->wcap = 256;
	while (c->wcap < need)
		c->wcap *= 2;
	c->wb = realloc(c->wb, c->wcap);
	if (c->wb == NULL)
		die("out of memory");
}

static void
wb_put(struct conn *c, const void *p, size_t n)
{
	wb_reserve(c, n);
	memcpy(c->wb + c->wlen, p, n);
	c->wlen += n;
}

/* Appends one masked frame. */
static void
queue_frame(struct conn *c, int opcode, const unsigned char *p, size_t n)
{
	unsigned char *h;
	size_t hl, i;
	uint32_t key = (uint32_t)rng();
	uint64_t k64;
	unsigned char km[4];

	wb_reserve(c, n + 14);
	h = c->wb + c->wlen;
	h[0] = (unsigned char)(0x80 | opcode);
	if (n < 126) {
		h[1] = (unsigned char)(0x80 | n);
		hl = 2;
	} else if (n < 65536) {
		h[1] = 0x80 | 126;
		h[2] = (unsigned char)(n >> 8);
		h[3] = (unsigned char)n;
		hl = 4;
	} else {
		h[1] = 0x80 | 127;
		for (i = 0; i < 8; i++)
			h[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
		hl = 10;
	}
	memcpy(h + hl, &key, 4);
	memcpy(km, &key, 4);
	hl += 4;
	h += hl;
	k64 = (uint64_t)key << 32 | key;	/* same 4 bytes twice */
	for (i = 0; i + 8 <= n; i += 8) {
		uint64_t v;

		memcpy(&v, p + i, 8);
		v ^= k64;
		memcpy(h + i, &v, 8);
	}
	for (; i < n; i++)
		h[i] = p[i] ^ km[i & 3];
	c->wlen += hl + n;
}

/* Writes what it can; returns -1 if the connection was failed. */
static int
conn_flush(struct conn *c)
{
	ssize_t r;

	while (c->woff < c->wlen) {
		r = write(c->fd, c->wb + c->woff, c->wlen - c->woff);
		if (r > 0) {
			c->woff += (size_t)r;
			continue;
		}
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			set_events(c, 1);
			return 0;
		}
		conn_fail(c, E_RESET, "write: %s", strerror(errno));
		return -1;
	}
	c->woff = c->wlen = 0;
	set_events(c, 0);
	return 0;
}

static void
send_close(struct conn *c, int code)
{
	unsigned char p[2] = { (unsigned char)(code >> 8), (unsigned char)code };

	queue_frame(c, 8, p, 2);
	if (c->state == CS_OPEN)
		c->state = c->close_rcvd ? CS_WAIT_EOF : CS_CLOSE_SENT;
	c->deadline = now_ns() + (uint64_t)opt.timeout_ms * 1000000ull;
}

static struct conn *
conn_new(void)
{
	struct conn *c;
	struct epoll_event ev;
	unsigned char key[16];
	char keyb64[32], buf[64];
	char tmp[128];
	unsigned char dig[20];
	int fd, one = 1;
	size_t i;

	if (nfree == 0)
		die("internal: no free slot");
	c = &conns[freelist[--nfree]];
	nlive++;
	{
		uint32_t slot = c->slot, gen = c->gen;

		memset(c, 0, sizeof(*c));
		c->slot = slot;
		c->gen = gen;
		c->fd = -1;
	}
	c->t0 = now_ns();
	c->deadline = c->t0 + (uint64_t)opt.timeout_ms * 1000000ull;
	c->close_code = -1;

	c->state = CS_CONNECTING;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		defer_fail(c, E_CONNECT, "socket", errno);
		return NULL;
	}
	c->fd = fd;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	ev.events = EPOLLIN | EPOLLOUT;
	ev.data.u64 = (uint64_t)c->gen << 32 | c->slot;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == -1)
		die("epoll_ctl add: %s", strerror(errno));
	c->epout = 1;
	c->state = CS_CONNECTING;

	for (i = 0; i < 16; i++)
		key[i] = (unsigned char)rng();
	b64(key, 16, keyb64);
	snprintf(tmp, sizeof(tmp), "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11",
	    keyb64);
	sha1(tmp, strlen(tmp), dig);
	b64(dig, 20, c->accept);
	snprintf(buf, sizeof(buf), "%s:%d", opt.host, opt.port);
	{
		char req[1024];
		int n = snprintf(req, sizeof(req),
		    "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
		    "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
		    "Sec-WebSocket-Version: 13\r\nUser-Agent: wsload\r\n"
		    "%s%s\r\n",
		    opt.path, buf, keyb64, opt.header ? opt.header : "",
		    opt.header ? "\r\n" : "");
		if (n < 0 || (size_t)n >= sizeof(req))
			die("path too long");
		wb_put(c, req, (size_t)n);
	}
	if (connect(fd, (struct sockaddr *)&srv_addr, sizeof(srv_addr)) == -1 &&
	    errno != EINPROGRESS) {
		defer_fail(c, E_CONNECT, "connect", errno);
		return NULL;
	}
	return c;
}

/* Deliver payload bytes of a data frame to the scenario: checks them. */
static int
check_data(struct conn *c, const unsigned char *p, size_t n)
{
	size_t off, k;

	c->rx_bytes += n;
	c->msglen += n;
	while (n > 0) {
		off = (size_t)(c->rx_off % psize);
		k = n < psize ? n : psize;
		if (memcmp(p, pattern + off, k) != 0) {
			conn_fail(c, E_MISMATCH, "echoed bytes differ at %" PRIu64,
			    c->rx_off);
			return -1;
		}
		c->rx_off += k;
		p += k;
		n -= k;
	}
	return 0;
}

/* Returns -1 if the connection is gone. */
static int
handle_control(struct conn *c)
{
	switch (c->fop) {
	case 8:	/* close */
		c->close_rcvd = 1;
		c->close_code = c->ctllen >= 2 ? (c->ctl[0] << 8 | c->ctl[1]) :
		    1005;
		if (c->state == CS_OPEN) {
			/* The server closed first: a failure for every scenario. */
			conn_fail(c, E_SRV_CLOSE, "server sent close %d \"%.*s\"",
			    c->close_code, c->ctllen > 2 ? (int)c->ctllen - 2 : 0,
			    c->ctl + 2);
			return -1;
		}
		c->state = CS_WAIT_EOF;
		return 0;
	case 9:	/* ping */
		queue_frame(c, 10, c->ctl, c->ctllen);
		return conn_flush(c);
	case 10:
		return 0;
	default:
		conn_fail(c, E_PROTO, "unknown control opcode %d", c->fop);
		return -1;
	}
}

/* Frame parser over received bytes. Returns -1 if the connection is gone. */
static int
parse_frames(struct conn *c, const unsigned char *p, size_t n)
{
	size_t k;
	uint32_t gen = c->gen;

	while (n > 0) {
		if (!c->in_payload) {
			if (c->fhlen < 2) {
				c->fh[c->fhlen++] = *p++;
				n--;
				if (c->fhlen == 2) {
					int l7 = c->fh[1] & 0x7f;

					if (c->fh[1] & 0x80) {
						conn_fail(c, E_PROTO,
						    "masked frame from server");
						return -1;
					}
					c->fhneed = 2 + (l7 == 126 ? 2 :
					    l7 == 127 ? 8 : 0);
				} else
					continue;
			} else {
				c->fh[c->fhlen++] = *p++;
				n--;
			}
			if (c->fhlen < c->fhneed)
				continue;
			/* header complete */
			c->fop = c->fh[0] & 0x0f;
			c->ffin = c->fh[0] >> 7;
			{
				int l7 = c->fh[1] & 0x7f;
				uint64_t len = (uint64_t)l7;
				unsigned i;

				if (l7 == 126)
					len = (uint64_t)c->fh[2] << 8 | c->fh[3];
				else if (l7 == 127)
					for (len = 0, i = 0; i < 8; i++)
						len = len << 8 | c->fh[2 + i];
				c->fleft = len;
			}
			c->fhlen = 0;
			c->in_payload = 1;
			c->ctllen = 0;
			if (c->fop >= 8) {
				if (c->fleft > 125 || !c->ffin) {
					conn_fail(c, E_PROTO, "bad control frame");
					return -1;
				}
			} else if (c->fop != 0 && c->fop != 1 && c->fop != 2) {
				conn_fail(c, E_PROTO, "bad opcode %d", c->fop);
				return -1;
			} else if (c->fop != 0)
				c->msglen = 0;
			c->rx_frames += c->fop < 8;
		}
		k = n < c->fleft ? n : (size_t)c->fleft;
		if (k > 0) {
			if (c->fop >= 8) {
				memcpy(c->ctl + c->ctllen, p, k);
				c->ctllen += (unsigned)k;
			} else if (check_data(c, p, k) == -1)
				return -1;
			p += k;
			n -= k;
			c->fleft -= k;
		}
		if (c->fleft == 0) {
			c->in_payload = 0;
			if (c->fop >= 8) {
				if (handle_control(c) == -1)
					return -1;
			} else if (c->ffin) {
				if (c->state == CS_OPEN && on_msg_end) {
					on_msg_end(c);
					if (c->gen != gen || c->state == CS_FREE)
						return -1;
				}
				c->msglen = 0;
			}
		}
	}
	return 0;
}

static int
handle_handshake(struct conn *c, const unsigned char *p, size_t n)
{
	char *end, *line, *next;
	size_t hl;
	int got = 0;

	c->hs = realloc(c->hs, c->hslen + n + 1);
	if (c->hs == NULL)
		die("out of memory");
	memcpy(c->hs + c->hslen, p, n);
	c->hslen += n;
	c->hs[c->hslen] = '\0';
	end = memmem(c->hs, c->hslen, "\r\n\r\n", 4);
	if (end == NULL) {
		if (c->hslen > 16384) {
			conn_fail(c, E_HS_STATUS, "response header too long");
			return -1;
		}
		return 0;
	}
	hl = (size_t)(end - c->hs) + 4;
	*end = '\0';
	if (strncmp(c->hs, "HTTP/1.1 101", 12) != 0) {
		char *eol = strstr(c->hs, "\r\n");

		if (eol)
			*eol = '\0';
		conn_fail(c, E_HS_STATUS, "handshake answer: %.80s", c->hs);
		return -1;
	}
	for (line = strstr(c->hs, "\r\n"); line != NULL; line = next) {
		line += 2;
		next = strstr(line, "\r\n");
		if (next)
			*next = '\0';
		if (strncasecmp(line, "Sec-WebSocket-Accept:", 21) == 0) {
			char *v = line + 21;

			while (*v == ' ' || *v == '\t')
				v++;
			if (strncmp(v, c->accept, 28) != 0) {
				conn_fail(c, E_HS_ACCEPT, "bad accept %s", v);
				return -1;
			}
			got = 1;
		}
	}
	if (!got) {
		conn_fail(c, E_HS_ACCEPT, "no Sec-WebSocket-Accept");
		return -1;
	}
	c->state = CS_OPEN;
	{
		size_t extra = c->hslen - hl;
		unsigned char *rest = NULL;
		uint32_t gen = c->gen;

		if (extra > 0) {
			rest = malloc(extra);
			if (rest == NULL)
				die("out of memory");
			memcpy(rest, c->hs + hl, extra);
		}
		free(c->hs);
		c->hs = NULL;
		c->hslen = 0;
		c->deadline = now_ns() + (uint64_t)opt.timeout_ms * 1000000ull;
		if (on_open)
			on_open(c);
		if (c->gen != gen || c->state == CS_FREE) {
			free(rest);
			return -1;
		}
		if (extra > 0) {
			int r = parse_frames(c, rest, extra);

			free(rest);
			if (r == -1)
				return -1;
		}
	}
	return 0;
}

static void
handle_readable(struct conn *c)
{
	ssize_t r;
	int rounds = 0;
	uint32_t gen = c->gen;

	while (rounds++ < 8) {
		r = read(c->fd, rbuf, sizeof(rbuf));
		if (r > 0) {
			int rc;

			if (c->state == CS_HS_RECV)
				rc = handle_handshake(c, rbuf, (size_t)r);
			else
				rc = parse_frames(c, rbuf, (size_t)r);
			if (rc == -1 || c->gen != gen || c->state == CS_FREE)
				return;
			if (on_read_done) {
				on_read_done(c);
				if (c->gen != gen || c->state == CS_FREE)
					return;
			}
			if ((size_t)r < sizeof(rbuf))
				return;
			continue;
		}
		if (r == 0) {
			if (c->state == CS_WAIT_EOF) {
				conn_finish(c, 1);
				return;
			}
			if (c->state == CS_HS_RECV)
				conn_fail(c, E_HS_EOF, "EOF during handshake");
			else
				conn_fail(c, E_EOF, "EOF in state %d (close %d)",
				    c->state, c->close_code);
			return;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		if (c->state == CS_WAIT_EOF && errno == ECONNRESET) {
			/* close handshake completed, then RST: counts as clean */
			conn_finish(c, 1);
			return;
		}
		conn_fail(c, c->state == CS_HS_RECV ? E_HS_EOF : E_RESET,
		    "read: %s (state %d)", strerror(errno), c->state);
		return;
	}
}

static void
handle_event(struct conn *c, uint32_t ev)
{
	uint32_t gen = c->gen;

	if (c->state == CS_CONNECTING) {
		int err = 0;
		socklen_t el = sizeof(err);

		if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err != 0) {
			conn_fail(c, E_CONNECT, "connect: %s", strerror(err));
			return;
		}
		c->state = CS_HS_RECV;
		if (conn_flush(c) == -1)
			return;
		return;
	}
	if (ev & EPOLLOUT) {
		if (conn_flush(c) == -1)
			return;
	}
	if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		if (c->gen == gen && c->state != CS_FREE)
			handle_readable(c);
	}
}

static void
sweep_timeouts(void)
{
	uint64_t t = now_ns();
	uint32_t i;

	for (i = 0; i < nslots; i++) {
		struct conn *c = &conns[i];

		if (c->state == CS_FREE || c->deadline == 0 || t < c->deadline)
			continue;
		conn_fail(c, E_TIMEOUT, "timeout in state %d (phase %d)",
		    c->state, c->phase);
	}
}

/*
 * Runs the event loop until *stop is set, the deadline passes or a signal
 * arrives. Returns 0 if stopped by *stop.
 */
static int
run_loop(volatile int *stop, uint64_t until)
{
	struct epoll_event evs[512];
	uint64_t last_sweep = now_ns();
	int n, i, tmo;

	for (;;) {
		uint64_t t = now_ns();

		process_pending();
		if (*stop)
			break;
		if (got_signal)
			return -1;
		if (until && t >= until)
			return -1;
		tmo = 50;
		if (until && (until - t) / 1000000ull < (uint64_t)tmo)
			tmo = (int)((until - t) / 1000000ull) + 1;
		n = epoll_wait(epfd, evs, 512, tmo);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			die("epoll_wait: %s", strerror(errno));
		}
		for (i = 0; i < n; i++) {
			uint32_t slot = (uint32_t)evs[i].data.u64;
			uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);
			struct conn *c = &conns[slot];

			if (c->gen != gen || c->state == CS_FREE)
				continue;
			handle_event(c, evs[i].events);
		}
		t = now_ns();
		if (t - last_sweep >= 100000000ull) {
			sweep_timeouts();
			last_sweep = t;
		}
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* server process statistics from /proc */

struct srvstat {
	long	 rss_kb, fds, threads, children, kids_rss_kb;
	int	 ok;
};

static long
status_field(const char *buf, const char *name)
{
	const char *p = strstr(buf, name);

	if (p == NULL)
		return -1;
	p += strlen(name);
	return strtol(p, NULL, 10);
}

/* A small /proc file, NUL-terminated in buf; -1 if it cannot be read. */
static int
read_text(const char *path, char *buf, size_t size)
{
	ssize_t r;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	r = read(fd, buf, size - 1);
	close(fd);
	if (r <= 0)
		return -1;
	buf[r] = '\0';
	return 0;
}

/*
 * Field n (numbered as in proc(5), n >= 3) of a /proc/PID/stat line; the
 * command name before it may hold spaces, so counting starts after ")".
 */
static long
stat_field(const char *buf, int n)
{
	const char *tok = strrchr(buf, ')');
	int field;

	if (tok == NULL)
		return -1;
	for (field = 3, tok += 2; field < n && tok != NULL; field++)
		if ((tok = strchr(tok, ' ')) != NULL)
			tok++;
	return tok != NULL ? strtol(tok, NULL, 10) : -1;
}

/*
 * CPU time of the server (all threads) and of its children it has reaped, in
 * milliseconds; -1 when unknown.
 */
struct cpu {
	double	 self_ms, kids_ms;
};

/*
 * wsbridge's spawner (a child named wsbridge-spawn) spawns and reaps the
 * children for the server: its CPU, fds and RSS count as the server's, and
 * its children as the server's children. 0 when there is none.
 */
static long
server_helper(void)
{
	char path[300], buf[4096];
	DIR *d;
	struct dirent *de;
	long pid, found = 0;

	if (opt.server_pid <= 0 || (d = opendir("/proc")) == NULL)
		return 0;
	while (found == 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		pid = strtol(de->d_name, NULL, 10);
		snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
		if (read_text(path, buf, sizeof(buf)) == -1 ||
		    stat_field(buf, 4) != opt.server_pid)
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
		if (read_text(path, buf, sizeof(buf)) != -1 &&
		    strncmp(buf, "wsbridge-spawn", 14) == 0)
			found = pid;
	}
	closedir(d);
	return found;
}

/* Nanoseconds on CPU of every thread of pid, or -1. */
static double
task_cpu_ns(long pid)
{
	char path[64], p2[400], buf[256];
	DIR *d;
	struct dirent *de;
	double ns = 0;
	int ok = 0;

	snprintf(path, sizeof(path), "/proc/%ld/task", pid);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(p2, sizeof(p2), "%s/%s/schedstat", path, de->d_name);
		if (read_text(p2, buf, sizeof(buf)) == -1)
			continue;
		ns += strtod(buf, NULL);
		ok = 1;
	}
	closedir(d);
	return ok ? ns : -1;
}

static void
read_cpu(struct cpu *c)
{
	char path[64], buf[2048];
	double tick = (double)sysconf(_SC_CLK_TCK), ns;
	long helper;

	c->self_ms = c->kids_ms = -1;
	if (opt.server_pid <= 0)
		return;
	snprintf(path, sizeof(path), "/proc/%ld/stat", opt.server_pid);
	if (read_text(path, buf, sizeof(buf)) == -1 || strrchr(buf, ')') == NULL)
		return;
	/* fields 14-17: utime stime cutime cstime */
	c->self_ms = (double)(stat_field(buf, 14) + stat_field(buf, 15)) *
	    1000.0 / tick;
	c->kids_ms = (double)(stat_field(buf, 16) + stat_field(buf, 17)) *
	    1000.0 / tick;

	/* finer: nanoseconds on CPU, summed over the live threads */
	if ((ns = task_cpu_ns(opt.server_pid)) >= 0)
		c->self_ms = ns / 1e6;
	/* the spawner's work is the server's; its reaped children too */
	if ((helper = server_helper()) == 0)
		return;
	if ((ns = task_cpu_ns(helper)) >= 0)
		c->self_ms += ns / 1e6;
	snprintf(path, sizeof(path), "/proc/%ld/stat", helper);
	if (read_text(path, buf, sizeof(buf)) != -1 && strrchr(buf, ')'))
		c->kids_ms += (double)(stat_field(buf, 16) +
		    stat_field(buf, 17)) * 1000.0 / tick;
}

static void
print_cpu(const struct cpu *a, const struct cpu *b, double units,
    const char *per)
{
	if (a->self_ms < 0 || b->self_ms < 0)
		return;
	printf(" server_cpu_ms=%.1f reaped_kids_cpu_ms=%.0f",
	    b->self_ms - a->self_ms, b->kids_ms - a->kids_ms);
	if (units > 0)
		printf(" server_cpu_us_per_%s=%.2f", per,
		    (b->self_ms - a->self_ms) * 1000.0 / units);
}

static void
read_srvstat(struct srvstat *s, int with_kids)
{
	char path[300], buf[4096];
	DIR *d;
	struct dirent *de;
	long page = sysconf(_SC_PAGESIZE) / 1024, helper, parent;

	memset(s, 0, sizeof(*s));
	if (opt.server_pid <= 0)
		return;
	snprintf(path, sizeof(path), "/proc/%ld/status", opt.server_pid);
	if (read_text(path, buf, sizeof(buf)) == -1)
		return;
	s->rss_kb = status_field(buf, "\nVmRSS:");
	s->threads = status_field(buf, "\nThreads:");
	snprintf(path, sizeof(path), "/proc/%ld/fd", opt.server_pid);
	d = opendir(path);
	if (d != NULL) {
		while ((de = readdir(d)) != NULL)
			if (de->d_name[0] != '.')
				s->fds++;
		closedir(d);
	}
	s->ok = 1;
	if ((helper = server_helper()) != 0) {
		snprintf(path, sizeof(path), "/proc/%ld/status", helper);
		if (read_text(path, buf, sizeof(buf)) != -1)
			s->rss_kb += status_field(buf, "\nVmRSS:");
		snprintf(path, sizeof(path), "/proc/%ld/fd", helper);
		if ((d = opendir(path)) != NULL) {
			while ((de = readdir(d)) != NULL)
				if (de->d_name[0] != '.')
					s->fds++;
			closedir(d);
		}
	}
	if (!with_kids)
		return;
	d = opendir("/proc");
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		if (read_text(path, buf, sizeof(buf)) == -1)
			continue;
		/* field 4 is the parent, field 24 the RSS in pages */
		parent = stat_field(buf, 4);
		if ((parent == opt.server_pid && atol(de->d_name) != helper) ||
		    (helper != 0 && parent == helper)) {
			s->children++;
			s->kids_rss_kb += stat_field(buf, 24) * page;
		}
	}
	closedir(d);
}

/*
 * After the sessions closed: waits (at most --drain-ms) for the server to
 * be back at its baseline of fds and children; returns how long it took,
 * or -1 with no baseline.
 */
static long
wait_drain(const struct srvstat *base, struct srvstat *after)
{
	uint64_t	 t0 = now_ns();

	read_srvstat(after, 1);
	if (!base->ok)
		return -1;
	while (after->ok && (after->children > base->children ||
	    after->fds > base->fds) && !got_signal &&
	    now_ns() - t0 < (uint64_t)opt.drain_ms * 1000000ull) {
		usleep(50000);
		read_srvstat(after, 1);
	}
	return (long)((now_ns() - t0) / 1000000ull);
}

/* ------------------------------------------------------------------ */
/* scenario: spawn */

static long sp_started, sp_done, sp_ok;
static int sp_stop;
static uint64_t *sp_durs;

static void
sp_launch(void)
{
	while (nlive < opt.conns && sp_started < opt.count && !got_signal) {
		sp_started++;
		conn_new();	/* failures come back through on_closed */
	}
}

static void
sp_open(struct conn *c)
{
	queue_frame(c, opt.binary ? 2 : 1, pattern, psize);
	c->tx_msgs++;
	conn_flush(c);
}

static void
sp_msg_end(struct conn *c)
{
	if (!opt.binary && c->msglen != psize) {
		conn_fail(c, E_MISMATCH, "echo of %" PRIu64 " bytes, sent %zu",
		    c->msglen, psize);
		return;
	}
	if (c->rx_bytes < psize)
		return;
	c->done = 1;
	send_close(c, 1000);
	conn_flush(c);
}

static void
sp_closed(struct conn *c, int ok)
{
	if (ok && c->done) {
		sp_durs[sp_ok++] = now_ns() - c->t0;
	} else if (ok) {
		err_count[E_EOF]++;
	}
	sp_done++;
	if (sp_done >= opt.count)
		sp_stop = 1;
	else
		sp_launch();
}

/* ------------------------------------------------------------------ */
/* scenario: echo */

static long ec_opened, ec_resolved, ec_complete, ec_nclosed, ec_lost;
static uint64_t ec_lost_msgs, ec_lost_bytes, ec_lost_frames;
static int ec_phase, ec_stop;
static uint64_t ec_t_start, ec_t_end;

static void
ec_pump(struct conn *c)
{
	uint64_t winbytes = (uint64_t)opt.window * psize;

	if (c->state != CS_OPEN || c->done)
		return;
	while (c->tx_msgs < (uint64_t)opt.count) {
		if (opt.binary) {
			if (c->tx_bytes - c->rx_bytes >= winbytes)
				break;
		} else if (c->tx_msgs - c->rx_msgs >= (uint64_t)opt.window)
			break;
		if (c->wlen - c->woff > 256 * 1024)
			break;
		queue_frame(c, opt.binary ? 2 : 1, pattern, psize);
		c->tx_msgs++;
		c->tx_bytes += psize;
	}
	conn_flush(c);
}

static void
ec_check_done(struct conn *c)
{
	uint64_t want = (uint64_t)opt.count * psize;

	if (c->done)
		return;
	if (opt.binary ? c->rx_bytes < want :
	    c->rx_msgs < (uint64_t)opt.count)
		return;
	c->done = 1;
	ec_complete++;
	ec_t_end = now_ns();
	if (ec_complete == ec_opened)
		ec_stop = 1;
}

static void
ec_open(struct conn *c)
{
	ec_opened++;
	ec_resolved++;
	c->phase = 1;
	if (ec_resolved == opt.conns)
		ec_stop = 1;
}

static void
ec_msg_end(struct conn *c)
{
	if (!opt.binary) {
		if (c->msglen != psize) {
			conn_fail(c, E_MISMATCH, "echo of %" PRIu64
			    " bytes, sent %zu", c->msglen, psize);
			return;
		}
		c->rx_off = 0;
	}
	c->rx_msgs++;
	c->deadline = now_ns() + (uint64_t)opt.timeout_ms * 1000000ull;
	ec_check_done(c);
	/* refilled once per read, in ec_read_done: fewer, larger writes */
}

static void
ec_read_done(struct conn *c)
{
	if (c->state == CS_OPEN && !c->done && ec_phase == 1)
		ec_pump(c);
}

static void
ec_closed(struct conn *c, int ok)
{
	if (c->phase == 0)
		ec_resolved++;
	else if (!c->done && ec_phase == 1) {
		/* lost during the timed phase: it will never complete */
		ec_lost++;
		ec_lost_msgs += opt.binary ? c->rx_bytes / psize : c->rx_msgs;
		ec_lost_bytes += c->rx_bytes;
		ec_lost_frames += c->rx_frames;
		ec_t_end = now_ns();
		ec_opened--;
		if (ec_complete == ec_opened)
			ec_stop = 1;
	}
	if (ec_phase == 2)
		ec_nclosed++;
	(void)ok;
	if (ec_phase == 0 && ec_resolved == opt.conns)
		ec_stop = 1;
	if (ec_phase == 2 && nlive == 0)
		ec_stop = 1;
}

/* ------------------------------------------------------------------ */
/* scenario: latency */

static long la_round;
static int la_stop;
static uint64_t *la_rtts;
static long la_n;

static void
la_send(struct conn *c)
{
	c->t_sent = now_ns();
	queue_frame(c, opt.binary ? 2 : 1, pattern, psize);
	conn_flush(c);
}

static void
la_open(struct conn *c)
{
	la_send(c);
}

static void
la_msg_end(struct conn *c)
{
	uint64_t t = now_ns();

	if (opt.binary ? c->rx_bytes < psize : c->msglen != psize) {
		if (!opt.binary) {
			conn_fail(c, E_MISMATCH, "echo of %" PRIu64 " bytes",
			    c->msglen);
		}
		return;
	}
	c->rx_off = 0;
	c->rx_bytes = 0;
	if (la_round >= opt.warmup)
		la_rtts[la_n++] = t - c->t_sent;
	la_round++;
	c->deadline = t + (uint64_t)opt.timeout_ms * 1000000ull;
	if (la_round >= opt.warmup + opt.count) {
		c->done = 1;
		send_close(c, 1000);
		conn_flush(c);
		return;
	}
	la_send(c);
}

static void
la_closed(struct conn *c, int ok)
{
	(void)c;
	(void)ok;
	la_stop = 1;
}

/* ------------------------------------------------------------------ */
/* scenarios: idle and scale */

static long ho_started, ho_resolved, ho_reached, ho_served, ho_dropped;
static long ho_closed_ok;
static int ho_phase, ho_stop;
static long ho_pending;	/* replies awaited in the served check */

/* Every held session echoes once more (phase 2); returns when it began. */
static uint64_t
start_served_check(void)
{
	uint64_t	 t = now_ns();
	uint32_t	 k;

	ho_phase = 2;
	ho_stop = 0;
	ho_pending = 0;
	for (k = 0; k < nslots; k++) {
		struct conn *c = &conns[k];

		if (c->state != CS_OPEN || c->phase != 1)
			continue;
		c->phase = 2;
		c->deadline = t + (uint64_t)opt.timeout_ms * 1000000ull;
		ho_pending++;
		c->tx_bytes += psize;
		queue_frame(c, opt.binary ? 2 : 1, pattern, psize);
		conn_flush(c);
	}
	return t;
}

/* A close frame on every open session (phase 3). */
static void
start_close_all(void)
{
	uint32_t	 k;

	ho_phase = 3;
	ho_stop = 0;
	for (k = 0; k < nslots; k++) {
		if (conns[k].state != CS_OPEN)
			continue;
		send_close(&conns[k], 1000);
		conn_flush(&conns[k]);
	}
}

static long ho_failed;

static void
ho_launch(void)
{
	if (ho_failed >= opt.max_fail && ho_started == ho_resolved) {
		ho_stop = 1;	/* gave up: report what was reached */
		return;
	}
	while (ho_started < opt.count && ho_started - ho_resolved < opt.conns &&
	    ho_failed < opt.max_fail && !got_signal) {
		ho_started++;
		conn_new();
	}
}

static void
ho_open(struct conn *c)
{
	queue_frame(c, opt.binary ? 2 : 1, pattern, psize);
	c->tx_bytes += psize;
	conn_flush(c);
}

static void
ho_msg_end(struct conn *c)
{
	if (!opt.binary && c->msglen != psize) {
		conn_fail(c, E_MISMATCH, "echo of %" PRIu64 " bytes", c->msglen);
		return;
	}
	if (c->rx_bytes < c->tx_bytes)
		return;
	c->rx_off = 0;
	c->deadline = 0;	/* held: no timeout while idle */
	if (c->phase == 0) {
		c->phase = 1;
		ho_reached++;
		ho_resolved++;
		if (ho_resolved >= opt.count)
			ho_stop = 1;
		else
			ho_launch();
	} else if (c->phase == 2) {
		c->phase = 3;
		ho_served++;
		if (--ho_pending == 0)
			ho_stop = 1;
	}
}

static void
ho_closed(struct conn *c, int ok)
{
	if (c->phase == 0) {
		ho_resolved++;
		ho_failed++;
		if (ho_resolved >= opt.count)
			ho_stop = 1;
		else if (ho_phase == 0)
			ho_launch();
		return;
	}
	if (ho_phase == 3) {
		if (ok)
			ho_closed_ok++;
		if (nlive == 0)
			ho_stop = 1;
		return;
	}
	/* an established session went away before we closed it */
	ho_dropped++;
	if (c->phase == 2 && --ho_pending == 0)
		ho_stop = 1;
}

/* ------------------------------------------------------------------ */

static void
print_errors(void)
{
	long tot = 0;
	int i;

	for (i = 0; i < E_NR; i++)
		tot += err_count[i];
	printf(" errors=%ld", tot);
	for (i = 0; i < E_NR; i++)
		if (err_count[i])
			printf(" err_%s=%ld", err_names[i], err_count[i]);
}

static void
on_sig(int s)
{
	(void)s;
	got_signal = 1;
}

static void
usage(FILE *f)
{
	fprintf(f,
"usage: wsload SCENARIO [options]\n"
"  SCENARIO: spawn | echo | latency | idle | scale | hold\n"
"  --host ADDR        IPv4 address of the server (default 127.0.0.1)\n"
"  --port PORT        server port (required)\n"
"  --path PATH        request path (default /)\n"
"  --conns C          concurrency (spawn: sessions at a time; echo:\n"
"                     connections; idle/scale: handshakes in flight)\n"
"  --count N          spawn: sessions; echo: messages per connection;\n"
"                     latency: round trips; idle/scale/hold: sessions to\n"
"                     hold\n"
"  --size S           message payload bytes\n"
"  --window W         echo: messages in flight per connection (default 16)\n"
"  --warmup N         latency: untimed round trips first (default 200)\n"
"  --binary           binary frames, echo checked as a byte stream\n"
"  --timeout-ms MS    per-step timeout of a connection (default 15000)\n"
"  --max-seconds S    bound on the whole run (default 300)\n"
"  --server-pid PID   measure this process from /proc: CPU time (spawn,\n"
"                     echo, latency), RSS/fds/children (idle, scale)\n"
"  --settle-ms MS     idle/scale: wait before measuring (default 1000)\n"
"  --hold-ms MS       idle/scale: keep sessions open this long after (0)\n"
"  --drain-ms MS      idle/scale: wait for fds/children to return (15000)\n"
"  --max-fail N       idle/scale/hold: stop opening after N failures (100)\n"
"  --seconds S        hold: hold at most S seconds, fewer if signalled\n"
"                     (SIGTERM/SIGINT) (default 600; --max-seconds bounds\n"
"                     the opening only)\n"
"  --idle-ms MS       hold: after --settle-ms, measure the server's CPU over\n"
"                     MS with every session idle (needs --server-pid)\n"
"  --header 'N: V'    send one more header with every handshake (for\n"
"                     instance Authorization, against --basic-auth)\n"
"  --verbose          report every failed connection on stderr\n");
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "host", required_argument, NULL, 'h' },
		{ "port", required_argument, NULL, 'p' },
		{ "path", required_argument, NULL, 'P' },
		{ "conns", required_argument, NULL, 'c' },
		{ "count", required_argument, NULL, 'n' },
		{ "size", required_argument, NULL, 's' },
		{ "window", required_argument, NULL, 'w' },
		{ "warmup", required_argument, NULL, 'W' },
		{ "binary", no_argument, NULL, 'b' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "max-seconds", required_argument, NULL, 'm' },
		{ "server-pid", required_argument, NULL, 'S' },
		{ "settle-ms", required_argument, NULL, 'e' },
		{ "hold-ms", required_argument, NULL, 'H' },
		{ "drain-ms", required_argument, NULL, 'd' },
		{ "max-fail", required_argument, NULL, 'F' },
		{ "seconds", required_argument, NULL, 'T' },
		{ "idle-ms", required_argument, NULL, 'I' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "header", required_argument, NULL, 'A' },
		{ "help", no_argument, NULL, '?' + 256 },
		{ NULL, 0, NULL, 0 }
	};
	int ch, i, li = 0;
	uint64_t until, t0, t1;
	struct rlimit rl;
	unsigned long need_fds;
	struct sigaction sa;
	struct cpu cpu0, cpu1;

	if (argc < 2)
		usage(stderr), exit(2);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		usage(stdout), exit(0);
	for (i = 0; i < NSCEN; i++)
		if (strcmp(argv[1], scen_names[i]) == 0)
			break;
	if (i == NSCEN)
		die("unknown scenario '%s' (spawn, echo, latency, idle, scale, "
		    "hold)",
		    argv[1]);
	opt.scen = (enum scen)i;
	optind = 2;
	while ((ch = getopt_long(argc, argv, "", lo, &li)) != -1) {
		char *e = NULL;
		long v = 0;

		if (optarg) {
			errno = 0;
			v = strtol(optarg, &e, 10);
		}
#define NUM(field, min) do { \
	if (errno || e == NULL || *e || v < (min)) die("bad value for --%s: %s", \
	    lo[li].name, optarg); \
	opt.field = v; } while (0)
		switch (ch) {
		case 'h': opt.host = optarg; break;
		case 'p': NUM(port, 1); break;
		case 'P': opt.path = optarg; break;
		case 'c': NUM(conns, 1); break;
		case 'n': NUM(count, 1); break;
		case 's': NUM(size, 1); break;
		case 'w': NUM(window, 1); break;
		case 'W': NUM(warmup, 0); break;
		case 'b': opt.binary = 1; break;
		case 't': NUM(timeout_ms, 1); break;
		case 'm': NUM(max_seconds, 1); break;
		case 'S': NUM(server_pid, 1); break;
		case 'e': NUM(settle_ms, 0); break;
		case 'H': NUM(hold_ms, 0); break;
		case 'd': NUM(drain_ms, 0); break;
		case 'F': NUM(max_fail, 1); break;
		case 'T': NUM(hold_seconds, 1); break;
		case 'I': NUM(idle_ms, 0); break;
		case 'v': opt.verbose = 1; break;
		case 'A':
			if (optarg == NULL || strpbrk(optarg, "\r\n") ||
			    !strchr(optarg, ':'))
				die("--header wants 'Name: value': %s", optarg);
			opt.header = optarg;
			break;
		case '?' + 256: usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
#undef NUM
	}
	if (optind != argc)
		die("unexpected argument '%s'", argv[optind]);
	if (opt.port <= 0 || opt.port > 65535)
		die("--port is required (1-65535)");
	memset(&srv_addr, 0, sizeof(srv_addr));
	srv_addr.sin_family = AF_INET;
	srv_addr.sin_port = htons((uint16_t)opt.port);
	if (inet_pton(AF_INET, opt.host, &srv_addr.sin_addr) != 1)
		die("--host must be an IPv4 address: %s", opt.host);

	/* defaults per scenario */
	switch (opt.scen) {
	case SC_SPAWN:
		if (opt.conns < 0) opt.conns = 8;
		if (opt.count < 0) opt.count = 1000;
		if (opt.size < 0) opt.size = 16;
		break;
	case SC_ECHO:
		if (opt.conns < 0) opt.conns = 8;
		if (opt.count < 0) opt.count = 10000;
		if (opt.size < 0) opt.size = 64;
		break;
	case SC_LATENCY:
		opt.conns = 1;
		if (opt.count < 0) opt.count = 5000;
		if (opt.size < 0) opt.size = 64;
		break;
	case SC_IDLE:
	case SC_SCALE:
	case SC_HOLD:
		if (opt.conns < 0) opt.conns = 64;
		if (opt.count < 0) opt.count = opt.scen == SC_IDLE ? 1000 : 10000;
		if (opt.size < 0) opt.size = 16;
		break;
	}
	psize = (size_t)opt.size;
	pattern = malloc(2 * psize);
	if (pattern == NULL)
		die("out of memory");
	for (size_t k = 0; k < 2 * psize; k++) {
		size_t j = k % psize;

		pattern[k] = opt.binary ? (unsigned char)(j * 31 + 7) :
		    (unsigned char)('a' + (j * 7) % 26);
	}
	if (!opt.binary)	/* line mode: no newline may appear */
		for (size_t k = 0; k < 2 * psize; k++)
			if (pattern[k] == '\n')
				pattern[k] = 'x';

	/* fds: one per connection plus slack */
	nslots = (uint32_t)(opt.scen == SC_IDLE || opt.scen == SC_SCALE ||
	    opt.scen == SC_HOLD ? opt.count : opt.conns);
	need_fds = nslots + 64;
	/* the session holders take the whole hard limit, as compare does */
	if ((opt.scen == SC_IDLE || opt.scen == SC_SCALE ||
	    opt.scen == SC_HOLD) && getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < need_fds) {
		if (rl.rlim_max < need_fds)
			rl.rlim_max = need_fds;	/* works as root */
		rl.rlim_cur = need_fds;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
			getrlimit(RLIMIT_NOFILE, &rl);
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
			fprintf(stderr, "wsload: fd limit %lu < %lu wanted\n",
			    (unsigned long)rl.rlim_cur, need_fds);
		}
	}

	conns = calloc(nslots, sizeof(*conns));
	freelist = calloc(nslots, sizeof(*freelist));
	pending = calloc(nslots, sizeof(*pending));
	if (conns == NULL || freelist == NULL || pending == NULL)
		die("out of memory");
	for (uint32_t k = 0; k < nslots; k++) {
		conns[k].slot = k;
		conns[k].fd = -1;
		freelist[nslots - 1 - k] = k;
	}
	nfree = nslots;
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd == -1)
		die("epoll_create1: %s", strerror(errno));
	if (getrandom(&rng_state, sizeof(rng_state), 0) != sizeof(rng_state))
		rng_state = now_ns();
	rng_state |= 1;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sig;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	t0 = now_ns();
	until = t0 + (uint64_t)opt.max_seconds * 1000000000ull;

	switch (opt.scen) {
	case SC_SPAWN: {
		double secs;
		int aborted;

		sp_durs = calloc((size_t)opt.count, sizeof(uint64_t));
		if (sp_durs == NULL)
			die("out of memory");
		on_open = sp_open;
		on_msg_end = sp_msg_end;
		on_closed = sp_closed;
		read_cpu(&cpu0);
		t0 = now_ns();
		sp_launch();
		aborted = run_loop(&sp_stop, until) != 0;
		t1 = now_ns();
		read_cpu(&cpu1);
		secs = (double)(t1 - t0) / 1e9;
		qsort(sp_durs, (size_t)sp_ok, sizeof(uint64_t), cmp_u64);
		printf("scenario=spawn mode=%s sessions=%ld ok=%ld conns=%ld "
		    "size=%zu seconds=%.3f rate=%.1f session_p50_ms=%.3f "
		    "session_p99_ms=%.3f session_max_ms=%.3f",
		    opt.binary ? "binary" : "line", opt.count, sp_ok, opt.conns,
		    psize, secs, (double)sp_ok / secs,
		    (double)pct(sp_durs, (size_t)sp_ok, 50) / 1e6,
		    (double)pct(sp_durs, (size_t)sp_ok, 99) / 1e6,
		    (double)pct(sp_durs, (size_t)sp_ok, 100) / 1e6);
		print_cpu(&cpu0, &cpu1, (double)sp_ok, "session");
		print_errors();
		printf(" aborted=%d\n", aborted);
		break;
	}
	case SC_ECHO: {
		double secs;
		int aborted;
		uint64_t msgs, bytes, frames;
		uint32_t k;

		on_open = ec_open;
		on_msg_end = ec_msg_end;
		on_closed = ec_closed;
		on_read_done = ec_read_done;
		for (i = 0; i < opt.conns; i++)
			conn_new();
		aborted = ec_resolved < opt.conns &&
		    run_loop(&ec_stop, until) != 0;
		/* timed phase */
		ec_phase = 1;
		ec_stop = 0;
		read_cpu(&cpu0);
		ec_t_start = ec_t_end = now_ns();
		for (k = 0; k < nslots; k++)
			if (conns[k].state == CS_OPEN)
				ec_pump(&conns[k]);
		if (!aborted && ec_opened > 0 && ec_complete < ec_opened)
			aborted = run_loop(&ec_stop, until) != 0;
		read_cpu(&cpu1);
		msgs = ec_lost_msgs;
		bytes = ec_lost_bytes;
		frames = ec_lost_frames;
		for (k = 0; k < nslots; k++) {
			struct conn *c = &conns[k];

			if (c->state == CS_FREE)
				continue;
			msgs += opt.binary ? c->rx_bytes / psize : c->rx_msgs;
			bytes += c->rx_bytes;
			frames += c->rx_frames;
		}
		/* close phase, untimed */
		ec_phase = 2;
		ec_stop = 0;
		for (k = 0; k < nslots; k++)
			if (conns[k].state == CS_OPEN) {
				send_close(&conns[k], 1000);
				conn_flush(&conns[k]);
			}
		if (nlive > 0)
			run_loop(&ec_stop, now_ns() + 10000000000ull);
		secs = (double)(ec_t_end - ec_t_start) / 1e9;
		if (secs <= 0)
			secs = 1e-9;
		printf("scenario=echo mode=%s conns=%ld opened=%ld complete=%ld "
		    "lost=%ld count=%ld size=%zu window=%ld msgs=%" PRIu64 " bytes=%"
		    PRIu64 " frames_rx=%" PRIu64 " seconds=%.3f msg_rate=%.1f "
		    "mb_rate=%.3f",
		    opt.binary ? "binary" : "line", opt.conns, ec_opened + ec_lost,
		    ec_complete, ec_lost, opt.count, psize, opt.window, msgs, bytes,
		    frames, secs, (double)msgs / secs, (double)bytes / 1e6 / secs);
		print_cpu(&cpu0, &cpu1, (double)msgs, "msg");
		print_errors();
		printf(" aborted=%d\n", aborted);
		break;
	}
	case SC_LATENCY: {
		int aborted;
		double sum = 0;
		long k;

		la_rtts = calloc((size_t)opt.count, sizeof(uint64_t));
		if (la_rtts == NULL)
			die("out of memory");
		on_open = la_open;
		on_msg_end = la_msg_end;
		on_closed = la_closed;
		read_cpu(&cpu0);
		conn_new();
		aborted = run_loop(&la_stop, until) != 0;
		read_cpu(&cpu1);
		for (k = 0; k < la_n; k++)
			sum += (double)la_rtts[k];
		qsort(la_rtts, (size_t)la_n, sizeof(uint64_t), cmp_u64);
		printf("scenario=latency mode=%s size=%zu rounds=%ld "
		    "min_us=%.1f p50_us=%.1f p90_us=%.1f p99_us=%.1f "
		    "p999_us=%.1f max_us=%.1f mean_us=%.1f",
		    opt.binary ? "binary" : "line", psize, la_n,
		    (double)pct(la_rtts, (size_t)la_n, 0) / 1e3,
		    (double)pct(la_rtts, (size_t)la_n, 50) / 1e3,
		    (double)pct(la_rtts, (size_t)la_n, 90) / 1e3,
		    (double)pct(la_rtts, (size_t)la_n, 99) / 1e3,
		    (double)pct(la_rtts, (size_t)la_n, 99.9) / 1e3,
		    (double)pct(la_rtts, (size_t)la_n, 100) / 1e3,
		    la_n ? sum / (double)la_n / 1e3 : 0.0);
		print_cpu(&cpu0, &cpu1, (double)(la_round), "round");
		print_errors();
		printf(" aborted=%d\n", aborted || la_n < opt.count);
		break;
	}
	case SC_IDLE:
	case SC_SCALE: {
		struct srvstat base, held, after;
		double open_secs, served_secs;
		uint64_t ta, tb;
		int aborted;
		long drain_ms = -1;

		read_srvstat(&base, 1);
		on_open = ho_open;
		on_msg_end = ho_msg_end;
		on_closed = ho_closed;
		ta = now_ns();
		ho_launch();
		aborted = run_loop(&ho_stop, until) != 0;
		tb = now_ns();
		open_secs = (double)(tb - ta) / 1e9;
		/* settle, then measure */
		ho_phase = 1;
		{
			int never = 0;

			run_loop(&never, now_ns() +
			    (uint64_t)opt.settle_ms * 1000000ull);
		}
		read_srvstat(&held, 1);
		/* served check: every held session echoes once more */
		ta = start_served_check();
		if (ho_pending > 0 && !got_signal)
			run_loop(&ho_stop, now_ns() +
			    (uint64_t)(opt.timeout_ms + 1000) * 1000000ull);
		served_secs = (double)(now_ns() - ta) / 1e9;
		if (opt.hold_ms > 0 && !got_signal) {
			int never = 0;

			ho_phase = 1;
			run_loop(&never, now_ns() +
			    (uint64_t)opt.hold_ms * 1000000ull);
		}
		/* close all */
		start_close_all();
		if (nlive > 0)
			run_loop(&ho_stop, now_ns() +
			    (uint64_t)(opt.timeout_ms + 1000) * 1000000ull);
		drain_ms = wait_drain(&base, &after);
		printf("scenario=%s mode=%s target=%ld attempted=%ld reached=%ld "
		    "failed=%ld served=%ld dropped=%ld closed_ok=%ld "
		    "open_seconds=%.3f served_seconds=%.3f",
		    scen_names[opt.scen], opt.binary ? "binary" : "line",
		    opt.count, ho_started, ho_reached, ho_failed, ho_served,
		    ho_dropped, ho_closed_ok, open_secs, served_secs);
		if (base.ok && held.ok) {
			double n = ho_reached > 0 ? (double)ho_reached : 1;

			printf(" rss_base_kb=%ld rss_kb=%ld rss_per_session_kb=%.2f"
			    " fds_base=%ld fds=%ld fds_per_session=%.2f"
			    " threads=%ld children=%ld kids_rss_kb=%ld"
			    " kids_rss_per_session_kb=%.1f",
			    base.rss_kb, held.rss_kb,
			    (double)(held.rss_kb - base.rss_kb) / n,
			    base.fds, held.fds,
			    (double)(held.fds - base.fds) / n,
			    held.threads, held.children, held.kids_rss_kb,
			    (double)held.kids_rss_kb / n);
			printf(" fds_after=%ld children_after=%ld rss_after_kb=%ld"
			    " drain_ms=%ld",
			    after.ok ? after.fds : -1,
			    after.ok ? after.children : -1,
			    after.ok ? after.rss_kb : -1, drain_ms);
		} else if (opt.server_pid > 0)
			printf(" server_gone=1");
		print_errors();
		printf(" aborted=%d\n", aborted);
		break;
	}
	case SC_HOLD: {
		struct srvstat base, held, after;
		struct cpu ic0, ic1;
		double open_secs, held_secs, served_secs;
		double idle_cpu_ms = -1, idle_kids_ms = -1, idle_secs = 0;
		uint64_t ta, tb;
		int aborted, never = 0, by_signal;
		long drain_ms = -1;

		read_srvstat(&base, 1);
		on_open = ho_open;
		on_msg_end = ho_msg_end;
		on_closed = ho_closed;
		ta = now_ns();
		ho_launch();
		aborted = run_loop(&ho_stop, until) != 0;
		tb = now_ns();
		open_secs = (double)(tb - ta) / 1e9;
		ho_phase = 1;
		if (!got_signal)
			run_loop(&never, now_ns() +
			    (uint64_t)opt.settle_ms * 1000000ull);
		if (opt.idle_ms > 0 && opt.server_pid > 0 && !got_signal) {
			/* nothing happens: only the server's own wake-ups */
			read_cpu(&ic0);
			ta = now_ns();
			run_loop(&never, ta + (uint64_t)opt.idle_ms * 1000000ull);
			read_cpu(&ic1);
			idle_secs = (double)(now_ns() - ta) / 1e9;
			if (ic0.self_ms >= 0 && ic1.self_ms >= 0) {
				idle_cpu_ms = ic1.self_ms - ic0.self_ms;
				idle_kids_ms = ic1.kids_ms - ic0.kids_ms;
			}
		}
		read_srvstat(&held, 1);
		printf("scenario=hold phase=ready target=%ld attempted=%ld "
		    "reached=%ld failed=%ld dropped=%ld open_seconds=%.3f",
		    opt.count, ho_started, ho_reached, ho_failed, ho_dropped,
		    open_secs);
		if (held.ok)
			printf(" fds_base=%ld fds=%ld rss_kb=%ld threads=%ld "
			    "children=%ld", base.fds, held.fds, held.rss_kb,
			    held.threads, held.children);
		if (idle_cpu_ms >= 0)
			printf(" idle_seconds=%.3f idle_server_cpu_ms=%.2f "
			    "idle_reaped_kids_cpu_ms=%.0f idle_server_cpu_ms_per_s=%.3f",
			    idle_secs, idle_cpu_ms, idle_kids_ms,
			    idle_secs > 0 ? idle_cpu_ms / idle_secs : 0.0);
		printf(" aborted=%d\n", aborted);
		fflush(stdout);

		/* hold until signalled or --seconds, whichever is first */
		ta = now_ns();
		if (!got_signal)
			run_loop(&never, ta +
			    (uint64_t)opt.hold_seconds * 1000000000ull);
		held_secs = (double)(now_ns() - ta) / 1e9;
		by_signal = got_signal != 0;
		got_signal = 0;	/* a second signal aborts the close */

		/* served check: every held session echoes once more */
		ta = start_served_check();
		if (ho_pending > 0)
			run_loop(&ho_stop, now_ns() +
			    (uint64_t)(opt.timeout_ms + 1000) * 1000000ull);
		served_secs = (double)(now_ns() - ta) / 1e9;
		/* close all */
		start_close_all();
		if (nlive > 0 && !got_signal)
			run_loop(&ho_stop, now_ns() +
			    (uint64_t)(opt.timeout_ms + 1000) * 1000000ull);
		drain_ms = wait_drain(&base, &after);
		printf("scenario=hold phase=done target=%ld reached=%ld "
		    "failed=%ld served=%ld dropped=%ld closed_ok=%ld "
		    "held_seconds=%.3f ended_by=%s served_seconds=%.3f",
		    opt.count, ho_reached, ho_failed, ho_served, ho_dropped,
		    ho_closed_ok, held_secs, by_signal ? "signal" : "timeout",
		    served_secs);
		if (base.ok)
			printf(" fds_after=%ld children_after=%ld drain_ms=%ld",
			    after.ok ? after.fds : -1,
			    after.ok ? after.children : -1, drain_ms);
		print_errors();
		printf(" aborted=%d\n", aborted);
		break;
	}
	}
	fflush(stdout);
	return 0;
}
