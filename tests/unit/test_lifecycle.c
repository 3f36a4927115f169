/*
 * lifecycle.c: every transition moves the state it is for, from the states
 * it applies to, and leaves every other state as it was; the questions
 * (session_is_upgraded, input_ended, close_owed, ...) answer from the
 * states alone. lifecycle.c is linked alone: the session lock is this
 * file's, and counts how often the close transitions take it.
 */
#include <stdlib.h>

#include "../../src/lifecycle.h"
#include "../../src/log.h"
#include "../../src/session.h"
#include "unit.h"

static int	 locks, unlocks;

void
session_lock(struct session *s)
{
	(void)s;
	locks++;
}

void
session_unlock(struct session *s)
{
	(void)s;
	unlocks++;
}

static void
fresh(struct session *s)
{
	memset(s, 0, sizeof *s);
	s->id = 7;
}

static void
test_session(void)
{
	struct session	 s;

	fresh(&s);
	CHECK_EQ_INT(s.state, SESSION_HANDSHAKE);
	CHECK(!session_is_upgraded(&s) && !session_is_gone(&s));
	session_upgraded(&s);
	CHECK_EQ_INT(s.state, SESSION_RUNNING);
	CHECK(session_is_upgraded(&s) && !session_is_gone(&s));
	session_upgraded(&s);			/* twice: no change */
	CHECK_EQ_INT(s.state, SESSION_RUNNING);
	session_gone(&s);
	CHECK_EQ_INT(s.state, SESSION_CLOSED);
	CHECK(session_is_upgraded(&s) && session_is_gone(&s));
	CHECK_EQ_INT(s.input, INPUT_EOF);	/* no more input can come */
	session_upgraded(&s);			/* never back */
	CHECK_EQ_INT(s.state, SESSION_CLOSED);

	/* Gone during the handshake: failed, and never upgraded. */
	fresh(&s);
	session_gone(&s);
	CHECK_EQ_INT(s.state, SESSION_FAILED);
	CHECK(!session_is_upgraded(&s) && session_is_gone(&s));
	session_upgraded(&s);
	CHECK_EQ_INT(s.state, SESSION_FAILED);

	/* A close under way is "closing"; gone from there is closed. */
	fresh(&s);
	session_upgraded(&s);
	close_stopping(&s);
	CHECK_EQ_INT(s.state, SESSION_CLOSING);
	CHECK(session_is_upgraded(&s));
	session_gone(&s);
	CHECK_EQ_INT(s.state, SESSION_CLOSED);

	/* A close before the upgrade does not make it closing. */
	fresh(&s);
	close_by_lws(&s);
	CHECK_EQ_INT(s.state, SESSION_HANDSHAKE);
}

static void
test_asks(void)
{
	struct session	 s;

	fresh(&s);
	CHECK(!session_asked(&s, ASK_STOP));
	session_ask(&s, ASK_CLOSE_STDIN);
	session_ask(&s, ASK_STOP);
	CHECK(session_asked(&s, ASK_CLOSE_STDIN));
	CHECK(session_asked(&s, ASK_STOP));
	CHECK(!session_asked(&s, ASK_DROP_STDOUT));
	session_ask(&s, ASK_STOP);		/* a request stays made */
	CHECK(session_asked(&s, ASK_STOP));
}

static void
test_input(void)
{
	struct session	 s;

	fresh(&s);
	CHECK(!input_resume(&s));		/* not paused */
	CHECK(input_pause(&s));
	CHECK_EQ_INT(s.input, INPUT_PAUSED);
	CHECK(!input_pause(&s));		/* once */
	CHECK(!input_ended(&s));
	CHECK(input_resume(&s));
	CHECK_EQ_INT(s.input, INPUT_OPEN);

	input_end(&s);
	CHECK_EQ_INT(s.input, INPUT_EOF);
	CHECK(input_ended(&s));
	CHECK(!input_pause(&s));		/* nothing pauses after EOF */
	CHECK_EQ_INT(s.input, INPUT_EOF);
	CHECK(!input_close(&s));		/* it was not paused */
	CHECK_EQ_INT(s.input, INPUT_CLOSED);
	input_end(&s);				/* closed stays closed */
	CHECK_EQ_INT(s.input, INPUT_CLOSED);
	CHECK(!input_resume(&s) && !input_pause(&s));

	/* Closed while paused: the socket is to be read again, to drop. */
	fresh(&s);
	input_pause(&s);
	CHECK(input_close(&s));
	CHECK_EQ_INT(s.input, INPUT_CLOSED);
}

static void
test_output(void)
{
	struct session	 s;

	fresh(&s);
	CHECK(!output_resume(&s));
	CHECK(output_pause(&s));
	CHECK_EQ_INT(s.output, OUTPUT_PAUSED);
	CHECK(!output_pause(&s));
	output_stdout_ended(&s);		/* a paused pipe's EOF */
	CHECK_EQ_INT(s.output, OUTPUT_DRAINING);
	CHECK(!output_resume(&s) && !output_pause(&s));
	output_done(&s);
	CHECK_EQ_INT(s.output, OUTPUT_DONE);
	output_stdout_ended(&s);		/* late news changes nothing */
	CHECK_EQ_INT(s.output, OUTPUT_DONE);

	/* A child that never ran: done without draining. */
	fresh(&s);
	output_done(&s);
	CHECK_EQ_INT(s.output, OUTPUT_DONE);
}

static void
test_main_side(void)
{
	struct session	 s;

	fresh(&s);
	CHECK_EQ_INT(s.main_state, MAIN_WAITING);
	main_running(&s);
	CHECK_EQ_INT(s.main_state, MAIN_RUNNING);
	main_done(&s);
	CHECK_EQ_INT(s.main_state, MAIN_DONE);
	main_running(&s);			/* done is the end */
	CHECK_EQ_INT(s.main_state, MAIN_DONE);
}

static void
test_rx(void)
{
	struct session	 s;

	fresh(&s);
	CHECK(!rx_release(&s));			/* nothing held */
	rx_drain(&s);				/* only a held socket drains */
	CHECK_EQ_INT(s.rx_state, RX_READING);
	rx_hold(&s);
	CHECK_EQ_INT(s.rx_state, RX_HELD);
	CHECK(rx_release(&s));
	CHECK_EQ_INT(s.rx_state, RX_READING);

	/* The peer left while held: released, it stays draining. */
	rx_hold(&s);
	rx_drain(&s);
	CHECK_EQ_INT(s.rx_state, RX_DRAINING);
	CHECK(rx_release(&s));
	CHECK_EQ_INT(s.rx_state, RX_DRAINING);
	rx_hold(&s);				/* a draining socket never holds */
	CHECK_EQ_INT(s.rx_state, RX_DRAINING);

	rx_discard(&s);
	CHECK_EQ_INT(s.rx_state, RX_DISCARDING);
	rx_hold(&s);
	CHECK(!rx_release(&s));
	CHECK_EQ_INT(s.rx_state, RX_DISCARDING);
}

static void
test_close(void)
{
	struct session	 s;

	/* We close first: ours goes, then the peer's answer is awaited. */
	fresh(&s);
	session_upgraded(&s);
	CHECK(!close_begun(&s) && !close_owed(&s) && !close_is_out(&s));
	close_stopping(&s);
	CHECK_EQ_INT(s.close, CLOSE_STOPPING);
	CHECK(!close_begun(&s));		/* data still flows */
	close_frame_out(&s);
	CHECK_EQ_INT(s.close, CLOSE_SENT);
	CHECK(close_is_out(&s) && close_begun(&s) && !close_owed(&s));
	close_stopping(&s);			/* not after ours is out */
	CHECK_EQ_INT(s.close, CLOSE_SENT);

	/* A refusal: owed, the rest is dropped; then our FIN. */
	fresh(&s);
	CHECK(close_refuse(&s));
	CHECK_EQ_INT(s.close, CLOSE_DUE);
	CHECK_EQ_INT(s.rx_state, RX_DISCARDING);
	CHECK(close_owed(&s) && close_begun(&s) && !close_is_out(&s));
	CHECK(!close_refuse(&s));		/* the first reason stays */
	close_frame_out(&s);
	CHECK_EQ_INT(s.close, CLOSE_SENT);
	CHECK(!close_refuse(&s));
	close_shut(&s);
	CHECK_EQ_INT(s.close, CLOSE_SHUT);
	CHECK(close_is_out(&s));
	close_shut(&s);
	CHECK_EQ_INT(s.close, CLOSE_SHUT);

	/* A refusal during the stop replaces the 1001 still to go. */
	fresh(&s);
	close_stopping(&s);
	CHECK(close_refuse(&s));
	CHECK_EQ_INT(s.close, CLOSE_DUE);

	/* The peer closes first: ours answers it, then we hang up. */
	fresh(&s);
	close_stopping(&s);
	close_answer(&s);
	CHECK_EQ_INT(s.close, CLOSE_ANSWER_DUE);
	CHECK_EQ_INT(s.rx_state, RX_DISCARDING);
	CHECK(close_owed(&s));
	CHECK(!close_refuse(&s));
	close_frame_out(&s);
	CHECK_EQ_INT(s.close, CLOSE_ANSWERED);
	CHECK(close_is_out(&s));
	close_shut(&s);				/* an answer is not shut */
	CHECK_EQ_INT(s.close, CLOSE_ANSWERED);

	/* Its close comes while our refusal is owed: ours answers it. */
	fresh(&s);
	close_refuse(&s);
	close_answer(&s);
	CHECK_EQ_INT(s.close, CLOSE_ANSWER_DUE);
	close_frame_out(&s);
	CHECK_EQ_INT(s.close, CLOSE_ANSWERED);

	/* Its close after ours is out is the answer: nothing moves. */
	fresh(&s);
	close_frame_out(&s);
	close_answer(&s);
	CHECK_EQ_INT(s.close, CLOSE_SENT);

	/* Client mode: lws takes the close over. */
	fresh(&s);
	close_by_lws(&s);
	CHECK_EQ_INT(s.close, CLOSE_BY_LWS);
	CHECK(close_begun(&s) && !close_owed(&s) && !close_is_out(&s));
	close_stopping(&s);
	CHECK_EQ_INT(s.close, CLOSE_BY_LWS);

	/* Each close transition moves the shared state under the lock. */
	fresh(&s);
	locks = unlocks = 0;
	session_upgraded(&s);
	close_refuse(&s);
	close_frame_out(&s);
	CHECK(locks == 2 && unlocks == 2);
}

static void
test_half(void)
{
	struct session	 s;

	fresh(&s);
	CHECK(!half_wait_over(&s));		/* nothing waits */
	half_wait(&s);
	CHECK_EQ_INT(s.half, HALF_WAITING);
	half_eof_sent(&s);			/* the one or the other */
	CHECK_EQ_INT(s.half, HALF_WAITING);
	CHECK(half_wait_over(&s));
	CHECK_EQ_INT(s.half, HALF_WAIT_OVER);
	CHECK(!half_wait_over(&s));
	half_wait(&s);
	CHECK_EQ_INT(s.half, HALF_WAIT_OVER);

	fresh(&s);
	half_eof_sent(&s);
	CHECK_EQ_INT(s.half, HALF_EOF_SENT);
	half_wait(&s);
	CHECK_EQ_INT(s.half, HALF_EOF_SENT);
	CHECK(!half_wait_over(&s));
}

static void
test_names(void)
{
	CHECK_STR(session_state_name(SESSION_HANDSHAKE), "handshake");
	CHECK_STR(session_state_name(SESSION_FAILED), "failed");
}

int
main(void)
{
	log_set_level(LL_ERROR);
	test_session();
	test_asks();
	test_input();
	test_output();
	test_main_side();
	test_rx();
	test_close();
	test_half();
	test_names();
	return unit_done();
}
