#include <stdio.h>
#include <sys/wait.h>

#include "metrics.h"

void
metrics_session_end(struct metrics *m, const struct metrics_session *s)
{
	unsigned	 c = s->close_code;

	if (!s->established) {
		atomic_fetch_add(&m->handshake_failures, 1);
		return;
	}
	atomic_fetch_add(&m->sessions_total, 1);
	if (!s->spawned)
		atomic_fetch_add(&m->spawn_failures, 1);
	else if (s->exited && WIFSIGNALED(s->wstatus))
		atomic_fetch_add(&m->exits_signal, 1);
	else if (s->exited && WEXITSTATUS(s->wstatus) == 0)
		atomic_fetch_add(&m->exits_zero, 1);
	else if (s->exited)
		atomic_fetch_add(&m->exits_nonzero, 1);
	if (s->closed_by >= 0 && s->closed_by < METRICS_CLOSED_BY)
		atomic_fetch_add(&m->closed_by[s->closed_by], 1);
	if (c == 1000)
		atomic_fetch_add(&m->close_normal, 1);
	else if (c == 1001)
		atomic_fetch_add(&m->close_going_away, 1);
	else if (c == 1006)
		atomic_fetch_add(&m->close_abnormal, 1);
	else if (c == 1002 || c == 1007 || c == 1009)
		atomic_fetch_add(&m->close_protocol, 1);
	else if (c >= 4000 && c <= 4255)
		atomic_fetch_add(&m->close_exit, 1);
	else
		atomic_fetch_add(&m->close_other, 1);
	atomic_fetch_add(&m->msgs_in, s->msgs_in);
	atomic_fetch_add(&m->msgs_out, s->msgs_out);
	atomic_fetch_add(&m->bytes_in, s->bytes_in);
	atomic_fetch_add(&m->bytes_out, s->bytes_out);
}

/* Raises a high-water mark; a lost race only ever loses to a higher value. */
void
metrics_queue_level(_Atomic uint64_t *hwm, uint64_t level)
{
	uint64_t	 old = atomic_load(hwm);

	while (level > old && !atomic_compare_exchange_weak(hwm, &old, level))
		;
}

#define EMIT(...) do {							\
	int	 m_ = snprintf(buf + n, n < len ? len - n : 0, __VA_ARGS__); \
	if (m_ > 0)							\
		n += (size_t)m_;					\
} while (0)

static void
counter(char *buf, size_t len, size_t *np, const char *name,
    const char *help, const char *labels, uint64_t v, int header)
{
	size_t	 n = *np;

	if (header)
		EMIT("# HELP %s %s\n# TYPE %s counter\n", name, help, name);
	EMIT("%s%s %llu\n", name, labels, (unsigned long long)v);
	*np = n;
}

/* Returns the length the text needs; it is cut to fit len if larger. */
size_t
metrics_render(const struct metrics *m, unsigned open, char *buf, size_t len)
{
	static const char *const by[METRICS_CLOSED_BY] = {
		"none", "client", "network", "protocol", "child", "server",
	};
	char	 label[64];
	size_t	 n = 0;
	int	 i;

	EMIT("# HELP wsbridge_sessions_open WebSocket sessions now open.\n"
	    "# TYPE wsbridge_sessions_open gauge\nwsbridge_sessions_open %u\n",
	    open);
	counter(buf, len, &n, "wsbridge_sessions_total", "Sessions ended.",
	    "", atomic_load(&m->sessions_total), 1);
	counter(buf, len, &n, "wsbridge_handshake_failures_total",
	    "Upgrades that never completed.", "",
	    atomic_load(&m->handshake_failures), 1);
	counter(buf, len, &n, "wsbridge_spawn_failures_total",
	    "Sessions whose command could not be run.", "",
	    atomic_load(&m->spawn_failures), 1);
	counter(buf, len, &n, "wsbridge_exits_total", "Children ended, by "
	    "status class.", "{class=\"zero\"}", atomic_load(&m->exits_zero), 1);
	counter(buf, len, &n, "wsbridge_exits_total", NULL,
	    "{class=\"nonzero\"}", atomic_load(&m->exits_nonzero), 0);
	counter(buf, len, &n, "wsbridge_exits_total", NULL,
	    "{class=\"signal\"}", atomic_load(&m->exits_signal), 0);
	for (i = 1; i < METRICS_CLOSED_BY; i++) {
		snprintf(label, sizeof label, "{by=\"%s\"}", by[i]);
		counter(buf, len, &n, "wsbridge_closes_total", "Sessions "
		    "ended, by who closed.", label,
		    atomic_load(&m->closed_by[i]), i == 1);
	}
	counter(buf, len, &n, "wsbridge_close_codes_total", "Close codes, "
	    "by class.", "{code=\"1000\"}", atomic_load(&m->close_normal), 1);
	counter(buf, len, &n, "wsbridge_close_codes_total", NULL,
	    "{code=\"1001\"}", atomic_load(&m->close_going_away), 0);
	counter(buf, len, &n, "wsbridge_close_codes_total", NULL,
	    "{code=\"1006\"}", atomic_load(&m->close_abnormal), 0);
	counter(buf, len, &n, "wsbridge_close_codes_total", NULL,
	    "{code=\"protocol\"}", atomic_load(&m->close_protocol), 0);
	counter(buf, len, &n, "wsbridge_close_codes_total", NULL,
	    "{code=\"exit\"}", atomic_load(&m->close_exit), 0);
	counter(buf, len, &n, "wsbridge_close_codes_total", NULL,
	    "{code=\"other\"}", atomic_load(&m->close_other), 0);
	counter(buf, len, &n, "wsbridge_messages_total", "Messages relayed.",
	    "{direction=\"in\"}", atomic_load(&m->msgs_in), 1);
	counter(buf, len, &n, "wsbridge_messages_total", NULL,
	    "{direction=\"out\"}", atomic_load(&m->msgs_out), 0);
	counter(buf, len, &n, "wsbridge_bytes_total", "Payload bytes relayed.",
	    "{direction=\"in\"}", atomic_load(&m->bytes_in), 1);
	counter(buf, len, &n, "wsbridge_bytes_total", NULL,
	    "{direction=\"out\"}", atomic_load(&m->bytes_out), 0);
	EMIT("# HELP wsbridge_queue_high_water_bytes Largest queue seen.\n"
	    "# TYPE wsbridge_queue_high_water_bytes gauge\n"
	    "wsbridge_queue_high_water_bytes{queue=\"to_child\"} %llu\n"
	    "wsbridge_queue_high_water_bytes{queue=\"to_client\"} %llu\n",
	    (unsigned long long)atomic_load(&m->to_child_hwm),
	    (unsigned long long)atomic_load(&m->to_client_hwm));
	return n;
}
