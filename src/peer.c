/*
 * A server's connections live on the network thread's libevent loop
 * (epoll), not on lws's: lws 4.1's own loop polls every socket it has at
 * each wake-up, so with thousands of idle sessions open most of the
 * server's time went to looking at sockets with nothing to say. Here an
 * event costs the same however many sessions are open.
 *
 * A connection is closed only from its own callbacks, after the handler
 * has returned (peer_kill asks for that from anywhere else), so no caller
 * ever finds it freed under its feet; at the stop, peers_close_all.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "peer.h"
#include "log.h"

#define SEND_IOVS	16	/* pieces of the unsent tail per sendmsg */

struct peer {
	struct peers		*set;
	int			 fd;
	void			*arg;
	struct event		*rd, *wr, *tm;
	struct evbuffer		*unsent;	/* made when first needed */
	bool			 reading;
	bool			 want_write;	/* the handler asked for room */
	bool			 dying;		/* peer_kill: close soon */
	TAILQ_ENTRY(peer)	 entry;
};

static void
peer_close(struct peer *c)
{
	TAILQ_REMOVE(&c->set->all, c, entry);
	c->set->handlers->closed(c->arg);
	/* Out of the epoll set before the number can be reused. */
	event_free(c->rd);
	event_free(c->wr);
	event_free(c->tm);
	if (close(c->fd) == -1)
		log_debug("close(fd %d): %s", c->fd, strerror(errno));
	if (c->unsent != NULL)
		evbuffer_free(c->unsent);
	free(c);
}

/*
 * Sends what an earlier send() left over. Returns -1 when the peer is
 * gone, else 0 (whatever went).
 */
static int
flush_unsent(struct peer *c)
{
	struct evbuffer_iovec	 v[SEND_IOVS];
	struct iovec		 iov[SEND_IOVS];
	struct msghdr		 msg;
	size_t			 total;
	ssize_t			 r;
	int			 i, k;

	while (c->unsent != NULL && evbuffer_get_length(c->unsent) > 0) {
		k = evbuffer_peek(c->unsent, -1, NULL, v, SEND_IOVS);
		if (k > SEND_IOVS)
			k = SEND_IOVS;
		for (i = 0, total = 0; i < k; i++) {
			iov[i].iov_base = v[i].iov_base;
			iov[i].iov_len = v[i].iov_len;
			total += v[i].iov_len;
		}
		memset(&msg, 0, sizeof msg);
		msg.msg_iov = iov;
		msg.msg_iovlen = (size_t)k;
		if ((r = sendmsg(c->fd, &msg, MSG_NOSIGNAL)) == -1)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		evbuffer_drain(c->unsent, (size_t)r);
		if ((size_t)r < total)
			break;		/* the socket is full */
	}
	return 0;
}

static void
on_read(evutil_socket_t fd, short what, void *arg)
{
	struct peer	*c = arg;
	struct peers	*set = c->set;
	ssize_t		 r;

	(void)what;
	if (c->dying)
		return;
	r = recv(fd, set->buf, set->bufsize, 0);
	if (r == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r > 0 && set->handlers->rx(c->arg, set->buf, (size_t)r) == 0)
		return;
	if (r == -1)
		log_debug("recv(fd %d): %s", c->fd, strerror(errno));
	peer_close(c);		/* EOF, a reset, or the handler said so */
}

static void
on_write(evutil_socket_t fd, short what, void *arg)
{
	struct peer	*c = arg;

	(void)fd;
	(void)what;
	if (c->dying)
		return;
	if (flush_unsent(c) != 0) {
		peer_close(c);
		return;
	}
	if (peer_unsent(c)) {
		event_add(c->wr, NULL);
		return;
	}
	if (!c->want_write)
		return;
	c->want_write = false;
	if (c->set->handlers->writable(c->arg) != 0)
		peer_close(c);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct peer	*c = arg;

	(void)fd;
	(void)what;
	if (c->dying)
		peer_close(c);
	else
		c->set->handlers->timer(c->arg);
}

void
peers_init(struct peers *set, struct event_base *base,
    const struct peer_handlers *handlers, unsigned char *buf, size_t bufsize)
{
	set->base = base;
	set->handlers = handlers;
	set->buf = buf;
	set->bufsize = bufsize;
	TAILQ_INIT(&set->all);
}

void
peers_close_all(struct peers *set)
{
	struct peer	*c, *next;

	/* peer_close touches no other element: the next one is read first. */
	for (c = TAILQ_FIRST(&set->all); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		peer_close(c);
	}
}

/* Takes the socket (non-blocking) only when it returns a connection. */
struct peer *
peer_new(struct peers *set, int fd, void *arg)
{
	struct peer	*c;

	if ((c = calloc(1, sizeof *c)) == NULL)
		return NULL;
	c->set = set;
	c->fd = fd;
	c->arg = arg;
	c->rd = event_new(set->base, fd, EV_READ | EV_PERSIST, on_read, c);
	c->wr = event_new(set->base, fd, EV_WRITE, on_write, c);
	c->tm = evtimer_new(set->base, on_timer, c);
	if (c->rd == NULL || c->wr == NULL || c->tm == NULL ||
	    event_add(c->rd, NULL) == -1) {
		if (c->rd != NULL)
			event_free(c->rd);
		if (c->wr != NULL)
			event_free(c->wr);
		if (c->tm != NULL)
			event_free(c->tm);
		free(c);
		return NULL;
	}
	c->reading = true;
	TAILQ_INSERT_TAIL(&set->all, c, entry);
	return c;
}

int
peer_fd(const struct peer *c)
{
	return c->fd;
}

/*
 * Sends now what the socket takes and keeps the rest, in order, for when
 * it has room. Returns -1 when the peer is gone.
 */
int
peer_send(struct peer *c, const void *data, size_t len)
{
	const unsigned char	*p = data;
	ssize_t			 r = 0;

	if (c->dying)
		return 0;	/* it closes anyway: nothing more matters */
	if (!peer_unsent(c)) {
		if ((r = send(c->fd, p, len, MSG_NOSIGNAL)) == -1) {
			if (errno != EAGAIN && errno != EINTR)
				return -1;
			r = 0;
		}
		if ((size_t)r == len)
			return 0;
	}
	if (c->unsent == NULL && (c->unsent = evbuffer_new()) == NULL)
		return -1;
	if (evbuffer_add(c->unsent, p + r, len - (size_t)r) != 0)
		return -1;
	event_add(c->wr, NULL);
	return 0;
}

/* Part of an earlier send still waits for room. */
bool
peer_unsent(const struct peer *c)
{
	return c->unsent != NULL && evbuffer_get_length(c->unsent) > 0;
}

/*
 * The writable handler runs once there is room and nothing unsent. With
 * nothing unsent the socket almost always has room: the handler runs at
 * the end of this round without asking epoll (two epoll_ctl calls saved),
 * and should send() take less than it is given, the rest waits for a real
 * write event.
 */
void
peer_want_write(struct peer *c)
{
	if (c->dying)
		return;
	c->want_write = true;
	if (peer_unsent(c))
		event_add(c->wr, NULL);
	else
		event_active(c->wr, EV_WRITE, 1);
}

/* Reads the socket, or leaves what arrives in the kernel's buffer. */
void
peer_read(struct peer *c, bool on)
{
	if (c->dying || c->reading == on)
		return;
	c->reading = on;
	if (on)
		event_add(c->rd, NULL);
	else
		event_del(c->rd);
}

/* The timer handler runs in ms milliseconds (0: never), once. */
void
peer_set_timer(struct peer *c, uint64_t ms)
{
	struct timeval	 tv;

	if (c->dying)
		return;
	if (ms == 0) {
		evtimer_del(c->tm);
		return;
	}
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(c->tm, &tv);
}

/* Closes the connection from the loop, right after the current callback. */
void
peer_kill(struct peer *c)
{
	if (c->dying)
		return;
	c->dying = true;
	event_del(c->rd);
	event_del(c->wr);
	event_active(c->tm, EV_TIMEOUT, 1);
}
