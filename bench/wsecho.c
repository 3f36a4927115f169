/*
 * wsecho: the calibration server for wsload. One thread, epoll, no child:
 * each WebSocket message is sent straight back (same opcode, one frame per
 * received frame). Whatever wsload measures against it is the ceiling of the
 * client plus loopback TCP on this machine, so a server figure close to it
 * means wsload, not the server, was the limit.
 *
 *   wsecho [--port=0] [--address=127.0.0.1]
 * prints "listening on 127.0.0.1:PORT" on stderr, runs until SIGTERM/SIGINT.
 * Loopback benchmarking only: no limits, minimal checks.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

struct cl {
	int		 fd;
	int		 open;		/* handshake done */
	int		 closing;
	unsigned char	*in;
	size_t		 inlen, incap;
	unsigned char	*out;
	size_t		 outlen, outoff, outcap;
	int		 epout;
};

static int epfd;
static volatile sig_atomic_t stop;

static uint32_t
rol(uint32_t x, int n)
{
	return (x << n) | (x >> (32 - n));
}

static void
sha1(const unsigned char *p, size_t len, unsigned char out[20])
{
	uint32_t h[5] = { 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476,
	    0xC3D2E1F0 };
	unsigned char buf[192];
	size_t n, i, j;

	/* handshake input is short: pad it in one buffer */
	if (len > 100)
		len = 100;
	memset(buf, 0, sizeof(buf));
	memcpy(buf, p, len);
	buf[len] = 0x80;
	n = (len + 9 + 63) / 64 * 64;
	for (i = 0; i < 8; i++)
		buf[n - 1 - i] = (unsigned char)(((uint64_t)len * 8) >> (8 * i));
	for (j = 0; j < n; j += 64) {
		uint32_t w[80], a, b, c, d, e, f, k, t;

		for (i = 0; i < 16; i++)
			w[i] = (uint32_t)buf[j + 4 * i] << 24 |
			    (uint32_t)buf[j + 4 * i + 1] << 16 |
			    (uint32_t)buf[j + 4 * i + 2] << 8 | buf[j + 4 * i + 3];
		for (i = 16; i < 80; i++)
			w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
		a = h[0]; b = h[1]; c = h[2]; d = h[3]; e = h[4];
		for (i = 0; i < 80; i++) {
			if (i < 20) { f = (b & c) | (~b & d); k = 0x5A827999; }
			else if (i < 40) { f = b ^ c ^ d; k = 0x6ED9EBA1; }
			else if (i < 60) { f = (b & c) | (b & d) | (c & d); k = 0x8F1BBCDC; }
			else { f = b ^ c ^ d; k = 0xCA62C1D6; }
			t = rol(a, 5) + f + e + k + w[i];
			e = d; d = c; c = rol(b, 30); b = a; a = t;
		}
		h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e;
	}
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
	static const char t[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
		    in[i + 2];
		*out++ = t[v >> 18]; *out++ = t[(v >> 12) & 63];
		*out++ = t[(v >> 6) & 63]; *out++ = t[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		*out++ = t[v >> 18]; *out++ = t[(v >> 12) & 63];
		*out++ = '='; *out++ = '=';
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		*out++ = t[v >> 18]; *out++ = t[(v >> 12) & 63];
		*out++ = t[(v >> 6) & 63]; *out++ = '=';
	}
	*out = '\0';
}

static void
grow(unsigned char **b, size_t *cap, size_t need)
{
	if (need <= *cap)
		return;
	if (*cap == 0)
		*cap = 4096;
	while (*cap < need)
		*cap *= 2;
	*b = realloc(*b, *cap);
	if (*b == NULL) {
		perror("wsecho: realloc");
		exit(1);
	}
}

static void
drop(struct cl *c)
{
	close(c->fd);
	free(c->in);
	free(c->out);
	free(c);
}

static void
put(struct cl *c, const void *p, size_t n)
{
	grow(&c->out, &c->outcap, c->outlen + n);
	memcpy(c->out + c->outlen, p, n);
	c->outlen += n;
}

/* Returns -1 when the client is gone. */
static int
flush_out(struct cl *c)
{
	struct epoll_event ev;
	ssize_t r;
	int want;

	while (c->outoff < c->outlen) {
		r = write(c->fd, c->out + c->outoff, c->outlen - c->outoff);
		if (r > 0) {
			c->outoff += (size_t)r;
			continue;
		}
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1 && errno == EAGAIN)
			break;
		drop(c);
		return -1;
	}
	if (c->outoff == c->outlen) {
		c->outoff = c->outlen = 0;
		if (c->closing) {
			drop(c);
			return -1;
		}
	}
	want = c->outoff < c->outlen;
	if (want != c->epout) {
		ev.events = EPOLLIN | (want ? EPOLLOUT : 0);
		ev.data.ptr = c;
		epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
		c->epout = want;
	}
	return 0;
}

static size_t
handshake(struct cl *c)
{
	unsigned char *end = memmem(c->in, c->inlen, "\r\n\r\n", 4);
	char *key, *e, acc[64], buf[256];
	unsigned char dig[20];
	size_t used;
	int n;

	if (end == NULL)
		return 0;
	used = (size_t)(end - c->in) + 4;
	*end = '\0';
	key = strcasestr((char *)c->in, "\nSec-WebSocket-Key:");
	if (key == NULL) {
		put(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", 47);
		c->closing = 1;
		return used;
	}
	key += 19;
	while (*key == ' ')
		key++;
	e = strpbrk(key, "\r\n");
	if (e)
		*e = '\0';
	n = snprintf(buf, sizeof(buf), "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11",
	    key);
	sha1((unsigned char *)buf, (size_t)n, dig);
	b64(dig, 20, acc);
	n = snprintf(buf, sizeof(buf), "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: %s\r\n\r\n", acc);
	put(c, buf, (size_t)n);
	c->open = 1;
	return used;
}

/* Echoes every complete frame in c->in; returns bytes used. */
static size_t
frames(struct cl *c)
{
	size_t off = 0;

	while (c->inlen - off >= 2) {
		unsigned char *p = c->in + off;
		uint64_t len = p[1] & 0x7f;
		size_t hl = 2, i;
		unsigned char mask[4], hdr[10];
		int op = p[0] & 0x0f, masked = p[1] >> 7;

		if (len == 126) {
			if (c->inlen - off < 4)
				break;
			len = (uint64_t)p[2] << 8 | p[3];
			hl = 4;
		} else if (len == 127) {
			if (c->inlen - off < 10)
				break;
			for (len = 0, i = 0; i < 8; i++)
				len = len << 8 | p[2 + i];
			hl = 10;
		}
		if (masked) {
			if (c->inlen - off < hl + 4)
				break;
			memcpy(mask, p + hl, 4);
			hl += 4;
		}
		if (c->inlen - off < hl + len)
			break;
		if (masked)
			for (i = 0; i < len; i++)
				p[hl + i] ^= mask[i & 3];
		hdr[0] = p[0];	/* same FIN and opcode */
		if (len < 126) {
			hdr[1] = (unsigned char)len;
			put(c, hdr, 2);
		} else if (len < 65536) {
			hdr[1] = 126;
			hdr[2] = (unsigned char)(len >> 8);
			hdr[3] = (unsigned char)len;
			put(c, hdr, 4);
		} else {
			hdr[1] = 127;
			for (i = 0; i < 8; i++)
				hdr[2 + i] = (unsigned char)(len >> (56 - 8 * i));
			put(c, hdr, 10);
		}
		put(c, p + hl, (size_t)len);
		off += hl + (size_t)len;
		if (op == 8) {
			c->closing = 1;
			break;
		}
	}
	return off;
}

static void
readable(struct cl *c)
{
	ssize_t r;
	size_t used;

	for (;;) {
		grow(&c->in, &c->incap, c->inlen + 65536);
		r = read(c->fd, c->in + c->inlen, c->incap - c->inlen);
		if (r == 0 || (r == -1 && errno != EAGAIN && errno != EINTR)) {
			drop(c);
			return;
		}
		if (r == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		c->inlen += (size_t)r;
		if ((size_t)r < 65536)
			break;
	}
	used = 0;
	if (!c->open) {
		used = handshake(c);
		memmove(c->in, c->in + used, c->inlen - used);
		c->inlen -= used;
		used = 0;
	}
	if (c->open && !c->closing)
		used = frames(c);
	memmove(c->in, c->in + used, c->inlen - used);
	c->inlen -= used;
	flush_out(c);
}

static void
on_sig(int s)
{
	(void)s;
	stop = 1;
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	struct epoll_event ev, evs[256];
	const char *addr = "127.0.0.1";
	int port = 0, lfd, one = 1, i, n;
	struct sigaction act;

	for (i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--port=", 7) == 0)
			port = atoi(argv[i] + 7);
		else if (strncmp(argv[i], "--address=", 10) == 0)
			addr = argv[i] + 10;
		else {
			fprintf(stderr, "usage: wsecho [--port=N] [--address=IPv4]\n");
			return 2;
		}
	}
	memset(&act, 0, sizeof(act));
	act.sa_handler = on_sig;
	sigaction(SIGTERM, &act, NULL);
	sigaction(SIGINT, &act, NULL);
	signal(SIGPIPE, SIG_IGN);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1 ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    listen(lfd, 4096) == -1) {
		perror("wsecho: bind/listen");
		return 1;
	}
	getsockname(lfd, (struct sockaddr *)&sa, &sl);
	fprintf(stderr, "listening on %s:%d\n", addr, ntohs(sa.sin_port));
	epfd = epoll_create1(EPOLL_CLOEXEC);
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
	while (!stop) {
		n = epoll_wait(epfd, evs, 256, 500);
		for (i = 0; i < n; i++) {
			struct cl *c = evs[i].data.ptr;

			if (c == NULL) {
				int fd;

				while ((fd = accept4(lfd, NULL, NULL,
				    SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					c = calloc(1, sizeof(*c));
					if (c == NULL) {
						close(fd);
						continue;
					}
					c->fd = fd;
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY,
					    &one, sizeof(one));
					ev.events = EPOLLIN;
					ev.data.ptr = c;
					epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
				}
				continue;
			}
			if (evs[i].events & EPOLLOUT) {
				if (flush_out(c) == -1)
					continue;
			}
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				readable(c);
		}
	}
	return 0;
}
