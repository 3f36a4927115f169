/*
 * A session is one WebSocket and the child behind it: the only object both
 * threads touch. Everything under "shared" is read and written only with
 * the session's lock held; the rest belongs to one thread, as marked. Its
 * life is the states of lifecycle.h (state, input, output, main_state,
 * rx_state, close, half), changed only by lifecycle.c; the few booleans
 * left are what was agreed at the handshake and which lists it is on.
 */
#ifndef WSB_SESSION_H
#define WSB_SESSION_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>
#include <time.h>

#include "framing.h"
#include "lifecycle.h"
#include "spawn.h"
#include "wsframe.h"

struct peer;
struct evbuffer;
struct lws;
struct server;
struct child;

enum closed_by {
	CLOSED_NOT_YET,
	CLOSED_CLIENT,		/* a close frame came from the client */
	CLOSED_NETWORK,		/* the connection dropped, no close frame */
	CLOSED_PROTOCOL,	/* the client broke the protocol */
	CLOSED_CHILD,		/* the child's end closed the socket */
	CLOSED_SERVER,		/* wsbridge is stopping */
};

#define CLOSE_REASON_MAX	123	/* what fits in a control frame */
#define WSTATUS_NONE		(-1)	/* no wait status: never reaped */

/* Control frames a server owes its client (controls_due). */
enum control_due {
	CONTROL_PONG = 1 << 0,
	CONTROL_PING = 1 << 1,
};

/*
 * Half-close between wsbridge peers: a client that sends this request
 * header, and sees it echoed, may end its input with an unsolicited pong
 * carrying HALF_CLOSE_EOF instead of a close frame, and still get the rest
 * of the output and the exit status.
 */
#define HALF_CLOSE_HEADER	"Wsbridge-Half-Close"
#define HALF_CLOSE_EOF		"wsbridge:eof"

struct session {
	pthread_mutex_t		 lock;
	_Atomic int		 refs;		/* one per owner, list entry */
	uint64_t		 id;
	struct server		*srv;

	/* Set before the session is shared, read-only afterwards. */
	char			 remote[80];	/* ip:port, for the log */
	char			*target;	/* request target, for the log */
	char			**envp;		/* main: freed once spawned */
	char			*script_path;	/* --dir: this session's script */
	char			*script_argv[2];
	char			*user;		/* REMOTE_USER, NULL: none */
	struct timespec		 started;
	bool			 half_close;	/* the client asked for it */
	bool			 pty_agreed;	/* client: wsbridge.pty chosen */
	char			*reply;		/* the 101, written by net.c */
	size_t			 reply_len;
	bool			 deflate;	/* permessage-deflate agreed */
	struct pmd_params	 pmd;
	bool			 pty_ctl;	/* --pty: text is control */

	/* Shared. */
	struct evbuffer		*from_peer;	/* bytes for stdin */
	size_t			 from_peer_ready; /* complete messages */
	struct evbuffer		*to_peer;	/* framed records */
	enum session_state	 state;		/* lifecycle.h: net moves it */
	enum input_state	 input;
	enum output_state	 output;
	unsigned		 asks;		/* main's requests: ASK_* */
	int			 stdin_fd;	/* main hands it to the network */
	int			 stdout_fd;	/* main hands it to the network */
	int			 wstatus;	/* WSTATUS_NONE: not reaped */
	pid_t			 pid;		/* 0: never spawned */
	enum closed_by		 closed_by;
	uint16_t		 close_code;
	char			 close_reason[CLOSE_REASON_MAX + 1];
	uint64_t		 msgs_in, bytes_in, msgs_out, bytes_out;

	/* Network thread only. */
	int			 fd;		/* until net.c takes it */
	struct peer		*peer;		/* a server's connection */
	struct lws		*wsi;		/* a client's */
	uint32_t		 out_left;	/* of the record being sent */
	int			 out_opcode;
	enum out_record {
		OUT_RECORD_NONE,	/* none being sent */
		OUT_RECORD_START,	/* taken, no frame of it out yet */
		OUT_RECORD_REST,	/* its first frame is out */
	}			 out_record;
	enum in_message {
		IN_MESSAGE_NONE,	/* none arriving */
		IN_MESSAGE_TEXT,
		IN_MESSAGE_BINARY,
	}			 in_message;
	uint64_t		 in_bytes;
	struct utf8_check	 in_utf8;
	time_t			 last_rx;	/* for telling ping timeouts */
	enum rx_state		 rx_state;	/* lifecycle.h */
	enum close_state	 close;
	enum half_state		 half;		/* client mode */
	int			 out_fd;	/* the child's stdout, polled */
	TAILQ_ENTRY(session)	 out_entry;	/* on the list of those */
	uint32_t		 out_events;	/* asked of its watch: EPOLLIN */
	char			*out_line;	/* line mode: partial line */
	size_t			 out_linelen, out_linecap;
	TAILQ_ENTRY(session)	 flush_entry;	/* input to write to stdin */
	bool			 on_flush;

	/* Network thread only: a server's side of RFC 6455 (net.c). */
	struct wsrx		 rx;		/* the client's frames */
	struct evbuffer		*rx_backlog;	/* read, not parsed: paused */
	struct z_stream_s	*inflater;	/* a compressed message arrives */
	struct evbuffer		*out_z;		/* the record, compressed */
	bool			 out_rsv1;	/* it goes out compressed */
	uint64_t		 last_rx_ms;	/* --pingms: anything heard */
	uint64_t		 ping_sent_ms;	/* our last ping, 0: none */
	uint64_t		 close_at_ms;	/* then it ends, 0: no deadline */
	unsigned		 controls_due;	/* CONTROL_*: to go out */
	unsigned char		 pong[WS_CONTROL_MAX];
	size_t			 pong_len;
	uint16_t		 close_out_code;	/* of close_owed() */
	char			 close_out_reason[CLOSE_REASON_MAX + 1];
	int			 in_fd;		/* the child's stdin, written */
	TAILQ_ENTRY(session)	 in_entry;	/* on the list of those */
	uint32_t		 in_events;	/* asked of its watch: EPOLLOUT */
	struct net_watch {
		struct session	*s;
		enum net_watch_kind {
			WATCH_STDOUT,
			WATCH_STDIN,
			WATCH_SOCKET,	/* a held socket's hang-up */
		}		 kind;
	}			 out_watch, in_watch, hup_watch;
	bool			 hup_watched;
	/* --pty (netpipe.c): a control message arriving, a size to set. */
	char			*ctl_msg;	/* PTYCTL_MSG_MAX, once used */
	size_t			 ctl_len;
	unsigned short		 winsz_cols, winsz_rows; /* 0: none due */

	/* Main thread only. */
	int			 pipes[SPAWN_PIPE_FDS]; /* until the spawn takes them */
	struct child		*child;
	enum main_state		 main_state;	/* lifecycle.h */
	bool			 holds_fork;	/* counts against --maxforks */

	/* The hub's lock guards these. */
	TAILQ_ENTRY(session)	 all_entry;
	TAILQ_ENTRY(session)	 net_entry;
	TAILQ_ENTRY(session)	 main_entry;
	bool			 on_net, on_main;
	bool			 published;	/* on the list of all */
};

TAILQ_HEAD(session_list, session);

/*
 * The hub links the threads: each has a queue of sessions that need its
 * attention, and a way to be woken when its queue stops being empty.
 */
struct hub {
	pthread_mutex_t		 lock;
	struct session_list	 all;
	struct session_list	 net_q;
	struct session_list	 main_q;
	unsigned		 count;
	void			(*wake_net)(void *);
	void			*wake_net_arg;
	void			(*wake_main)(void *);
	void			*wake_main_arg;
};

struct hub	*hub_create(void);
void		 hub_free(struct hub *);
unsigned	 hub_count(struct hub *);
struct session	*hub_next_net(struct hub *);
struct session	*hub_next_main(struct hub *);
void		 hub_broadcast_shutdown(struct hub *);

struct session	*session_create(struct server *);
void		 session_publish(struct session *);
void		 session_ref(struct session *);
bool		 session_ref_if_alive(struct session *);
void		 session_unref(struct session *);
void		 session_wake_net(struct session *);
void		 session_wake_main(struct session *);
void		 session_lock(struct session *);
void		 session_unlock(struct session *);
void		 session_set_close(struct session *, enum closed_by, uint16_t,
		     const char *);
void		 session_set_final_close(struct session *, enum closed_by,
		     uint16_t, const char *);
void		 session_queue_record(struct session *, int, const char *,
		     size_t);
int		 session_write_input(struct session *, int);
bool		 session_input_full(const struct session *);
bool		 session_input_has_room(const struct session *);
bool		 session_output_full(const struct session *);
bool		 session_output_has_room(const struct session *);
void		 session_queue_lines(struct session *, const char *, char *,
		     size_t *, size_t, bool);

#endif
