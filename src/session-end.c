/*
 * What a session's end leaves behind, once its last reference is dropped
 * (session_free in session.c): the ACCESS line (session_log_end), the
 * --metrics counters (session_count_end) and, in client mode, the exit
 * status and the line on stderr that says why (session_client_result).
 * Apart from session.c, which is the hub between the threads: this is
 * accounting, and reads a session no thread holds any more.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "log.h"
#include "server.h"
#include "session.h"
#include "session-end.h"
#include "status.h"

static const char *const closed_by_names[] = {
	"none", "client", "network", "protocol", "child", "server",
};

void
session_log_end(struct session *s)
{
	struct timespec	 now;
	char		 result[48];
	long long	 ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long long)(now.tv_sec - s->started.tv_sec) * 1000 +
	    (now.tv_nsec - s->started.tv_nsec) / 1000000;
	if (!session_is_upgraded(s)) {
		log_info("session=%llu remote=%s path=%s handshake failed",
		    (unsigned long long)s->id, s->remote, s->target);
		return;
	}
	if (s->wstatus != WSTATUS_NONE)
		status_log_field(s->wstatus, result, sizeof result);
	else
		strcpy(result, "exit=-");
	log_access("session=%llu remote=%s path=%s duration_ms=%lld "
	    "msgs_in=%llu bytes_in=%llu msgs_out=%llu bytes_out=%llu "
	    "closed_by=%s code=%u reason=\"%s\" pid=%ld %s user=%s",
	    (unsigned long long)s->id, s->remote, s->target, ms,
	    (unsigned long long)s->msgs_in, (unsigned long long)s->bytes_in,
	    (unsigned long long)s->msgs_out, (unsigned long long)s->bytes_out,
	    closed_by_names[s->closed_by], s->close_code, s->close_reason,
	    (long)s->pid, result, s->user != NULL ? s->user : "-");
}

void
session_count_end(struct session *s)
{
	struct metrics_session	 m = {
		.established = session_is_upgraded(s),
		.spawned = s->pid > 0,
		.exited = s->wstatus != WSTATUS_NONE,
		.wstatus = s->wstatus,
		.closed_by = (int)s->closed_by,
		.close_code = s->close_code,
		.msgs_in = s->msgs_in,
		.msgs_out = s->msgs_out,
		.bytes_in = s->bytes_in,
		.bytes_out = s->bytes_out,
	};

	metrics_session_end(&s->srv->metrics, &m);
}

/*
 * lws 4.1's words, in CLIENT_CONNECTION_ERROR, for a handshake answered
 * with 401: the one refusal a client can do something about.
 */
#define LWS_UNAUTHORIZED	"cannot connect: HS: ws upgrade unauthorized"

/*
 * A client's one session decides its exit status; stderr says why when it
 * is not a plain success. Only this session writes exit_status.
 */
void
session_client_result(struct session *s)
{
	struct server	*srv = s->srv;
	int		 st;

	if (srv->cfg->connect_url == NULL)
		return;
	if (srv->local_epipe)
		st = 128 + SIGPIPE;	/* quietly, as if SIGPIPE had killed us */
	else if (srv->local_failed)
		st = 255;
	else if (s->closed_by == CLOSED_SERVER)
		st = 128 + srv->stop_signal;
	else if (s->closed_by == CLOSED_NETWORK &&
	    strcmp(s->close_reason, LWS_UNAUTHORIZED) == 0) {
		fprintf(stderr, "wsbridge: %s: 401 Unauthorized: the server "
		    "wants a user and password it accepts (ws://USER@HOST/ "
		    "with --password-file or WSBRIDGE_PASSWORD)\n",
		    srv->cfg->connect_shown);
		atomic_store(&srv->exit_status, STATUS_UNAUTHORIZED);
		return;
	} else
		st = status_from_close(s->close_code);
	if (s->closed_by == CLOSED_NETWORK)
		fprintf(stderr, "wsbridge: %s: %s\n", srv->cfg->connect_shown,
		    s->close_reason);
	else if (s->closed_by == CLOSED_PROTOCOL)
		fprintf(stderr, "wsbridge: %s: protocol error: %u %s\n",
		    srv->cfg->connect_shown, s->close_code, s->close_reason);
	else if (s->closed_by == CLOSED_CLIENT && s->close_code != CLOSE_NORMAL)
		fprintf(stderr, "wsbridge: %s closed: %u %s\n",
		    srv->cfg->connect_shown, s->close_code, s->close_reason);
	atomic_store(&srv->exit_status, st);
}
