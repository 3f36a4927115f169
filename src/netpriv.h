/*
 * The network thread's own: its state (struct net), its constants and
 * the functions its files call across (net.c, netpipe.c, netsend.c,
 * wsserver.c, wsclient.c). Nothing outside the thread includes it.
 */
#ifndef WSB_NETPRIV_H
#define WSB_NETPRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include <zlib.h>

#include <event2/event.h>
#include <libwebsockets.h>

#include "peer.h"

struct server;
struct net_watch;
struct session;

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

/* net.c */
bool		 net_linked(const struct session *);
void		 net_want_write(struct session *);
void		 net_kill(struct session *);
void		 net_read_socket(struct session *, bool);
void		 net_adopt_failed(struct session *);
void		 net_resume_rx(struct net *, struct session *);
void		 net_drain(struct net *);
void		 net_on_wake(evutil_socket_t, short, void *);
void		 net_on_outpoll(evutil_socket_t, short, void *);

/* netpipe.c */
int		 net_outpoll_ctl(struct net *, struct session *, int, int, uint32_t,
		     struct net_watch *);
void		 net_adopt_stdout(struct net *, struct session *, int);
void		 net_resume_stdout(struct net *, struct session *);
void		 net_close_stdout(struct net *, struct session *, bool);
void		 net_poll_stdouts(struct net *);
void		 net_close_stdouts(struct net *);
uint16_t	 net_take_input(struct net *, struct session *, const void *,
		     size_t, bool, bool, const char **);
void		 net_close_stdin(struct net *, struct session *);
void		 net_adopt_stdin(struct net *, struct session *, int);
void		 net_flush_stdin(struct net *);
void		 net_close_stdins(struct net *);

/* netsend.c */
void		 net_send_now(struct net *, struct session *);
size_t		 net_socket_room(int);
bool		 net_next_record(struct session *);
int		 net_write_batch(struct net *, struct session *, bool);
int		 net_send_queued(struct net *, struct session *, bool);

/* wsserver.c */
void		 net_watch_hangup(struct net *, struct session *, bool);
void		 net_hold_rx(struct net *, struct session *);
void		 net_release_rx(struct net *, struct session *);
void		 net_peer_hung_up(struct net *, struct session *);
int		 net_server_writable(struct net *, struct session *);
void		 net_deadline(struct net *, struct session *, unsigned);
void		 net_server_adopt(struct net *, struct session *, int);
int		 net_start_loop(struct net *);

/* wsclient.c */
void		 net_close_reason(struct lws *, uint16_t, const char *);
int		 net_write_one(struct net *, struct session *, struct lws *,
		     bool *);
void		 net_pong(struct session *, const void *, size_t);
void		 net_gone(struct net *, struct session *);
void		 net_established(struct session *);
bool		 net_ping_timed_out(struct net *, struct session *);
int		 net_connect(struct net *, struct session *);
int		 net_start_lws(struct net *);

#endif
