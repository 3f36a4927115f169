/*
 * The network thread. A server's connections are peers (peer.c) on a
 * libevent loop of this thread's own (epoll: an event costs the same with
 * three sessions open or thousands), and the WebSocket protocol on them is
 * ours. A client's one connection is lws's, on lws's own loop, since lws
 * speaks the protocol and TLS there. Either way the main thread hands
 * sockets and session work over through the hub and wakes this thread
 * (net_wake), and this thread alone touches a connection.
 *
 * It also reads each child's stdout and writes its stdin: data goes
 * between pipe and socket on one thread, with no wake-up of the main thread
 * in between, and each pipe has one owner. The pipes sit in an epoll set
 * of our own (outpoll), whose one fd is in the loop: one event for every
 * pipe, and the same code for both loops.
 *
 * This file is the thread itself: starting and stopping it, its loop, the
 * wake-up, the work main asks for (net_service), and what either kind of
 * connection tells main when its upgrade is done (net_established) and
 * when it is gone (net_gone). The rest is in
 * netpipe.c (the children's pipes), netsend.c (sending queued records),
 * wsserver.c (a server's side of the protocol) and wsclient.c (client
 * mode's lws connection), which share netpriv.h.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <zlib.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <libwebsockets.h>

#include "config.h"
#include "log.h"
#include "monotime.h"
#include "net.h"
#include "netpriv.h"
#include "peer.h"
#include "server.h"
#include "session.h"

static void	 net_wake(void *);

/*
 * A session's connection is a peer of ours (a server's) or an lws wsi (a
 * client's): these few say the same thing to either.
 */
bool
net_linked(const struct session *s)
{
	return s->peer != NULL || s->wsi != NULL;
}

/* The writable callback runs once the socket has room. */
void
net_want_write(struct session *s)
{
	if (s->peer != NULL)
		peer_want_write(s->peer);
	else if (s->wsi != NULL)
		lws_callback_on_writable(s->wsi);
}

/* Drops the connection right after the current callback. */
void
net_kill(struct session *s)
{
	if (s->peer != NULL)
		peer_kill(s->peer);
	else if (s->wsi != NULL)
		lws_set_timeout(s->wsi, PENDING_TIMEOUT_CLOSE_SEND,
		    LWS_TO_KILL_ASYNC);
}

/* Reads the socket, or leaves what comes in the kernel's buffer. */
void
net_read_socket(struct session *s, bool on)
{
	if (s->peer != NULL)
		peer_read(s->peer, on);
	else if (s->wsi != NULL)
		lws_rx_flow_control(s->wsi, on ? 1 : 0);
}

/* The connection could not be set up; the session ends before it began. */
void
net_adopt_failed(struct session *s)
{
	log_error("session=%llu cannot watch the connection: out of memory",
	    (unsigned long long)s->id);
	session_lock(s);
	session_gone(s);
	session_unlock(s);
	session_wake_main(s);
	session_unref(s);
}

/* The handshake is done, either way round: the main side may spawn. */
void
net_established(struct session *s)
{
	s->last_rx = mono_sec();
	session_lock(s);
	session_upgraded(s);
	session_unlock(s);
	session_wake_main(s);
}

/* The socket is gone: tell the main side, once. */
void
net_gone(struct net *n, struct session *s)
{
	bool	 was_gone, up, ping = s->wsi != NULL &&
	    net_ping_timed_out(n, s);

	if (s->peer != NULL)
		net_watch_hangup(n, s, false);	/* before the fd is closed */
	session_lock(s);
	was_gone = session_is_gone(s);
	up = session_is_upgraded(s);
	if (s->close == CLOSE_STOPPING)
		session_set_final_close(s, CLOSED_SERVER, 1006,
		    "server stopped; no room for its close");
	else if (up && (s->half == HALF_WAITING ||
	    s->half == HALF_WAIT_OVER) && !close_is_out(s) && !ping)
		/*
		 * --eof-wait: websocketd ends a session whose program exited
		 * with a TCP close, no close frame. All we sent went out and
		 * all it said came in: "end of input" stays the record, as it
		 * was when we closed at once.
		 */
		log_debug("session=%llu the server hung up during --eof-wait",
		    (unsigned long long)s->id);
	else if (up)
		session_set_final_close(s, CLOSED_NETWORK, 1006, ping ?
		    "ping timeout" : "connection lost");
	else if (n->srv->cfg->connect_url != NULL)
		session_set_close(s, CLOSED_NETWORK, 1006,
		    "no WebSocket handshake from the server");
	session_gone(s);
	session_unlock(s);
	s->wsi = NULL;
	s->peer = NULL;
	net_resume_stdout(n, s);	/* read on, to drop, until EOF */
	if (!was_gone)
		session_wake_main(s);
}

/* Reads the socket again, now that the queue to the child has room. */
void
net_resume_rx(struct net *n, struct session *s)
{
	if (!net_linked(s) || s->rx_state != RX_HELD)
		return;
	if (n->srv->cfg->connect_url != NULL) {
		rx_release(s);
		net_read_socket(s, true);
	} else
		net_release_rx(n, s);
}

/* Work the main side asked for: output to send, room for input, a stop. */
static void
net_service(struct net *n, struct session *s)
{
	bool	 writable, abandon, give_up, stopping, close_in, resume = false;
	int	 out_fd, in_fd;

	if (s->fd >= 0) {
		out_fd = s->fd;
		s->fd = -1;
		net_server_adopt(n, s, out_fd);
		return;
	}
	session_lock(s);
	out_fd = s->stdout_fd;
	s->stdout_fd = -1;
	in_fd = s->stdin_fd;
	s->stdin_fd = -1;
	close_in = session_asked(s, ASK_CLOSE_STDIN);
	give_up = session_asked(s, ASK_DROP_STDOUT);
	session_unlock(s);
	if (out_fd >= 0)
		net_adopt_stdout(n, s, out_fd);
	if (in_fd >= 0)
		net_adopt_stdin(n, s, in_fd);
	if (close_in && s->in_fd >= 0)
		net_close_stdin(n, s);
	/*
	 * --pty: both of our fds are the terminal's master (spawn_pty), in_fd
	 * a dup of out_fd. A terminal hangs up, and the kernel sends SIGHUP
	 * (and SIGCONT) to its session leader, only when the master's last fd
	 * closes: closing in_fd alone would tell the child nothing, and a
	 * terminal has no other EOF (^D is a key, which the client sends as
	 * bytes). So stdin's EOF is the hang-up: stdout goes too, after what
	 * the terminal holds has been read (it still goes to a client that is
	 * there). Main asks for it when the client leaves, cleanly or not, at
	 * the stop and in the kill schedule, never for a half-close; it hears
	 * INPUT_CLOSED and OUTPUT_DRAINING as for pipes.
	 */
	if (close_in && n->srv->cfg->pty && s->out_fd >= 0)
		net_close_stdout(n, s, true);
	/* The leader is gone and main waited long enough for stdout's EOF. */
	if (give_up && s->out_fd >= 0)
		net_close_stdout(n, s, true);
	if (!net_linked(s))
		return;
	session_lock(s);
	stopping = session_asked(s, ASK_STOP);
	abandon = stopping && !session_is_upgraded(s);
	writable = session_is_upgraded(s) && (stopping ||
	    s->output == OUTPUT_DONE || evbuffer_get_length(s->to_peer) > 0);
	/* Room again, or stdin closed under a held socket (client: EPIPE). */
	if (session_input_has_room(s) && input_resume(s))
		resume = true;
	else if (s->input == INPUT_CLOSED)
		resume = true;
	session_unlock(s);
	if (abandon) {
		/* Still in its handshake: drop it, nothing was promised. */
		net_kill(s);
		return;
	}
	if (resume)
		net_resume_rx(n, s);
	if (stopping && s->close == CLOSE_NONE) {
		/*
		 * A client that reads nothing leaves no room for our 1001:
		 * the stop must not wait on it longer than on an answer.
		 */
		close_stopping(s);
		net_deadline(n, s, 2 * CLOSE_ACK_STOP_SECS);
	}
	if (writable)
		net_want_write(s);
}

void
net_drain(struct net *n)
{
	struct session	*s;

	while ((s = hub_next_net(n->srv->hub)) != NULL) {
		net_service(n, s);
		session_unref(s);
	}
}

/*
 * Each round of the loop (a server's libevent one, or lws's for a client)
 * ends by writing the input it brought to the children's stdin.
 */
static void *
net_run(void *arg)
{
	struct net	*n = arg;
	int		 r;

	while (!atomic_load(&n->stop)) {
		if (n->base != NULL)
			r = event_base_loop(n->base, EVLOOP_ONCE);
		else
			r = lws_service(n->ctx, 0);
		if (r < 0) {
			log_error("the network thread's loop failed");
			break;
		}
		net_flush_stdin(n);
	}
	net_flush_stdin(n);	/* lets go of the sessions it holds */
	net_close_stdins(n);
	net_close_stdouts(n);
	if (n->base != NULL)
		peers_close_all(&n->peers);	/* a client's: lws_context_destroy */
	return NULL;
}

static void
net_wake(void *arg)
{
	struct net	*n = arg;

	if (n->base != NULL)
		event_active(n->wake_ev, EV_READ, 1);
	else
		lws_cancel_service(n->ctx);
}

void
net_on_wake(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	net_drain(arg);
}

void
net_on_outpoll(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	net_poll_stdouts(arg);
}

/* What net_start made; the thread is not running. */
static void
net_free(struct net *n)
{
	size_t	 i;

	if (n->ctx != NULL)
		lws_context_destroy(n->ctx);
	if (!n->outpoll_lws && n->outpoll >= 0)
		close(n->outpoll);	/* else lws's to close */
	if (n->wake_ev != NULL)
		event_free(n->wake_ev);
	if (n->outpoll_ev != NULL)
		event_free(n->outpoll_ev);
	if (n->base != NULL)
		event_base_free(n->base);
	for (i = 0; i < sizeof n->zdef / sizeof n->zdef[0]; i++) {
		if (n->zdef[i] == NULL)
			continue;
		deflateEnd(n->zdef[i]);
		free(n->zdef[i]);
	}
	free(n);
}

int
net_start(struct server *srv, struct session *client)
{
	struct net	*n;
	sigset_t	 all, old;
	int		 error;

	if ((n = calloc(1, sizeof *n)) == NULL) {
		log_fatal("net: out of memory");
		return -1;
	}
	n->srv = srv;
	TAILQ_INIT(&n->flush_q);
	TAILQ_INIT(&n->writers);
	TAILQ_INIT(&n->readers);
	if ((n->outpoll = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		log_fatal("epoll_create1: %s", strerror(errno));
		free(n);
		return -1;
	}
	if ((srv->cfg->connect_url != NULL ? net_start_lws(n) :
	    net_start_loop(n)) != 0) {
		net_free(n);
		return -1;
	}
	srv->net = n;
	srv->hub->wake_net = net_wake;
	srv->hub->wake_net_arg = n;
	/* Before the thread runs, this thread may still call lws. */
	if (srv->cfg->connect_url != NULL && net_connect(n, client) != 0)
		goto fail;
	/* Signals belong to the main thread: the new thread blocks them all. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	error = pthread_create(&n->thread, NULL, net_run, n);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (error == 0)
		return 0;
	log_fatal("cannot start the network thread: %s", strerror(error));
fail:
	srv->hub->wake_net = NULL;
	srv->net = NULL;
	net_free(n);
	return -1;
}

void
net_stop(struct server *srv)
{
	struct net	*n = srv->net;

	if (n == NULL)
		return;
	atomic_store(&n->stop, true);
	net_wake(n);
	pthread_join(n->thread, NULL);
	srv->hub->wake_net = NULL;
	/* The thread is gone: freeing here races with nothing. */
	net_free(n);
	srv->net = NULL;
}
