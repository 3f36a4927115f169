/*
 * A session is one WebSocket and the child behind it: the only object both
 * threads touch. Everything under "shared" is read and written only with
 * the session's lock held; the rest belongs to one thread, as marked.
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
	bool			 established;	/* handshake done: spawn */
	bool			 client_gone;	/* socket closed */
	bool			 client_eof;	/* half-closed: no more input */
	bool			 rx_paused;	/* socket reads stopped */
	bool			 local_paused;	/* client mode: stdin reads stopped */
	bool			 stdin_closed;	/* the network closed it */
	bool			 stdin_close_req; /* main: close it (EOF) */
	bool			 output_done;	/* close once queue is sent */
	bool			 shutdown;	/* server stopping: 1001 */
	bool			 spawned;
	bool			 exited;
	int			 stdin_fd;	/* main hands it to the network */
	int			 stdout_fd;	/* main hands it to the network */
	bool			 stdout_eof;	/* the network read it to the end */
	bool			 stdout_abandon; /* main: leader gone, give it up */
	int			 wstatus;
	pid_t			 pid;
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
	bool			 out_first;
	bool			 out_active;	/* a record is being sent */
	bool			 in_active;	/* a message is arriving */
	bool			 in_text;
	uint64_t		 in_bytes;
	struct utf8_check	 in_utf8;
	time_t			 last_rx;	/* for telling ping timeouts */
	bool			 eof_sent;	/* client: half-close pong sent */
	bool			 eof_waiting;	/* client: --eof-wait timer set */
	bool			 eof_wait_over;	/* client: it ran out: close */
	bool			 close_sent;	/* our close frame is out */
	bool			 closing;	/* a close came, or lws sends one */
	int			 out_fd;	/* the child's stdout, polled */
	TAILQ_ENTRY(session)	 out_entry;	/* on the list of those */
	bool			 out_paused;	/* to_peer full: not read */
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
	bool			 ping_due, ping_timed_out;
	bool			 pong_due;
	unsigned char		 pong[WS_CONTROL_MAX];
	size_t			 pong_len;
	bool			 close_due;	/* answer a close, or refuse */
	uint16_t		 close_out_code;
	char			 close_out_reason[CLOSE_REASON_MAX + 1];
	bool			 hang_up;	/* after our close: no wait */
	bool			 rx_discard;	/* refused, or closed: drop the rest */
	bool			 shut_wr;	/* our FIN is out */
	bool			 rx_drain;	/* peer left: read it all */
	bool			 rx_held;	/* paused: parse no further */
	bool			 stop_seen;	/* the stop's send deadline is set */
	int			 in_fd;		/* the child's stdin, written */
	TAILQ_ENTRY(session)	 in_entry;	/* on the list of those */
	bool			 in_blocked;	/* full: waiting for EPOLLOUT */
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
	bool			 winsz_due;	/* before the terminal is ours */
	unsigned short		 winsz_cols, winsz_rows;

	/* Main thread only. */
	int			 pipes[SPAWN_PIPE_FDS]; /* until the spawn takes them */
	struct child		*child;
	bool			 main_done;	/* main's reference dropped */
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
const char	*session_closed_by_name(enum closed_by);
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
