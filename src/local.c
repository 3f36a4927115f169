/*
 * The terminal (or pipe, or file) as a session's local end. It differs from
 * a child in one way that matters: EOF on our stdin ends what we send, not
 * what we receive, so output keeps flowing to stdout until the remote end
 * closes. Writes to stdout block, which is fine with one session and means
 * a slow reader holds the remote back through the queue bound.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "config.h"
#include "framing.h"
#include "local.h"
#include "localtty.h"
#include "log.h"
#include "ptyquery.h"
#include "server.h"
#include "session.h"

#define CHUNK	65536

struct local {
	struct session	*s;
	struct event	*in_ev;		/* stdin readable, or a pump */
	bool		 pump;		/* stdin cannot be polled (a file) */
	bool		 paused;
	bool		 eof;
	char		*buf;		/* line mode: partial line */
	size_t		 len, cap;
	char		 out[CHUNK];
};

/* The one local end there is, found through the server like everything. */
static struct local *
local_get(struct server *srv)
{
	return srv->local;
}

static void
local_resume(struct local *l)
{
	l->paused = false;
	if (l->pump)
		event_active(l->in_ev, EV_READ, 0);
	else
		event_add(l->in_ev, NULL);
}

/* Our stdin is what we send: the same framing as a child's stdout. */
static void
on_stdin(evutil_socket_t fd, short what, void *arg)
{
	struct server	*srv = arg;
	struct local	*l = local_get(srv);
	struct session	*s = l->s;
	const struct config *cfg = srv->cfg;
	ssize_t		 n;
	bool		 wake = false;

	(void)fd;
	(void)what;
	if (l->eof || l->paused || s == NULL)
		return;
	if (cfg->binary)
		n = read(STDIN_FILENO, l->out, sizeof l->out);
	else {
		if (l->len == l->cap && framing_grow_line_buffer(&l->buf,
		    &l->cap, cfg->max_message) != 0) {
			log_error("out of memory for a line");
			n = 0;
		} else
			n = read(STDIN_FILENO, l->buf + l->len, l->cap - l->len);
	}
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n == -1)
		log_error("read stdin: %s", strerror(errno));
	l->eof = n <= 0;
	session_lock(s);
	wake = evbuffer_get_length(s->to_peer) == 0;
	if (cfg->binary && n > 0)
		session_queue_record(s, RECORD_BINARY, l->out, (size_t)n);
	else if (!cfg->binary) {
		l->len += n > 0 ? (size_t)n : 0;
		session_queue_lines(s, NULL, l->buf, &l->len, cfg->max_message,
		    l->eof);
	}
	if (l->eof) {
		/* All of it is queued: the close (or half-close) follows it. */
		session_set_close(s, CLOSED_CHILD, 1000, "end of input");
		output_done(s);
		log_debug("session=%llu end of input, %zu bytes to send",
		    (unsigned long long)s->id, evbuffer_get_length(s->to_peer));
		wake = true;
	} else if (session_output_full(s) && output_pause(s))
		l->paused = true;
	if (evbuffer_get_length(s->to_peer) == 0 && !l->eof)
		wake = false;
	session_unlock(s);
	if (wake)
		session_wake_net(s);
	if (l->eof || l->paused) {
		if (!l->pump)
			event_del(l->in_ev);
	} else if (l->pump)
		event_active(l->in_ev, EV_READ, 0);
}

/*
 * --pty: our window's size, when it differs from the one the server last
 * heard (in the URL or a resize message), goes out as a resize control
 * message: a text message, in the same queue as the keys, so in order.
 */
static void
local_send_size(struct server *srv, struct session *s)
{
	char		 msg[64];
	unsigned	 cols, rows;
	bool		 wake = false;

	if (!s->pty_agreed || !localtty_size(&cols, &rows) ||
	    (cols == srv->tty_cols && rows == srv->tty_rows) ||
	    ptyquery_resize(cols, rows, msg, sizeof msg) != 0)
		return;
	session_lock(s);
	/* After our EOF the server is told nothing more. */
	if (s->output != OUTPUT_DONE && !session_asked(s, ASK_STOP) &&
	    !session_is_gone(s)) {
		wake = evbuffer_get_length(s->to_peer) == 0;
		session_queue_record(s, RECORD_TEXT, msg, strlen(msg));
		srv->tty_cols = cols;
		srv->tty_rows = rows;
	}
	session_unlock(s);
	log_debug("session=%llu window %ux%u", (unsigned long long)s->id,
	    cols, rows);
	if (wake)
		session_wake_net(s);
}

/* SIGWINCH (main.c): before the session starts, local_start looks. */
void
local_winch(struct server *srv)
{
	struct local	*l = local_get(srv);

	if (l != NULL && l->s != NULL)
		local_send_size(srv, l->s);
}

/*
 * --pty: our terminal goes raw for the session (local_finish restores it),
 * and a size changed while we connected is sent now.
 */
static void
local_start_pty(struct server *srv, struct session *s)
{
	if (!s->pty_agreed)
		fprintf(stderr, "wsbridge: %s did not agree to the %s "
		    "subprotocol (is it a --pty server?): window sizes are "
		    "not sent\n", srv->cfg->connect_shown, PTY_SUBPROTOCOL);
	if (isatty(STDIN_FILENO) && localtty_raw() != 0)
		fprintf(stderr, "wsbridge: the terminal stays in its mode\n");
	local_send_size(srv, s);
}

static int
local_start(struct server *srv, struct session *s)
{
	struct local	*l;
	struct stat	 st;

	if ((l = calloc(1, sizeof *l)) == NULL)
		return -1;
	l->s = s;
	/* epoll cannot watch a regular file: read it as fast as allowed. */
	l->pump = fstat(STDIN_FILENO, &st) == 0 && S_ISREG(st.st_mode);
	if (!l->pump) {
		l->in_ev = event_new(srv->base, STDIN_FILENO,
		    EV_READ | EV_PERSIST, on_stdin, srv);
		/* Nor some devices (/dev/null): then pump those too. */
		if (l->in_ev != NULL && event_add(l->in_ev, NULL) == -1) {
			event_free(l->in_ev);
			l->in_ev = NULL;
			l->pump = true;
		}
	}
	if (l->pump)
		l->in_ev = event_new(srv->base, -1, 0, on_stdin, srv);
	if (l->in_ev == NULL) {
		free(l);
		return -1;
	}
	srv->local = l;
	main_running(s);
	if (srv->cfg->pty)
		local_start_pty(srv, s);
	local_resume(l);
	return 0;
}

/* Remote data goes to stdout as it comes; EPIPE ends us quietly. */
static int
local_write(struct local *l, struct session *s)
{
	size_t	 n, off;
	ssize_t	 w;
	bool	 wake_net;

	for (;;) {
		session_lock(s);
		n = s->from_peer_ready < sizeof l->out ? s->from_peer_ready :
		    sizeof l->out;
		evbuffer_remove(s->from_peer, l->out, n);
		s->from_peer_ready -= n;
		wake_net = s->input == INPUT_PAUSED &&
		    session_input_has_room(s);
		session_unlock(s);
		if (wake_net)
			session_wake_net(s);
		if (n == 0)
			return 0;
		for (off = 0; off < n; off += (size_t)w) {
			w = write(STDOUT_FILENO, l->out + off, n - off);
			if (w == -1 && errno == EINTR) {
				w = 0;
				continue;
			}
			if (w == -1)
				return -1;
		}
	}
}

static void
local_finish(struct server *srv, struct session *s)
{
	struct local	*l = local_get(srv);

	if (l != NULL && l->s == s) {
		event_del(l->in_ev);
		l->s = NULL;
	}
	/* Before the unref: the session's end may print why, cooked. */
	localtty_restore();
	main_done(s);
	session_unref(s);
}

void
local_service(struct server *srv, struct session *s)
{
	struct local	*l = local_get(srv);
	bool		 upgraded, gone, resume;

	if (s->main_state == MAIN_DONE)
		return;
	session_lock(s);
	upgraded = session_is_upgraded(s);
	gone = session_is_gone(s);
	resume = session_output_has_room(s) && output_resume(s);
	session_unlock(s);
	/*
	 * Started even when the session is over already (a fast remote sent
	 * its output and closed before we first got here): that output is
	 * still written to stdout below, before the session is finished.
	 */
	if (l == NULL && upgraded && local_start(srv, s) != 0) {
		log_error("cannot watch stdin");
		gone = true;
	}
	l = local_get(srv);
	if (l != NULL && local_write(l, s) != 0) {
		/*
		 * Our output has nowhere to go: end the session. EPIPE is the
		 * quiet case (`| head`); anything else (a full disk) is said.
		 */
		if (errno == EPIPE)
			srv->local_epipe = true;
		else {
			fprintf(stderr, "wsbridge: write stdout: %s\n",
			    strerror(errno));
			srv->local_failed = true;
		}
		/*
		 * What still arrives is read and dropped: a close with unread
		 * bytes in the socket would be a reset, and the server would
		 * never see our close frame.
		 */
		session_lock(s);
		session_ask(s, ASK_STOP);
		input_close(s);
		evbuffer_drain(s->from_peer, evbuffer_get_length(s->from_peer));
		s->from_peer_ready = 0;
		session_unlock(s);
		session_wake_net(s);
		l->eof = true;
		event_del(l->in_ev);
	}
	if (l != NULL && resume && !l->eof && l->paused)
		local_resume(l);
	if (gone)
		local_finish(srv, s);
}

void
local_free(struct server *srv)
{
	struct local	*l = srv->local;

	if (l == NULL)
		return;
	event_free(l->in_ev);
	free(l->buf);
	free(l);
	srv->local = NULL;
}
