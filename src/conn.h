/*
 * A server's connection on the network thread: the socket, its events on
 * that thread's libevent loop, what a send() left over, and one timer.
 * It knows nothing of WebSockets (net.c does): it says when bytes came,
 * when there is room to write, when the timer fired, and, exactly once,
 * that the socket is gone.
 */
#ifndef WSB_CONN_H
#define WSB_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

struct event_base;
struct conn;

struct conn_handlers {
	/* Bytes from the peer; -1 closes the connection. */
	int	(*rx)(void *, unsigned char *, size_t);
	/* Room to write, as asked for with conn_want_write; -1 closes. */
	int	(*writable)(void *);
	/* The time given to conn_set_timer has come. */
	void	(*timer)(void *);
	/* The last call: the connection ends, its socket still open. */
	void	(*closed)(void *);
};

/* Every connection of one loop, so that a stop can close them all. */
struct conns {
	struct event_base		*base;
	const struct conn_handlers	*handlers;
	unsigned char			*buf;	/* one read at a time */
	size_t				 bufsize;
	TAILQ_HEAD(, conn)		 all;
};

void		 conns_init(struct conns *, struct event_base *,
		     const struct conn_handlers *, unsigned char *, size_t);
void		 conns_close_all(struct conns *);

struct conn	*conn_new(struct conns *, int, void *);
int		 conn_fd(const struct conn *);
int		 conn_send(struct conn *, const void *, size_t);
bool		 conn_unsent(const struct conn *);
void		 conn_want_write(struct conn *);
void		 conn_read(struct conn *, bool);
void		 conn_set_timer(struct conn *, uint64_t);
void		 conn_kill(struct conn *);

#endif
