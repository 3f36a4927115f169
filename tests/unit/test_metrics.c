/*
 * metrics.c: how ended sessions are counted and how the counters render in
 * the Prometheus text format (exact lines, one HELP/TYPE per metric, cut
 * output that never overflows); the queue high-water marks. Also, as they
 * link the same library: url_parse (http.c), the ws:// and wss:// URLs of
 * the client side, and framing_json_line (framing.c), the --passstderr
 * records.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../src/framing.h"
#include "../../src/http.h"
#include "../../src/metrics.h"
#include "unit.h"

#ifndef W_EXITCODE
#define W_EXITCODE(ret, sig)	((ret) << 8 | (sig))
#endif
#ifndef WCOREFLAG
#define WCOREFLAG		0x80
#endif

/* enum closed_by in session.h; metrics.h only knows how many there are. */
enum {
	BY_NOT_YET, BY_CLIENT, BY_NETWORK, BY_PROTOCOL, BY_CHILD, BY_SERVER
};

#define RENDER_MAX	8192

/* ------------------------------------------------------------------ */
/* Sessions. */

static struct metrics_session
session(int established, int spawned, int exited, int wstatus, int by,
    unsigned code, uint64_t min, uint64_t mout, uint64_t bin, uint64_t bout)
{
	struct metrics_session	 s;

	memset(&s, 0, sizeof s);
	s.established = established;
	s.spawned = spawned;
	s.exited = exited;
	s.wstatus = wstatus;
	s.closed_by = by;
	s.close_code = code;
	s.msgs_in = min;
	s.msgs_out = mout;
	s.bytes_in = bin;
	s.bytes_out = bout;
	return s;
}

/*
 * Seven sessions, one of each kind: a failed handshake (whose counts must
 * be ignored), a failed spawn, exit 0, exit 3, a signal, a second exit 0,
 * and a child still running when the session ended.
 */
static void
feed_kinds(struct metrics *m, int st0, int st3, int stsig)
{
	struct metrics_session	 s;

	s = session(0, 0, 0, 0, BY_NETWORK, 1006, 100, 100, 100, 100);
	metrics_session_end(m, &s);
	s = session(1, 0, 0, 0, BY_SERVER, 3000, 1, 0, 5, 0);
	metrics_session_end(m, &s);
	s = session(1, 1, 1, st0, BY_CLIENT, 1000, 2, 3, 10, 20);
	metrics_session_end(m, &s);
	s = session(1, 1, 1, st3, BY_CHILD, 4003, 4, 5, 30, 40);
	metrics_session_end(m, &s);
	s = session(1, 1, 1, stsig, BY_NETWORK, 1006, 0, 7, 0, 700);
	metrics_session_end(m, &s);
	s = session(1, 1, 1, st0, BY_SERVER, 1001, 1, 1, 1, 1);
	metrics_session_end(m, &s);
	s = session(1, 1, 0, 0, BY_PROTOCOL, 1007, 6, 0, 1000, 0);
	metrics_session_end(m, &s);
}

static void
check_kinds(const struct metrics *m)
{
	CHECK_EQ_INT(m->handshake_failures, 1);
	CHECK_EQ_INT(m->sessions_total, 6);
	CHECK_EQ_INT(m->spawn_failures, 1);
	CHECK_EQ_INT(m->exits_zero, 2);
	CHECK_EQ_INT(m->exits_nonzero, 1);
	CHECK_EQ_INT(m->exits_signal, 1);
	CHECK_EQ_INT(m->closed_by[BY_NOT_YET], 0);
	CHECK_EQ_INT(m->closed_by[BY_CLIENT], 1);
	CHECK_EQ_INT(m->closed_by[BY_NETWORK], 1);
	CHECK_EQ_INT(m->closed_by[BY_PROTOCOL], 1);
	CHECK_EQ_INT(m->closed_by[BY_CHILD], 1);
	CHECK_EQ_INT(m->closed_by[BY_SERVER], 2);
	CHECK_EQ_INT(m->close_normal, 1);
	CHECK_EQ_INT(m->close_going_away, 1);
	CHECK_EQ_INT(m->close_abnormal, 1);
	CHECK_EQ_INT(m->close_protocol, 1);
	CHECK_EQ_INT(m->close_exit, 1);
	CHECK_EQ_INT(m->close_other, 1);
	CHECK_EQ_INT(m->msgs_in, 1 + 2 + 4 + 0 + 1 + 6);
	CHECK_EQ_INT(m->msgs_out, 0 + 3 + 5 + 7 + 1 + 0);
	CHECK_EQ_INT(m->bytes_in, 5 + 10 + 30 + 0 + 1 + 1000);
	CHECK_EQ_INT(m->bytes_out, 0 + 20 + 40 + 700 + 1 + 0);
}

static void
test_session_end(void)
{
	struct metrics		 m, e;
	struct metrics_session	 s;
	int			 st0, st3, stsig;

	/* Statuses from real children, and the same by encoding. */
	st0 = real_status(0, 0);
	st3 = real_status(3, 0);
	stsig = real_status(0, SIGKILL);
	CHECK_EQ_INT(st0, W_EXITCODE(0, 0));
	CHECK_EQ_INT(st3, W_EXITCODE(3, 0));
	CHECK_EQ_INT(stsig, W_EXITCODE(0, SIGKILL));

	memset(&m, 0, sizeof m);
	feed_kinds(&m, st0, st3, stsig);
	UNIT_CTX("real children");
	check_kinds(&m);
	memset(&e, 0, sizeof e);
	feed_kinds(&e, 0 << 8, 3 << 8, SIGKILL);
	UNIT_CTX("encoded statuses");
	check_kinds(&e);
	UNIT_CTX_CLEAR();

	/* A signal with a core dump; exit 255; exit 1. */
	memset(&m, 0, sizeof m);
	s = session(1, 1, 1, W_EXITCODE(0, SIGSEGV) | WCOREFLAG, BY_CHILD,
	    4139, 0, 0, 0, 0);
	metrics_session_end(&m, &s);
	s = session(1, 1, 1, W_EXITCODE(255, 0), BY_CHILD, 4255, 0, 0, 0, 0);
	metrics_session_end(&m, &s);
	s = session(1, 1, 1, W_EXITCODE(1, 0), BY_CHILD, 4001, 0, 0, 0, 0);
	metrics_session_end(&m, &s);
	CHECK_EQ_INT(m.exits_signal, 1);
	CHECK_EQ_INT(m.exits_nonzero, 2);
	CHECK_EQ_INT(m.exits_zero, 0);
	CHECK_EQ_INT(m.close_exit, 3);		/* 4139, 4255, 4001 */
	CHECK_EQ_INT(m.close_other, 0);
}

static void
test_close_codes(void)
{
	static const struct {
		unsigned	 code;
		int		 cls;	/* 0 normal .. 5 other */
	} t[] = {
		{ 1000, 0 }, { 1001, 1 }, { 1006, 2 },
		{ 1002, 3 }, { 1007, 3 }, { 1009, 3 },
		{ 4000, 4 }, { 4003, 4 }, { 4255, 4 },
		{ 0, 5 }, { 999, 5 }, { 1003, 5 }, { 1005, 5 }, { 1008, 5 },
		{ 1010, 5 }, { 1011, 5 }, { 3000, 5 }, { 3999, 5 },
		{ 4256, 5 }, { 4999, 5 }, { 65535, 5 },
	};
	size_t	 i;

	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct metrics		 m;
		struct metrics_session	 s;
		uint64_t		 got[6];
		int			 k;

		memset(&m, 0, sizeof m);
		s = session(1, 1, 1, 0, BY_CLIENT, t[i].code, 0, 0, 0, 0);
		metrics_session_end(&m, &s);
		got[0] = m.close_normal;
		got[1] = m.close_going_away;
		got[2] = m.close_abnormal;
		got[3] = m.close_protocol;
		got[4] = m.close_exit;
		got[5] = m.close_other;
		UNIT_CTX("close code %u", t[i].code);
		for (k = 0; k < 6; k++)
			CHECK_EQ_INT(got[k], k == t[i].cls);
	}
	UNIT_CTX_CLEAR();
}

static void
test_closed_by_range(void)
{
	struct metrics		 m, zero;
	struct metrics_session	 s;
	size_t			 i;

	/* Out of range: counted as a session, not as a closer. */
	memset(&m, 0, sizeof m);
	memset(&zero, 0, sizeof zero);
	s = session(1, 1, 1, 0, -1, 1000, 0, 0, 0, 0);
	metrics_session_end(&m, &s);
	s = session(1, 1, 1, 0, METRICS_CLOSED_BY, 1000, 0, 0, 0, 0);
	metrics_session_end(&m, &s);
	s = session(1, 1, 1, 0, 1000, 1000, 0, 0, 0, 0);
	metrics_session_end(&m, &s);
	CHECK_EQ_INT(m.sessions_total, 3);
	for (i = 0; i < METRICS_CLOSED_BY; i++)
		CHECK_EQ_INT(m.closed_by[i], 0);
	/* A failed handshake counts nothing but itself. */
	memset(&m, 0, sizeof m);
	s = session(0, 1, 1, W_EXITCODE(3, 0), BY_CLIENT, 1000, 9, 9, 9, 9);
	metrics_session_end(&m, &s);
	zero.handshake_failures = 1;
	CHECK_MEM((const char *)&m, sizeof m, (const char *)&zero,
	    sizeof zero);
}

/* ------------------------------------------------------------------ */
/* Rendering. */

/* Renders into text + 1, after a '\n', so every line is "\nLINE\n". */
static size_t
render(const struct metrics *m, unsigned open, char *text)
{
	size_t	 n;

	text[0] = '\n';
	n = metrics_render(m, open, text + 1, RENDER_MAX - 1);
	text[RENDER_MAX - 1] = '\0';
	return n;
}

static void
has_line(const char *text, const char *line)
{
	char	 want[256];

	snprintf(want, sizeof want, "\n%s\n", line);
	CHECK_CONTAINS(text, want);
}

static int
count(const char *text, const char *sub)
{
	int	 n = 0;

	while ((text = strstr(text, sub)) != NULL) {
		n++;
		text++;
	}
	return n;
}

static const char *const names[] = {
	"wsbridge_sessions_open",
	"wsbridge_sessions_total",
	"wsbridge_handshake_failures_total",
	"wsbridge_spawn_failures_total",
	"wsbridge_exits_total",
	"wsbridge_closes_total",
	"wsbridge_close_codes_total",
	"wsbridge_messages_total",
	"wsbridge_bytes_total",
	"wsbridge_queue_high_water_bytes",
};
#define NNAMES	(sizeof names / sizeof names[0])

/*
 * The exposition format's rules for the text: one HELP and one TYPE per
 * metric, TYPE before the samples, a metric's samples together, every line
 * a comment or a sample of a declared metric, a final newline.
 */
static void
check_format(const char *text)
{
	char		 want[128];
	const char	*p, *eol;
	size_t		 i, cur = NNAMES, seen[NNAMES] = { 0 };
	size_t		 ntype = 0, bad = 0, split = 0, undeclared = 0;

	for (i = 0; i < NNAMES; i++) {
		UNIT_CTX("%s", names[i]);
		snprintf(want, sizeof want, "\n# TYPE %s ", names[i]);
		CHECK_EQ_INT(count(text, want), 1);
		snprintf(want, sizeof want, "\n# HELP %s ", names[i]);
		CHECK_EQ_INT(count(text, want), 1);
	}
	UNIT_CTX_CLEAR();
	CHECK_EQ_INT(count(text, "\n# TYPE "), NNAMES);
	CHECK_EQ_INT(count(text, "\n# HELP "), NNAMES);
	CHECK_EQ_INT(count(text, " counter\n"), NNAMES - 2);
	CHECK_EQ_INT(count(text, " gauge\n"), 2);

	for (p = text + 1; *p != '\0'; p = eol + 1) {
		size_t	 nlen;

		if ((eol = strchr(p, '\n')) == NULL) {
			bad++;			/* no final newline */
			break;
		}
		if (strncmp(p, "# TYPE ", 7) == 0) {
			ntype++;
			for (i = 0; i < NNAMES; i++) {
				nlen = strlen(names[i]);
				if (strncmp(p + 7, names[i], nlen) == 0 &&
				    p[7 + nlen] == ' ')
					break;
			}
			if (i < NNAMES)
				seen[i] = 1;
			continue;
		}
		if (strncmp(p, "# HELP ", 7) == 0)
			continue;
		nlen = strcspn(p, "{ ");
		for (i = 0; i < NNAMES; i++) {
			if (strlen(names[i]) == nlen &&
			    strncmp(p, names[i], nlen) == 0)
				break;
		}
		if (i == NNAMES || !seen[i]) {
			undeclared++;
			continue;
		}
		if (i != cur && seen[i] == 2)
			split++;		/* came back to a metric */
		if (cur < NNAMES && i != cur)
			seen[cur] = 2;
		cur = i;
		/* The value: digits and the end of the line. */
		p = strchr(p, ' ');
		if (p == NULL || p > eol || strspn(p + 1, "0123456789") !=
		    (size_t)(eol - p - 1))
			bad++;
	}
	CHECK_EQ_INT(ntype, NNAMES);
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(split, 0);
	CHECK_EQ_INT(undeclared, 0);
}

static void
test_render(void)
{
	struct metrics	 m;
	char		 text[RENDER_MAX];
	size_t		 n;
	int		 st0, st3;

	st0 = W_EXITCODE(0, 0);
	st3 = W_EXITCODE(3, 0);
	memset(&m, 0, sizeof m);
	feed_kinds(&m, st0, st3, SIGKILL);
	metrics_queue_level(&m.to_child_hwm, 4096);
	metrics_queue_level(&m.to_client_hwm, 65536);

	n = render(&m, 7, text);
	CHECK_EQ_INT(n, strlen(text + 1));
	CHECK(n > 0 && n < RENDER_MAX - 2);
	CHECK_PREFIX(text + 1, "# HELP wsbridge_sessions_open ");

	has_line(text, "# TYPE wsbridge_sessions_open gauge");
	has_line(text, "wsbridge_sessions_open 7");
	has_line(text, "# TYPE wsbridge_sessions_total counter");
	has_line(text, "wsbridge_sessions_total 6");
	has_line(text, "wsbridge_handshake_failures_total 1");
	has_line(text, "wsbridge_spawn_failures_total 1");
	has_line(text, "# TYPE wsbridge_exits_total counter");
	has_line(text, "wsbridge_exits_total{class=\"zero\"} 2");
	has_line(text, "wsbridge_exits_total{class=\"nonzero\"} 1");
	has_line(text, "wsbridge_exits_total{class=\"signal\"} 1");
	has_line(text, "wsbridge_closes_total{by=\"client\"} 1");
	has_line(text, "wsbridge_closes_total{by=\"network\"} 1");
	has_line(text, "wsbridge_closes_total{by=\"protocol\"} 1");
	has_line(text, "wsbridge_closes_total{by=\"child\"} 1");
	has_line(text, "wsbridge_closes_total{by=\"server\"} 2");
	CHECK(strstr(text, "by=\"none\"") == NULL);
	has_line(text, "wsbridge_close_codes_total{code=\"1000\"} 1");
	has_line(text, "wsbridge_close_codes_total{code=\"1001\"} 1");
	has_line(text, "wsbridge_close_codes_total{code=\"1006\"} 1");
	has_line(text, "wsbridge_close_codes_total{code=\"protocol\"} 1");
	has_line(text, "wsbridge_close_codes_total{code=\"exit\"} 1");
	has_line(text, "wsbridge_close_codes_total{code=\"other\"} 1");
	has_line(text, "wsbridge_messages_total{direction=\"in\"} 14");
	has_line(text, "wsbridge_messages_total{direction=\"out\"} 16");
	has_line(text, "wsbridge_bytes_total{direction=\"in\"} 1046");
	has_line(text, "wsbridge_bytes_total{direction=\"out\"} 761");
	has_line(text, "# TYPE wsbridge_queue_high_water_bytes gauge");
	has_line(text,
	    "wsbridge_queue_high_water_bytes{queue=\"to_child\"} 4096");
	has_line(text,
	    "wsbridge_queue_high_water_bytes{queue=\"to_client\"} 65536");
	check_format(text);

	/* All zero: every sample still there, with 0. */
	memset(&m, 0, sizeof m);
	n = render(&m, 0, text);
	CHECK_EQ_INT(n, strlen(text + 1));
	has_line(text, "wsbridge_sessions_open 0");
	has_line(text, "wsbridge_sessions_total 0");
	has_line(text, "wsbridge_exits_total{class=\"signal\"} 0");
	has_line(text, "wsbridge_close_codes_total{code=\"other\"} 0");
	has_line(text,
	    "wsbridge_queue_high_water_bytes{queue=\"to_client\"} 0");
	CHECK_EQ_INT(count(text, " 0\n"), 24);	/* every sample */
	check_format(text);

	/* The largest values print whole. */
	m.bytes_out = UINT64_MAX;
	n = render(&m, 4294967295u, text);
	CHECK_EQ_INT(n, strlen(text + 1));
	has_line(text, "wsbridge_sessions_open 4294967295");
	has_line(text,
	    "wsbridge_bytes_total{direction=\"out\"} 18446744073709551615");
}

#define GUARD		64
#define GUARD_BYTE	0xa5

static void
test_render_small(void)
{
	struct metrics	 m;
	char		 full[RENDER_MAX], *buf;
	size_t		 n, len, want, wrong_len = 0, overflow = 0, cut = 0;
	size_t		 k;

	memset(&m, 0, sizeof m);
	feed_kinds(&m, W_EXITCODE(0, 0), W_EXITCODE(3, 0), SIGKILL);
	metrics_queue_level(&m.to_child_hwm, 123456789);
	n = metrics_render(&m, 7, full, sizeof full);
	CHECK_EQ_INT(n, strlen(full));

	/* Every length from 0 to past the end, with a guard behind it. */
	buf = malloc(n + 2 + GUARD);
	if (!CHECK(buf != NULL))
		return;
	for (len = 0; len <= n + 2; len++) {
		memset(buf, GUARD_BYTE, n + 2 + GUARD);
		if (metrics_render(&m, 7, buf, len) != n)
			wrong_len++;
		for (k = len; k < n + 2 + GUARD; k++) {
			if ((unsigned char)buf[k] != GUARD_BYTE) {
				overflow++;
				break;
			}
		}
		if (len == 0)
			continue;
		/* What fits, NUL-terminated: a prefix of the whole text. */
		want = len - 1 < n ? len - 1 : n;
		if (memchr(buf, '\0', len) == NULL || strlen(buf) != want ||
		    memcmp(buf, full, want) != 0)
			cut++;
	}
	CHECK_EQ_INT(wrong_len, 0);
	CHECK_EQ_INT(overflow, 0);
	CHECK_EQ_INT(cut, 0);
	free(buf);
}

static void
test_queue_level(void)
{
	struct metrics	 m;

	memset(&m, 0, sizeof m);
	CHECK_EQ_INT(m.to_child_hwm, 0);
	metrics_queue_level(&m.to_child_hwm, 0);
	CHECK_EQ_INT(m.to_child_hwm, 0);
	metrics_queue_level(&m.to_child_hwm, 10);
	CHECK_EQ_INT(m.to_child_hwm, 10);
	metrics_queue_level(&m.to_child_hwm, 5);
	CHECK_EQ_INT(m.to_child_hwm, 10);
	metrics_queue_level(&m.to_child_hwm, 10);
	CHECK_EQ_INT(m.to_child_hwm, 10);
	metrics_queue_level(&m.to_child_hwm, 11);
	CHECK_EQ_INT(m.to_child_hwm, 11);
	metrics_queue_level(&m.to_child_hwm, 0);
	CHECK_EQ_INT(m.to_child_hwm, 11);
	metrics_queue_level(&m.to_child_hwm, UINT64_MAX);
	CHECK(m.to_child_hwm == UINT64_MAX);
	metrics_queue_level(&m.to_child_hwm, 12);
	CHECK(m.to_child_hwm == UINT64_MAX);
	/* The marks are separate. */
	CHECK_EQ_INT(m.to_client_hwm, 0);
	metrics_queue_level(&m.to_client_hwm, 7);
	CHECK_EQ_INT(m.to_client_hwm, 7);
	CHECK(m.to_child_hwm == UINT64_MAX);
}

/* ------------------------------------------------------------------ */
/* url_parse. */

static void
url_ok(int line, const char *s, bool tls, const char *host, int port,
    const char *path)
{
	struct url	 u;

	UNIT_CTX("line %d: \"%s\"", line, s);
	if (CHECK_EQ_INT(url_parse(s, &u), 0)) {
		CHECK_EQ_INT(u.tls, tls);
		CHECK_STR(u.host, host);
		CHECK_EQ_INT(u.port, port);
		CHECK_STR(u.path, path);
	}
	UNIT_CTX_CLEAR();
}

static void
test_url_parse(void)
{
	struct url		 cu;
	static const char *const bad[] = {
		"",
		"http://host/",
		"https://host/",
		"wsx://host/",
		"ws:/host",
		"ws:host",
		"ws//host",
		"ws://",
		"wss://",
		"ws:///path",
		"ws://?q",
		"ws://:80",
		"ws://host:",
		"ws://host:/p",
		"ws://host:0",
		"ws://host:00",
		"ws://host:65536",
		"ws://host:70000",
		"ws://host:99999999999999999999",
		"ws://host:abc",
		"ws://host:80x",
		"ws://host:8 0",
		"ws://host:-1",
		"ws://host:+80",
		"ws://host: 80",
		/* User information: see test_auth.c. */
		"ws://@host",
		"ws://ho st/",
		"ws://ho\tst/",
		"ws://host/a b",
		"ws://host/a\tb",
		"ws://host/a\r\nX: y",
		"ws://host#frag",
		"ws://host/#frag",
		"ws://host/p#",
		"ws://host/p?q#f",
		"ws://host:80#f",
		"ws://[::1",
		"ws://[::1/x",
		"ws://[::1]x",
		"ws://[::1]x/",
		"ws://[::1]:",
		"ws://[::1]:0",
		"ws://[::1]:abc",
		"ws://[]",
		"ws://[]:80",
	};
	char	 longhost[300], s[400];
	size_t	 i;

	url_ok(__LINE__, "ws://host", false, "host", 80, "/");
	url_ok(__LINE__, "ws://host/", false, "host", 80, "/");
	url_ok(__LINE__, "wss://host", true, "host", 443, "/");
	url_ok(__LINE__, "wss://host:8443/p?q", true, "host", 8443, "/p?q");
	url_ok(__LINE__, "ws://[::1]:9/x", false, "::1", 9, "/x");
	url_ok(__LINE__, "ws://[::1]", false, "::1", 80, "/");
	url_ok(__LINE__, "wss://[2001:db8::1]/a", true, "2001:db8::1", 443,
	    "/a");
	url_ok(__LINE__, "ws://host?q", false, "host", 80, "/?q");
	url_ok(__LINE__, "ws://host:81?a=1&b=/c", false, "host", 81,
	    "/?a=1&b=/c");
	url_ok(__LINE__, "ws://host:1", false, "host", 1, "/");
	url_ok(__LINE__, "ws://host:65535/", false, "host", 65535, "/");
	url_ok(__LINE__, "ws://host:0080/", false, "host", 80, "/");
	url_ok(__LINE__, "wss://host:80", true, "host", 80, "/");
	url_ok(__LINE__, "ws://127.0.0.1:8080/a/b/c", false, "127.0.0.1",
	    8080, "/a/b/c");
	url_ok(__LINE__, "ws://host/a%20b/?x=%2F", false, "host", 80,
	    "/a%20b/?x=%2F");
	/* The scheme in any case; the host as given. */
	url_ok(__LINE__, "WS://Host", false, "Host", 80, "/");
	url_ok(__LINE__, "WSS://HOST:1/", true, "HOST", 1, "/");

	/* Control bytes would reach the Host header and the request line. */
	CHECK_EQ_INT(url_parse("ws://ho\r\nst/", &cu), -1);
	CHECK_EQ_INT(url_parse("ws://ho\x01st/", &cu), -1);
	CHECK_EQ_INT(url_parse("ws://h/x\x01y", &cu), -1);
	CHECK_EQ_INT(url_parse("ws://h/x\x7fy", &cu), -1);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct url	 u;

		UNIT_CTX("bad[%zu] \"%s\"", i, bad[i]);
		CHECK_EQ_INT(url_parse(bad[i], &u), -1);
	}
	UNIT_CTX_CLEAR();

	/* host[256]: 255 bytes fit, 256 do not. */
	memset(longhost, 'h', sizeof longhost);
	longhost[255] = '\0';
	snprintf(s, sizeof s, "ws://%s/", longhost);
	url_ok(__LINE__, s, false, longhost, 80, "/");
	longhost[255] = 'h';
	longhost[256] = '\0';
	snprintf(s, sizeof s, "ws://%s/", longhost);
	{
		struct url	 u;

		CHECK_EQ_INT(url_parse(s, &u), -1);
	}
	/* path[2048]: 2047 bytes fit, 2048 do not. */
	{
		char		*big = malloc(2048 + 16);
		struct url	 u;

		if (CHECK(big != NULL)) {
			memcpy(big, "ws://h", 6);
			memset(big + 6, 'p', 2047);
			big[6] = '/';
			big[6 + 2047] = '\0';
			CHECK_EQ_INT(url_parse(big, &u), 0);
			CHECK_EQ_INT(strlen(u.path), 2047);
			big[6 + 2047] = 'p';
			big[6 + 2048] = '\0';
			CHECK_EQ_INT(url_parse(big, &u), -1);
			free(big);
		}
	}
}

/* ------------------------------------------------------------------ */
/* framing_json_line. */

#define JSON_GUARD	0x5a

/*
 * One record, compared whole; the buffer is the documented size plus a
 * guard, and nothing may be written past the returned length.
 */
static void
json_is(int line, const char *stream, const char *data, size_t len,
    const char *want)
{
	size_t	 cap = 6 * len + 40 + strlen(stream), n, k, dirty = 0;
	char	*out = malloc(cap + GUARD);

	UNIT_CTX("line %d", line);
	if (!CHECK(out != NULL))
		return;
	memset(out, JSON_GUARD, cap + GUARD);
	n = framing_json_line(out, stream, data, len);
	CHECK_MEM(out, n, want, strlen(want));
	for (k = n; k < cap + GUARD; k++) {
		if ((unsigned char)out[k] != JSON_GUARD)
			dirty++;
	}
	/* sprintf may leave its NUL just past the text; nothing else. */
	if (n < cap + GUARD && out[n] == '\0')
		dirty--;
	CHECK_EQ_INT(dirty, 0);
	free(out);
	UNIT_CTX_CLEAR();
}

#define J(s)	(s), (sizeof(s) - 1)

static void
test_json_line(void)
{
	char	 all[32];
	char	 want[32 * 6 + 64];
	size_t	 i, o;

	json_is(__LINE__, "stdout", J("hello"),
	    "{\"stream\":\"stdout\",\"data\":\"hello\"}");
	json_is(__LINE__, "stderr", J(""),
	    "{\"stream\":\"stderr\",\"data\":\"\"}");
	json_is(__LINE__, "stdout", J("say \"hi\""),
	    "{\"stream\":\"stdout\",\"data\":\"say \\\"hi\\\"\"}");
	json_is(__LINE__, "stdout", J("C:\\dir\\"),
	    "{\"stream\":\"stdout\",\"data\":\"C:\\\\dir\\\\\"}");
	json_is(__LINE__, "stdout", J("a\nb\tc"),
	    "{\"stream\":\"stdout\",\"data\":\"a\\nb\\tc\"}");
	json_is(__LINE__, "stdout", J("\r\b\f\x01\x1f\x7f"),
	    "{\"stream\":\"stdout\",\"data\":"
	    "\"\\u000d\\u0008\\u000c\\u0001\\u001f\\u007f\"}");
	json_is(__LINE__, "stdout", J("a\0b"),
	    "{\"stream\":\"stdout\",\"data\":\"a\\u0000b\"}");
	/* '/' and other printable ASCII pass as they are. */
	json_is(__LINE__, "stdout", J("</script> {}[]:,' ~"),
	    "{\"stream\":\"stdout\",\"data\":\"</script> {}[]:,' ~\"}");

	/* Valid UTF-8 of every length is copied. */
	json_is(__LINE__, "stdout", J("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
	    "{\"stream\":\"stdout\",\"data\":"
	    "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}");
	json_is(__LINE__, "stdout", J("\xf4\x8f\xbf\xbf\xef\xbf\xbf"),
	    "{\"stream\":\"stdout\",\"data\":\"\xf4\x8f\xbf\xbf\xef\xbf\xbf\"}");
	/* Anything else byte by byte as \u00XX, nothing dropped. */
	json_is(__LINE__, "stdout", J("\xff"),
	    "{\"stream\":\"stdout\",\"data\":\"\\u00ff\"}");
	json_is(__LINE__, "stdout", J("a\xff" "b"),
	    "{\"stream\":\"stdout\",\"data\":\"a\\u00ffb\"}");
	json_is(__LINE__, "stdout", J("\x80"),
	    "{\"stream\":\"stdout\",\"data\":\"\\u0080\"}");
	json_is(__LINE__, "stdout", J("\xc3"),		/* cut short */
	    "{\"stream\":\"stdout\",\"data\":\"\\u00c3\"}");
	json_is(__LINE__, "stdout", J("\xe2\x82"),
	    "{\"stream\":\"stdout\",\"data\":\"\\u00e2\\u0082\"}");
	json_is(__LINE__, "stdout", J("\xc3" "A"),
	    "{\"stream\":\"stdout\",\"data\":\"\\u00c3A\"}");
	json_is(__LINE__, "stdout", J("\xc0\xaf"),	/* overlong */
	    "{\"stream\":\"stdout\",\"data\":\"\\u00c0\\u00af\"}");
	json_is(__LINE__, "stdout", J("\xed\xa0\x80"),	/* a surrogate */
	    "{\"stream\":\"stdout\",\"data\":\"\\u00ed\\u00a0\\u0080\"}");
	json_is(__LINE__, "stdout", J("\xf4\x90\x80\x80"),	/* > U+10FFFF */
	    "{\"stream\":\"stdout\",\"data\":"
	    "\"\\u00f4\\u0090\\u0080\\u0080\"}");
	/* A bad byte inside does not eat the good sequence after it. */
	json_is(__LINE__, "stdout", J("\xe2\xc3\xa9"),
	    "{\"stream\":\"stdout\",\"data\":\"\\u00e2\xc3\xa9\"}");
	json_is(__LINE__, "stdout", J("\xc3\xa9\xa9"),
	    "{\"stream\":\"stdout\",\"data\":\"\xc3\xa9\\u00a9\"}");

	/* Every control byte, in the worst case for the buffer's size. */
	for (i = 0; i < 32; i++)
		all[i] = (char)i;
	o = (size_t)snprintf(want, sizeof want,
	    "{\"stream\":\"stderr\",\"data\":\"");
	for (i = 0; i < 32; i++) {
		if (i == '\n')
			o += (size_t)snprintf(want + o, sizeof want - o, "\\n");
		else if (i == '\t')
			o += (size_t)snprintf(want + o, sizeof want - o, "\\t");
		else
			o += (size_t)snprintf(want + o, sizeof want - o,
			    "\\u%04zx", i);
	}
	snprintf(want + o, sizeof want - o, "\"}");
	json_is(__LINE__, "stderr", all, sizeof all, want);
}

int
main(void)
{
	test_session_end();
	test_close_codes();
	test_closed_by_range();
	test_render();
	test_render_small();
	test_queue_level();
	test_url_parse();
	test_json_line();
	return unit_done();
}
