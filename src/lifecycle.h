/*
 * A session's life as states: the session as a whole, each direction of
 * data, the main thread's side, and on the network thread the reading of
 * the socket, the close handshake and (client mode) how our EOF reaches
 * the server. doc/architecture.md draws them ("The same life as states");
 * every transition is a function of lifecycle.c, the one place that
 * changes these fields.
 *
 * Who may write what: the shared ones (state, input, output, asks) only
 * with the session locked; main_state, rx, close and half only on their
 * own thread, without the lock.
 */
#ifndef WSB_LIFECYCLE_H
#define WSB_LIFECYCLE_H

#include <stdbool.h>

struct session;

/* The session: its socket. The network thread moves it, main reads it. */
enum session_state {
	SESSION_HANDSHAKE,	/* no WebSocket yet: nothing is spawned */
	SESSION_RUNNING,	/* upgraded: main spawns, data flows */
	SESSION_CLOSING,	/* a close frame is on its way, one way or both */
	SESSION_CLOSED,		/* the socket is gone, after its upgrade */
	SESSION_FAILED,		/* the socket went before its upgrade */
};

/*
 * Input: the peer's messages, queued (from_peer) for the child's stdin
 * (client mode: for our stdout). Paused is the flow rule's: the queue is
 * full, so the socket is not read until it has room again.
 */
enum input_state {
	INPUT_OPEN,		/* messages are queued */
	INPUT_PAUSED,		/* the queue is full: the socket is not read */
	INPUT_EOF,		/* no more will come: stdin closes once drained */
	INPUT_CLOSED,		/* stdin is closed: what still comes is dropped */
};

/*
 * Output: the child's stdout (client mode: our stdin) framed into records
 * (to_peer) for the peer. Draining: stdout reached its end, what it wrote
 * is still going out. Done: nothing more will be queued, so once the queue
 * is empty the close frame goes.
 */
enum output_state {
	OUTPUT_OPEN,		/* stdout is read */
	OUTPUT_PAUSED,		/* the queue is full: stdout is not read */
	OUTPUT_DRAINING,	/* stdout ended; the queue drains */
	OUTPUT_DONE,		/* the child's side ended: then the close */
};

/* The main thread's side: the child, or in client mode our own stdio. */
enum main_state {
	MAIN_WAITING,		/* for the handshake: nothing runs */
	MAIN_RUNNING,		/* the child runs, or stdio is served */
	MAIN_DONE,		/* main let go of the session */
};

/*
 * What main asks of the network thread, which owns the pipes and the
 * socket. A request stays made; the network thread acts on it once.
 */
enum session_ask {
	ASK_CLOSE_STDIN = 1 << 0,	/* EOF on the child's stdin */
	ASK_DROP_STDOUT = 1 << 1,	/* the leader is gone: give stdout up */
	ASK_STOP = 1 << 2,		/* 1001: the server stops */
};

/* Network thread: what becomes of the bytes the socket gives (a server's). */
enum rx_state {
	RX_READING,		/* parsed and taken */
	RX_HELD,		/* input paused: kept unparsed in rx_backlog */
	RX_DRAINING,		/* the peer left while held: read it all */
	RX_DISCARDING,		/* refused, or its close came: dropped */
};

/* Network thread: the close handshake, from our side. */
enum close_state {
	CLOSE_NONE,		/* no close frame yet either way */
	CLOSE_STOPPING,		/* the server stops: our 1001 is to go */
	CLOSE_DUE,		/* ours is to go: we refuse the peer */
	CLOSE_ANSWER_DUE,	/* the peer's came: ours answers it */
	CLOSE_SENT,		/* ours is out: the peer's answer is awaited */
	CLOSE_ANSWERED,		/* ours answered: hang up once it is out */
	CLOSE_SHUT,		/* refused: ours and our FIN are out */
	CLOSE_BY_LWS,		/* client mode: lws sends or answers it */
};

/* Network thread, client mode: how the end of our input reaches the server. */
enum half_state {
	HALF_NONE,		/* our input has not ended */
	HALF_EOF_SENT,		/* a wsbridge server: our EOF pong is out */
	HALF_WAITING,		/* another server: --eof-wait runs */
	HALF_WAIT_OVER,		/* it stayed silent: our close goes */
};

/* The one place each of these changes; the shared ones with the lock held. */
void		 session_upgraded(struct session *);
void		 session_gone(struct session *);
bool		 session_is_upgraded(const struct session *);
bool		 session_is_gone(const struct session *);
void		 session_ask(struct session *, enum session_ask);
bool		 session_asked(const struct session *, enum session_ask);

bool		 input_pause(struct session *);
bool		 input_resume(struct session *);
void		 input_end(struct session *);
bool		 input_close(struct session *);
bool		 input_ended(const struct session *);

bool		 output_pause(struct session *);
bool		 output_resume(struct session *);
void		 output_stdout_ended(struct session *);
void		 output_done(struct session *);

void		 main_running(struct session *);
void		 main_done(struct session *);

void		 rx_hold(struct session *);
bool		 rx_release(struct session *);
void		 rx_drain(struct session *);
void		 rx_discard(struct session *);

void		 close_stopping(struct session *);
bool		 close_refuse(struct session *);
void		 close_answer(struct session *);
void		 close_frame_out(struct session *);
void		 close_shut(struct session *);
void		 close_by_lws(struct session *);
bool		 close_owed(const struct session *);
bool		 close_is_out(const struct session *);
bool		 close_begun(const struct session *);

void		 half_eof_sent(struct session *);
void		 half_wait(struct session *);
bool		 half_wait_over(struct session *);

const char	*session_state_name(enum session_state);

#endif
