/*
 * A server's connection on the network thread: the socket, its events on
 * that thread's libevent loop, what a send() left over, and one timer.
 * It knows nothing of WebSockets (net.c does): it says when bytes came,
 * when there is room to write, when the timer fired, and, exactly once,
 * that the socket is gone.
 */
#ifndef WSB_PEER_H
#define WSB_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

struct event_base;
struct peer;

struct peer_handlers {
	/* Bytes from the peer; -1 closes the connection. */
	int	(*rx)(void *, unsigned char *, size_t);
	/* Room to write, as asked for with peer_want_write; -1 closes. */
	int	(*writable)(void *);
	/* The time given to peer_set_timer has come. */
	void	(*timer)(void *);
	/* The last call: the connection ends, its socket still open. */
	void	(*closed)(void *);
};

/* Every connection of one loop, so that a stop can close them all. */
struct peers {
	struct event_base		*base;
	const struct peer_handlers	*handlers;
	unsigned char			*buf;	/* one read at a time */
	size_t				 bufsize;
	TAILQ_HEAD(, peer)		 all;
};

void		 peers_init(struct peers *, struct event_base *,
		     const struct peer_handlers *, unsigned char *, size_t);
void		 peers_close_all(struct peers *);

struct peer	*peer_new(struct peers *, int, void *);
int		 peer_fd(const struct peer *);
int		 peer_send(struct peer *, const void *, size_t);
bool		 peer_unsent(const struct peer *);
void		 peer_want_write(struct peer *);
void		 peer_read(struct peer *, bool);
void		 peer_set_timer(struct peer *, uint64_t);
void		 peer_kill(struct peer *);

#endif
