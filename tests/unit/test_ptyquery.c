/*
 * ptyquery.c: the --pty client's window size in the URL's query (appended
 * to any query already there) and in resize messages.
 */
#include <string.h>

#include "../../src/ptyquery.h"
#include "unit.h"

static void
check_url(const char *url, unsigned cols, unsigned rows, const char *want)
{
	char	 buf[256];

	UNIT_CTX("url %s %ux%u", url, cols, rows);
	memset(buf, 'Z', sizeof buf);
	CHECK_EQ_INT(ptyquery_url(url, cols, rows, buf, sizeof buf), 0);
	CHECK_STR(buf, want);
}

static void
test_url(void)
{
	check_url("ws://h/", 80, 24, "ws://h/?cols=80&rows=24");
	check_url("ws://h", 80, 24, "ws://h?cols=80&rows=24");
	check_url("wss://h:8443/a/b", 120, 40,
	    "wss://h:8443/a/b?cols=120&rows=40");
	check_url("ws://h/?", 80, 24, "ws://h/?cols=80&rows=24");
	check_url("ws://h/?x=1", 80, 24, "ws://h/?x=1&cols=80&rows=24");
	check_url("ws://h/?x=1&", 80, 24, "ws://h/?x=1&cols=80&rows=24");
	check_url("ws://h/p?a=1&b=2", 7, 3, "ws://h/p?a=1&b=2&cols=7&rows=3");
	/* A '?' belongs to the query once there is one. */
	check_url("ws://h/p?a=?", 80, 24, "ws://h/p?a=?&cols=80&rows=24");
	check_url("ws://u:p@[::1]:9/?q", 80, 24,
	    "ws://u:p@[::1]:9/?q&cols=80&rows=24");
	/* Out of 1..1000: clamped, never refused by the server. */
	check_url("ws://h/", 0, 0, "ws://h/?cols=1&rows=1");
	check_url("ws://h/", 5000, 1001, "ws://h/?cols=1000&rows=1000");
}

static void
test_url_too_long(void)
{
	char	 buf[24];

	UNIT_CTX("too long");
	CHECK_EQ_INT(ptyquery_url("ws://h/", 80, 24, buf, sizeof buf), 0);
	CHECK_STR(buf, "ws://h/?cols=80&rows=24");
	CHECK_EQ_INT(ptyquery_url("ws://h/x", 80, 24, buf, sizeof buf), -1);
}

static void
test_resize(void)
{
	char	 buf[64];

	UNIT_CTX("resize");
	CHECK_EQ_INT(ptyquery_resize(120, 40, buf, sizeof buf), 0);
	CHECK_STR(buf, "{\"type\":\"resize\",\"cols\":120,\"rows\":40}");
	CHECK_EQ_INT(ptyquery_resize(0, 2000, buf, sizeof buf), 0);
	CHECK_STR(buf, "{\"type\":\"resize\",\"cols\":1,\"rows\":1000}");
	CHECK_EQ_INT(ptyquery_resize(80, 24, buf, 10), -1);
}

int
main(void)
{
	test_url();
	test_url_too_long();
	test_resize();
	return unit_done();
}
