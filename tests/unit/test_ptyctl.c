/*
 * ptyctl.c: the window size from a URL query, and --pty's control
 * messages, accepted exactly as the man page words them and refused
 * otherwise.
 */
#include <string.h>

#include "../../src/ptyctl.h"
#include "unit.h"

static void
query(const char *target, unsigned cols, unsigned rows)
{
	struct ptysize	 ws;

	ptyctl_query_size(target, &ws);
	CHECK_EQ_INT((int)ws.cols, (int)cols);
	CHECK_EQ_INT((int)ws.rows, (int)rows);
}

static void
test_query(void)
{
	query("/", 80, 24);
	query(NULL, 80, 24);
	query("/?cols=120&rows=40", 120, 40);
	query("/x?rows=40&a=b&cols=120", 120, 40);
	query("/?cols=1000&rows=1", 1000, 1);
	query("/?cols=132", 132, 24);
	/* Out of range, not digits, empty: that one keeps its default. */
	query("/?cols=1001&rows=0", 80, 24);
	query("/?cols=-5&rows=4x", 80, 24);
	query("/?cols=&rows", 80, 24);
	query("/?cols=080&rows=+40", 80, 24);
	query("/?cols=%3120", 80, 24);
	/* Names are exact, the first of a repeated one counts. */
	query("/?xcols=100&Cols=100&colsx=100", 80, 24);
	query("/?cols=100&cols=200", 100, 24);
	query("/?cols=bad&cols=200", 80, 24);
	query("/?&&cols=100&&", 100, 24);
	query("/?rows=30#cols=100", 80, 30);
}

static int
parse(const char *msg, unsigned *cols, unsigned *rows)
{
	struct ptysize	 ws = { 7, 7 };
	int		 r;

	r = ptyctl_parse(msg, strlen(msg), &ws);
	*cols = ws.cols;
	*rows = ws.rows;
	return r;
}

static void
good(const char *msg, unsigned cols, unsigned rows)
{
	unsigned	 c, r;

	CHECK_EQ_INT(parse(msg, &c, &r), 0);
	CHECK_EQ_INT((int)c, (int)cols);
	CHECK_EQ_INT((int)r, (int)rows);
}

static void
bad(const char *msg)
{
	unsigned	 c, r;

	CHECK_EQ_INT(parse(msg, &c, &r), -1);
	CHECK_EQ_INT((int)c, 7);	/* untouched */
}

static void
test_messages(void)
{
	static const char nul[] = "{\"type\":\"resize\",\"cols\":1,\"rows\":1}";
	struct ptysize	 ws;
	char		 big[PTYCTL_MSG_MAX + 64];

	good("{\"type\":\"resize\",\"cols\":120,\"rows\":40}", 120, 40);
	good(" { \"rows\" : 1 ,\n\t\"cols\":1000, \"type\" :\"resize\" }\r\n",
	    1000, 1);
	bad("");
	bad("{}");
	bad("{\"type\":\"resize\",\"cols\":120}");
	bad("{\"type\":\"resize\",\"rows\":40}");
	bad("{\"cols\":120,\"rows\":40}");
	bad("{\"type\":\"Resize\",\"cols\":120,\"rows\":40}");
	bad("{\"type\":\"paste\",\"cols\":120,\"rows\":40}");
	bad("{\"type\":\"resize\",\"cols\":0,\"rows\":40}");
	bad("{\"type\":\"resize\",\"cols\":1001,\"rows\":40}");
	bad("{\"type\":\"resize\",\"cols\":-1,\"rows\":40}");
	bad("{\"type\":\"resize\",\"cols\":12.0,\"rows\":40}");
	bad("{\"type\":\"resize\",\"cols\":1e2,\"rows\":40}");
	bad("{\"type\":\"resize\",\"cols\":0120,\"rows\":40}");
	bad("{\"type\":\"resize\",\"cols\":\"120\",\"rows\":40}");
	bad("{\"type\":\"resize\",\"cols\":120,\"rows\":40,\"x\":1}");
	bad("{\"type\":\"resize\",\"cols\":120,\"cols\":121,\"rows\":40}");
	bad("{\"type\":\"resize\",\"type\":\"resize\",\"cols\":1,\"rows\":4}");
	bad("{\"type\":\"resize\",\"cols\":120,\"rows\":40,}");
	bad("{\"type\":\"resize\",\"cols\":120,\"rows\":40}x");
	bad("{\"type\":\"resize\",\"cols\":120,\"rows\":40}{}");
	bad("{\"type\":\"resize\" \"cols\":120,\"rows\":40}");
	bad("{\"type\":\"resize\",\"cols\":120,\"rows\":40");
	bad("{\"typ\\u0065\":\"resize\",\"cols\":120,\"rows\":40}");
	bad("{type:\"resize\",cols:120,rows:40}");
	bad("[\"resize\",120,40]");
	bad("{\"type\":\"resize\",\"cols\":120,\"rows\":40,\"rows\":null}");
	bad("{\"type\":\"resi");
	/* Too long, even if it would parse: a control message is small. */
	memset(big, ' ', sizeof big);
	memcpy(big + sizeof big - 45,
	    "{\"type\":\"resize\",\"cols\":120,\"rows\":40}", 39);
	big[sizeof big - 6] = '\0';
	bad(big);
	/* A NUL after the object is not whitespace. */
	CHECK_EQ_INT(ptyctl_parse(nul, sizeof nul, &ws), -1);
	CHECK_EQ_INT(ptyctl_parse(nul, sizeof nul - 1, &ws), 0);
}

int
main(void)
{
	test_query();
	test_messages();
	return unit_done();
}
