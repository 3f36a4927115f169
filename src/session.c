/*
 * Sessions and the hub that passes them between the threads. A session is
 * referenced by the network side, the main side, and by each queue it sits
 * on; whoever drops the last reference writes its access-log line and
 * frees it, so neither thread needs to know what the other still holds.
 * The accounting of the end (the ACCESS line, the metrics, a client's exit
 * status) is session-end.c's.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "config.h"
#include "env.h"
#include "log.h"
#include "server.h"
#include "session.h"
#include "session-end.h"

struct hub *
hub_create(void)
{
	struct hub	*hub;

	if ((hub = calloc(1, sizeof *hub)) == NULL)
		return NULL;
	if (pthread_mutex_init(&hub->lock, NULL) != 0) {
		free(hub);
		return NULL;
	}
	TAILQ_INIT(&hub->all);
	TAILQ_INIT(&hub->net_q);
	TAILQ_INIT(&hub->main_q);
	return hub;
}

void
hub_free(struct hub *hub)
{
	if (hub == NULL)
		return;
	pthread_mutex_destroy(&hub->lock);
	free(hub);
}

unsigned
hub_count(struct hub *hub)
{
	unsigned	 n;

	pthread_mutex_lock(&hub->lock);
	n = hub->count;
	pthread_mutex_unlock(&hub->lock);
	return n;
}

/*
 * Pops the next session that needs the network thread, or NULL. Popping one
 * at a time lets the session be queued again while it is being served.
 * The caller owns the queue's reference.
 */
struct session *
hub_next_net(struct hub *hub)
{
	struct session	*s;

	pthread_mutex_lock(&hub->lock);
	if ((s = TAILQ_FIRST(&hub->net_q)) != NULL) {
		TAILQ_REMOVE(&hub->net_q, s, net_entry);
		s->on_net = false;
	}
	pthread_mutex_unlock(&hub->lock);
	return s;
}

struct session *
hub_next_main(struct hub *hub)
{
	struct session	*s;

	pthread_mutex_lock(&hub->lock);
	if ((s = TAILQ_FIRST(&hub->main_q)) != NULL) {
		TAILQ_REMOVE(&hub->main_q, s, main_entry);
		s->on_main = false;
	}
	pthread_mutex_unlock(&hub->lock);
	return s;
}

/* Asks the network thread to close every session with 1001. */
void
hub_broadcast_shutdown(struct hub *hub)
{
	struct session	**all, *s;
	size_t		  n = 0, i;

	/* Collect under the hub lock, then lock each session alone. */
	pthread_mutex_lock(&hub->lock);
	all = calloc(hub->count + 1, sizeof *all);
	if (all != NULL) {
		TAILQ_FOREACH(s, &hub->all, all_entry) {
			/* One already on its way to session_free is skipped. */
			if (session_ref_if_alive(s))
				all[n++] = s;
		}
	}
	pthread_mutex_unlock(&hub->lock);
	if (all == NULL) {
		log_error("shutdown: out of memory listing sessions");
		return;
	}
	for (i = 0; i < n; i++) {
		session_lock(all[i]);
		session_ask(all[i], ASK_STOP);
		session_unlock(all[i]);
		session_wake_net(all[i]);
		session_unref(all[i]);
	}
	free(all);
}

struct session *
session_create(struct server *srv)
{
	struct session	*s;

	if ((s = calloc(1, sizeof *s)) == NULL)
		return NULL;
	if (pthread_mutex_init(&s->lock, NULL) != 0) {
		free(s);
		return NULL;
	}
	s->from_peer = evbuffer_new();
	s->to_peer = evbuffer_new();
	s->stdin_fd = -1;
	s->stdout_fd = -1;
	s->out_fd = -1;
	s->in_fd = -1;
	s->wstatus = WSTATUS_NONE;
	s->out_watch.s = s->in_watch.s = s->hup_watch.s = s;
	s->out_watch.kind = WATCH_STDOUT;
	s->in_watch.kind = WATCH_STDIN;
	s->hup_watch.kind = WATCH_SOCKET;
	memset(s->pipes, -1, sizeof s->pipes);
	if (s->from_peer == NULL || s->to_peer == NULL) {
		if (s->from_peer != NULL)
			evbuffer_free(s->from_peer);
		if (s->to_peer != NULL)
			evbuffer_free(s->to_peer);
		pthread_mutex_destroy(&s->lock);
		free(s);
		return NULL;
	}
	s->srv = srv;
	s->fd = -1;
	s->pid = -1;
	/* The main side and the network side each hold one. */
	atomic_init(&s->refs, 2);
	clock_gettime(CLOCK_MONOTONIC, &s->started);
	return s;
}

/* Makes the session visible to shutdown and to the count of live ones. */
void
session_publish(struct session *s)
{
	struct hub	*hub = s->srv->hub;

	pthread_mutex_lock(&hub->lock);
	TAILQ_INSERT_TAIL(&hub->all, s, all_entry);
	hub->count++;
	s->published = true;
	pthread_mutex_unlock(&hub->lock);
}

void
session_ref(struct session *s)
{
	atomic_fetch_add(&s->refs, 1);
}

/*
 * For a session found through the hub's list rather than held: its last
 * reference may be dropped already, with session_free waiting for the hub
 * lock to unlink it. Such a one must not be brought back.
 */
bool
session_ref_if_alive(struct session *s)
{
	int	 v = atomic_load(&s->refs);

	while (v > 0 && !atomic_compare_exchange_weak(&s->refs, &v, v + 1))
		;
	return v > 0;
}

static void
session_free(struct session *s)
{
	struct hub	*hub = s->srv->hub;
	size_t		 i;
	bool		 last;

	session_log_end(s);
	session_count_end(s);
	session_client_result(s);
	pthread_mutex_lock(&hub->lock);
	/* One that failed before it was published was never counted. */
	last = false;
	if (s->published) {
		TAILQ_REMOVE(&hub->all, s, all_entry);
		last = --hub->count == 0;
	}
	pthread_mutex_unlock(&hub->lock);
	evbuffer_free(s->from_peer);
	evbuffer_free(s->to_peer);
	free(s->out_line);
	free(s->ctl_msg);
	free(s->reply);		/* never adopted */
	if (s->stdout_fd >= 0)
		close(s->stdout_fd);	/* spawned, but never adopted */
	if (s->stdin_fd >= 0)
		close(s->stdin_fd);
	for (i = 0; i < sizeof s->pipes / sizeof s->pipes[0]; i++)
		if (s->pipes[i] >= 0)
			close(s->pipes[i]);	/* the child never ran */
	env_free(s->envp);
	free(s->script_path);
	free(s->target);
	free(s->user);
	pthread_mutex_destroy(&s->lock);
	free(s);
	/* A stopping server waits for the last session to go. */
	if (last && hub->wake_main != NULL)
		hub->wake_main(hub->wake_main_arg);
}

void
session_unref(struct session *s)
{
	if (atomic_fetch_sub(&s->refs, 1) == 1)
		session_free(s);
}

/* Queues the session for the network thread; wakes it if it was idle. */
void
session_wake_net(struct session *s)
{
	struct hub	*hub = s->srv->hub;
	bool		 wake = false;

	pthread_mutex_lock(&hub->lock);
	if (!s->on_net) {
		s->on_net = true;
		session_ref(s);
		wake = TAILQ_EMPTY(&hub->net_q);
		TAILQ_INSERT_TAIL(&hub->net_q, s, net_entry);
	}
	pthread_mutex_unlock(&hub->lock);
	if (wake && hub->wake_net != NULL)
		hub->wake_net(hub->wake_net_arg);
}

void
session_wake_main(struct session *s)
{
	struct hub	*hub = s->srv->hub;
	bool		 wake = false;

	pthread_mutex_lock(&hub->lock);
	if (!s->on_main) {
		s->on_main = true;
		session_ref(s);
		wake = TAILQ_EMPTY(&hub->main_q);
		TAILQ_INSERT_TAIL(&hub->main_q, s, main_entry);
	}
	pthread_mutex_unlock(&hub->lock);
	if (wake && hub->wake_main != NULL)
		hub->wake_main(hub->wake_main_arg);
}

void
session_lock(struct session *s)
{
	pthread_mutex_lock(&s->lock);
}

void
session_unlock(struct session *s)
{
	pthread_mutex_unlock(&s->lock);
}

/* The first account of how a session closed is the one kept. */
void
session_set_close(struct session *s, enum closed_by by, uint16_t code,
    const char *reason)
{
	size_t		 i;
	unsigned char	 c;

	if (s->closed_by != CLOSED_NOT_YET)
		return;
	s->closed_by = by;
	s->close_code = code;
	/* The client chose these bytes: keep the log line one clean line. */
	for (i = 0; reason[i] != '\0' && i < CLOSE_REASON_MAX; i++) {
		c = (unsigned char)reason[i];
		s->close_reason[i] = (c < 0x20 || c == '"' || c == '\\' ||
		    c == 0x7f) ? '?' : (char)c;
	}
	s->close_reason[i] = '\0';
}

/*
 * A client whose own side ended (stdin's EOF, or its command's) recorded
 * that, but until it is a close frame on the wire (and with a half-close it
 * never is) the session ends with whatever comes next: the remote's close,
 * a drop, or a signal. Whether the half-close pong went out already does
 * not matter: the remote's close can overtake it. Only the network thread
 * calls this, the one whose close goes out (close_frame_out).
 */
void
session_set_final_close(struct session *s, enum closed_by by, uint16_t code,
    const char *reason)
{
	if (s->srv->cfg->connect_url != NULL && !close_is_out(s) &&
	    s->closed_by == CLOSED_CHILD)
		s->closed_by = CLOSED_NOT_YET;
	session_set_close(s, by, code, reason);
}

/*
 * Writes the complete messages waiting for the child to its stdin, fd;
 * with the session locked, since both threads do it. Returns the bytes
 * written, 0 when none could go (nothing ready, a full pipe), -1 with
 * errno for a pipe that is broken. Nothing ready is checked first:
 * evbuffer_write_atmost() of nothing returns -1 and leaves a stale errno,
 * which once passed for a broken pipe.
 */
int
session_write_input(struct session *s, int fd)
{
	int	 n;

	if (s->from_peer_ready == 0)
		return 0;
	n = evbuffer_write_atmost(s->from_peer, fd,
	    (ev_ssize_t)s->from_peer_ready);
	if (n > 0) {
		s->from_peer_ready -= (size_t)n;
		return n;
	}
	return n == -1 && errno != EAGAIN && errno != EINTR ? -1 : 0;
}

/*
 * Flow control, the one rule for both directions: the side that fills a
 * queue is paused once it holds --queuesize bytes, and goes on once the
 * queue is below half of that, so that a pause and a resume do not
 * alternate at every message. Input is what is ready for the child's stdin
 * (our stdout in client mode), output what waits for the socket. Called
 * with the session locked.
 */
bool
session_input_full(const struct session *s)
{
	return s->from_peer_ready >= s->srv->cfg->queue_limit;
}

bool
session_input_has_room(const struct session *s)
{
	return s->from_peer_ready < s->srv->cfg->queue_limit / 2;
}

bool
session_output_full(const struct session *s)
{
	return evbuffer_get_length(s->to_peer) >= s->srv->cfg->queue_limit;
}

bool
session_output_has_room(const struct session *s)
{
	return evbuffer_get_length(s->to_peer) <
	    s->srv->cfg->queue_limit / 2;
}

/* Queues one message for the client; the caller holds the session lock. */
void
session_queue_record(struct session *s, int opcode, const char *data,
    size_t len)
{
	unsigned char	 hdr[RECORD_HDR];

	framing_put_record(hdr, opcode, (uint32_t)len);
	evbuffer_add(s->to_peer, hdr, sizeof hdr);
	evbuffer_add(s->to_peer, data, len);
	s->msgs_out++;
	s->bytes_out += len;
}

/* One line as one message: text if it is UTF-8, else binary. */
static void
queue_line(struct session *s, const char *json_stream, const char *line,
    size_t len)
{
	char	*json;

	if (json_stream == NULL) {
		session_queue_record(s, utf8_valid(line, len) ? RECORD_TEXT :
		    RECORD_BINARY, line, len);
		return;
	}
	if ((json = malloc(6 * len + 64)) == NULL) {
		log_error("session=%llu out of memory for a JSON line",
		    (unsigned long long)s->id);
		return;
	}
	session_queue_record(s, RECORD_TEXT, json,
	    framing_json_line(json, json_stream, line, len));
	free(json);
}

/*
 * Line mode: every complete line in buf becomes a message (binary if it is
 * not UTF-8, so no byte is lost; a JSON line naming its stream with
 * --passstderr); eof flushes the rest. What is left of a line moves to the
 * front of buf. The caller holds the session lock.
 */
void
session_queue_lines(struct session *s, const char *json_stream, char *buf,
    size_t *len, size_t max, bool eof)
{
	size_t	 off = 0, msglen, used;

	while (framing_next_line(buf + off, *len - off, max, eof, &msglen,
	    &used)) {
		if (!session_is_gone(s))
			queue_line(s, json_stream, buf + off, msglen);
		off += used;
	}
	memmove(buf, buf + off, *len - off);
	*len -= off;
}
