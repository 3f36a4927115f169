/*
 * Every change of a session's states (lifecycle.h), and the questions the
 * rest of the code asks of them. A transition that does not apply to the
 * state a field is in changes nothing: the callers ask for what an event
 * means ("the peer sent EOF"), and whether it moves anything is decided
 * here, once. The shared fields change with the session locked (the
 * caller holds the lock); the network thread's and main's own fields
 * without it.
 */
#include <stdbool.h>

#include "lifecycle.h"
#include "log.h"
#include "session.h"

static const char *const session_names[] = {
	"handshake", "running", "closing", "closed", "failed",
};

const char *
session_state_name(enum session_state st)
{
	return session_names[st];
}

static void
session_move(struct session *s, enum session_state to)
{
	log_debug("session=%llu state %s -> %s", (unsigned long long)s->id,
	    session_names[s->state], session_names[to]);
	s->state = to;
}

/* Network thread, locked: the 101 is out (or, a client, came in). */
void
session_upgraded(struct session *s)
{
	if (s->state == SESSION_HANDSHAKE)
		session_move(s, SESSION_RUNNING);
}

/*
 * Network thread, locked: the socket is gone. Before the upgrade the
 * session failed; after it, no more input can come.
 */
void
session_gone(struct session *s)
{
	if (s->state == SESSION_HANDSHAKE)
		session_move(s, SESSION_FAILED);
	else if (s->state == SESSION_RUNNING || s->state == SESSION_CLOSING)
		session_move(s, SESSION_CLOSED);
	input_end(s);
}

bool
session_is_upgraded(const struct session *s)
{
	return s->state == SESSION_RUNNING || s->state == SESSION_CLOSING ||
	    s->state == SESSION_CLOSED;
}

bool
session_is_gone(const struct session *s)
{
	return s->state == SESSION_CLOSED || s->state == SESSION_FAILED;
}

/* Network thread: the close handshake began (close_* below). */
static void
session_closing(struct session *s)
{
	session_lock(s);
	if (s->state == SESSION_RUNNING)
		session_move(s, SESSION_CLOSING);
	session_unlock(s);
}

/* Main, locked: a request for the network thread (session_wake_net). */
void
session_ask(struct session *s, enum session_ask what)
{
	s->asks |= (unsigned)what;
}

bool
session_asked(const struct session *s, enum session_ask what)
{
	return (s->asks & (unsigned)what) != 0;
}

/* Locked: the queue for stdin is full. True if input paused now. */
bool
input_pause(struct session *s)
{
	if (s->input != INPUT_OPEN)
		return false;
	s->input = INPUT_PAUSED;
	return true;
}

/* Locked: the queue has room again. True if input was paused. */
bool
input_resume(struct session *s)
{
	if (s->input != INPUT_PAUSED)
		return false;
	s->input = INPUT_OPEN;
	return true;
}

/* Locked: the peer sends no more (its half-close, or it left). */
void
input_end(struct session *s)
{
	if (s->input == INPUT_OPEN || s->input == INPUT_PAUSED)
		s->input = INPUT_EOF;
}

/*
 * Locked: stdin is closed (client mode: our stdout is). True if the
 * socket was held back for it, and is to be read again: what comes now is
 * dropped.
 */
bool
input_close(struct session *s)
{
	bool	 was_paused = s->input == INPUT_PAUSED;

	s->input = INPUT_CLOSED;
	return was_paused;
}

bool
input_ended(const struct session *s)
{
	return s->input == INPUT_EOF || s->input == INPUT_CLOSED;
}

/* Locked: the queue to the peer is full. True if output paused now. */
bool
output_pause(struct session *s)
{
	if (s->output != OUTPUT_OPEN)
		return false;
	s->output = OUTPUT_PAUSED;
	return true;
}

/* Locked: the queue to the peer has room. True if output was paused. */
bool
output_resume(struct session *s)
{
	if (s->output != OUTPUT_PAUSED)
		return false;
	s->output = OUTPUT_OPEN;
	return true;
}

/* Locked: the network thread read stdout to its end, or gave it up. */
void
output_stdout_ended(struct session *s)
{
	if (s->output == OUTPUT_OPEN || s->output == OUTPUT_PAUSED)
		s->output = OUTPUT_DRAINING;
}

/* Locked: main says nothing more comes; the close follows the queue. */
void
output_done(struct session *s)
{
	s->output = OUTPUT_DONE;
}

/* Main: the child was spawned (client mode: stdio is served). */
void
main_running(struct session *s)
{
	if (s->main_state == MAIN_WAITING)
		s->main_state = MAIN_RUNNING;
}

/* Main: its reference is dropped; nothing more is done on this side. */
void
main_done(struct session *s)
{
	s->main_state = MAIN_DONE;
}

/* Network thread: input paused, so the socket's bytes wait unparsed. */
void
rx_hold(struct session *s)
{
	if (s->rx_state == RX_READING)
		s->rx_state = RX_HELD;
}

/*
 * Network thread: room again, or the peer left. True if there is a
 * backlog to parse (the socket was held or is being drained).
 */
bool
rx_release(struct session *s)
{
	if (s->rx_state == RX_HELD) {
		s->rx_state = RX_READING;
		return true;
	}
	return s->rx_state == RX_DRAINING;
}

/* Network thread: the peer left while held; its last bytes are finite. */
void
rx_drain(struct session *s)
{
	if (s->rx_state == RX_HELD)
		s->rx_state = RX_DRAINING;
}

/* Network thread: nothing the peer sends from now on is looked at. */
void
rx_discard(struct session *s)
{
	s->rx_state = RX_DISCARDING;
}

/* Network thread: the server stops; our 1001 goes after the queue. */
void
close_stopping(struct session *s)
{
	if (s->close != CLOSE_NONE)
		return;
	s->close = CLOSE_STOPPING;
	session_closing(s);
}

/*
 * Network thread: we refuse what the peer sent. False if a close is
 * already owed or out: the first reason is the one given.
 */
bool
close_refuse(struct session *s)
{
	if (s->close != CLOSE_NONE && s->close != CLOSE_STOPPING)
		return false;
	s->close = CLOSE_DUE;
	rx_discard(s);
	session_closing(s);
	return true;
}

/* Network thread: the peer's close came; ours answers it, then we hang up. */
void
close_answer(struct session *s)
{
	if (close_is_out(s))
		return;
	s->close = CLOSE_ANSWER_DUE;
	rx_discard(s);		/* nothing may follow its close */
	session_closing(s);
}

/* Network thread: our close frame went out. */
void
close_frame_out(struct session *s)
{
	s->close = s->close == CLOSE_ANSWER_DUE ? CLOSE_ANSWERED : CLOSE_SENT;
	session_closing(s);
}

/* Network thread: after our refusal, our FIN went out too. */
void
close_shut(struct session *s)
{
	if (s->close == CLOSE_SENT)
		s->close = CLOSE_SHUT;
}

/* Network thread, client mode: lws sends the close (or echoes the peer's). */
void
close_by_lws(struct session *s)
{
	s->close = CLOSE_BY_LWS;
	session_closing(s);
}

/* Ours is to go, and has not. */
bool
close_owed(const struct session *s)
{
	return s->close == CLOSE_DUE || s->close == CLOSE_ANSWER_DUE;
}

/* Ours is on the wire: only the peer's answer (or the deadline) remains. */
bool
close_is_out(const struct session *s)
{
	return s->close == CLOSE_SENT || s->close == CLOSE_ANSWERED ||
	    s->close == CLOSE_SHUT;
}

/* Past the point where data is sent or taken. */
bool
close_begun(const struct session *s)
{
	return close_owed(s) || close_is_out(s) || s->close == CLOSE_BY_LWS;
}

/* Network thread, client mode: our half-close pong is out. */
void
half_eof_sent(struct session *s)
{
	if (s->half == HALF_NONE)
		s->half = HALF_EOF_SENT;
}

/* Network thread, client mode: --eof-wait starts. */
void
half_wait(struct session *s)
{
	if (s->half == HALF_NONE)
		s->half = HALF_WAITING;
}

/* Network thread, client mode: --eof-wait ran out. True if it was running. */
bool
half_wait_over(struct session *s)
{
	if (s->half != HALF_WAITING)
		return false;
	s->half = HALF_WAIT_OVER;
	return true;
}
