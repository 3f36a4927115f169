/*
 * http.c: the length of a request head, the strict request parser, header
 * lookup, token lists, WebSocket detection and the path part of a target.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/http.h"
#include "unit.h"

#define WS_HEAD \
	"GET /chat?room=1 HTTP/1.1\r\n" \
	"Host: example.com:8080\r\n" \
	"Upgrade: websocket\r\n" \
	"Connection: Upgrade\r\n" \
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" \
	"Sec-WebSocket-Version: 13\r\n" \
	"\r\n"

/* Parses a NUL-terminated head; 0 or -1 as http_parse_request. */
static int
parse(struct http_request *req, const char *head)
{
	return http_parse_request(req, head, strlen(head));
}

/* Whether a head is rejected; frees anything parsed. */
static int
rejects(const char *head)
{
	struct http_request	 req;
	int			 rc;

	rc = parse(&req, head);
	if (rc == 0)
		http_request_free(&req);
	return rc == -1;
}

static int
accepts(const char *head)
{
	struct http_request	 req;
	int			 rc;

	rc = parse(&req, head);
	if (rc == 0)
		http_request_free(&req);
	return rc == 0;
}

static void
test_head_length(void)
{
	static const char	 head[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
	char			*big;
	size_t			 hlen = strlen(head);

	CHECK_EQ_INT(http_head_length(head, hlen), (long)hlen);
	/* Bytes after the blank line are not part of the head. */
	CHECK_EQ_INT(http_head_length(
	    "GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY", hlen + 4), (long)hlen);
	CHECK_EQ_INT(http_head_length(WS_HEAD WS_HEAD, 2 * strlen(WS_HEAD)),
	    (long)strlen(WS_HEAD));
	/* Bare LF endings and a mix. */
	CHECK_EQ_INT(http_head_length("GET / HTTP/1.1\nHost: a\n\n", 24), 24);
	CHECK_EQ_INT(http_head_length("GET / HTTP/1.1\r\nHost: a\n\r\n", 26),
	    26);
	CHECK_EQ_INT(http_head_length("GET / HTTP/1.1\nHost: a\r\n\n", 25),
	    25);
	/* Incomplete: 0, at every prefix of a good head. */
	{
		size_t	 i;
		int	 early = 0;

		for (i = 0; i < hlen; i++) {
			if (http_head_length(head, i) != 0)
				early++;
		}
		CHECK_EQ_INT(early, 0);
	}
	CHECK_EQ_INT(http_head_length("", 0), 0);
	CHECK_EQ_INT(http_head_length("GET / HTTP/1.1\r\nHost: a\r\n", 25), 0);
	CHECK_EQ_INT(http_head_length("GET / HTTP/1.1\r\n\r", 17), 0);
	/* A lone CR between the LFs is not a blank line. */
	CHECK_EQ_INT(http_head_length("GET / HTTP/1.1\r\n\r\r\n", 19), 0);
	/* A NUL anywhere is bad, complete or not. */
	CHECK_EQ_INT(http_head_length("GET /\0 HTTP/1.1\r\n\r\n", 19), -1);
	CHECK_EQ_INT(http_head_length("GET /\0", 6), -1);
	CHECK_EQ_INT(http_head_length("\0", 1), -1);

	/* Too long and still incomplete: bad; up to the limit: wait. */
	big = malloc(HTTP_HEAD_MAX + 2);
	CHECK(big != NULL);
	if (big != NULL) {
		memset(big, 'a', HTTP_HEAD_MAX + 2);
		memcpy(big, "GET /", 5);
		CHECK_EQ_INT(http_head_length(big, HTTP_HEAD_MAX), 0);
		CHECK_EQ_INT(http_head_length(big, HTTP_HEAD_MAX + 1), -2);
		CHECK_EQ_INT(http_head_length(big, HTTP_HEAD_MAX + 2), -2);
		/* A head that ends exactly at the limit is complete. */
		memcpy(big + HTTP_HEAD_MAX - 4, "\r\n\r\n", 4);
		CHECK_EQ_INT(http_head_length(big, HTTP_HEAD_MAX),
		    HTTP_HEAD_MAX);
		free(big);
	}
}

static void
test_parse_good(void)
{
	struct http_request	 req;
	char			 copy[sizeof WS_HEAD];
	size_t			 i;

	memcpy(copy, WS_HEAD, sizeof WS_HEAD);
	CHECK_EQ_INT(http_parse_request(&req, copy, strlen(copy)), 0);
	CHECK_STR(req.method, "GET");
	CHECK_STR(req.target, "/chat?room=1");
	CHECK_STR(req.version, "HTTP/1.1");
	CHECK_EQ_INT(req.nheaders, 5);
	CHECK_STR(req.headers[0].name, "Host");
	CHECK_STR(req.headers[0].value, "example.com:8080");
	CHECK_STR(req.headers[1].name, "Upgrade");
	CHECK_STR(req.headers[1].value, "websocket");
	CHECK_STR(req.headers[4].name, "Sec-WebSocket-Version");
	CHECK_STR(req.headers[4].value, "13");
	/* The caller's bytes are left alone; the strings live in req.buf. */
	CHECK_MEM(copy, strlen(copy), WS_HEAD, strlen(WS_HEAD));
	CHECK(req.buf != NULL);
	CHECK(req.method >= req.buf && req.method < req.buf + sizeof WS_HEAD);
	CHECK(req.target > req.buf && req.target < req.buf + sizeof WS_HEAD);
	for (i = 0; i < req.nheaders; i++) {
		CHECK(req.headers[i].value >= req.buf &&
		    req.headers[i].value < req.buf + sizeof WS_HEAD);
	}
	http_request_free(&req);
	CHECK(req.buf == NULL);
	CHECK_EQ_INT(req.nheaders, 0);

	/* Not NUL-terminated input: only len bytes are read. */
	CHECK_EQ_INT(http_parse_request(&req, "GET / HTTP/1.1\r\n\r\nXXXX", 18),
	    0);
	CHECK_STR(req.target, "/");
	CHECK_EQ_INT(req.nheaders, 0);
	http_request_free(&req);

	/* Bare LF line endings; HTTP/1.0; no headers at all. */
	CHECK_EQ_INT(parse(&req, "GET /x HTTP/1.0\nHost: h\n\n"), 0);
	CHECK_STR(req.version, "HTTP/1.0");
	CHECK_STR(req.target, "/x");
	CHECK_EQ_INT(req.nheaders, 1);
	CHECK_STR(req.headers[0].value, "h");
	http_request_free(&req);
	CHECK(accepts("GET / HTTP/1.1\r\n\r\n"));

	/* Bytes after the blank line are ignored (a body, or the next one). */
	CHECK_EQ_INT(parse(&req, "GET / HTTP/1.1\r\nA: 1\r\n\r\nB: 2\r\n\r\n"),
	    0);
	CHECK_EQ_INT(req.nheaders, 1);
	CHECK(http_header(&req, "B") == NULL);
	http_request_free(&req);

	/* Other token methods and targets with odd but legal bytes. */
	CHECK(accepts("POST / HTTP/1.1\r\n\r\n"));
	CHECK(accepts("M-SEARCH / HTTP/1.1\r\n\r\n"));
	CHECK(accepts("GET /a/b/../c?x=%20&y=[1]#frag HTTP/1.1\r\n\r\n"));
	CHECK(accepts("GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n"));
	CHECK(accepts("GET //double HTTP/1.1\r\n\r\n"));
	/* Header names: any token characters. */
	CHECK(accepts("GET / HTTP/1.1\r\nX-a.b_c!#$%&'*+^`|~9: v\r\n\r\n"));
}

static void
test_parse_values(void)
{
	struct http_request	 req;

	CHECK_EQ_INT(parse(&req, "GET / HTTP/1.1\r\n"
	    "A:plain\r\n"
	    "B:   spaced   \r\n"
	    "C:\t\ttabbed\t \r\n"
	    "D:\r\n"
	    "E:   \t \r\n"
	    "F: inner  spaces\tkept \r\n"
	    "G: a:b:c\r\n"
	    "\r\n"), 0);
	CHECK_EQ_INT(req.nheaders, 7);
	CHECK_STR(http_header(&req, "A"), "plain");
	CHECK_STR(http_header(&req, "B"), "spaced");
	CHECK_STR(http_header(&req, "C"), "tabbed");
	CHECK_STR(http_header(&req, "D"), "");
	CHECK_STR(http_header(&req, "E"), "");
	CHECK_STR(http_header(&req, "F"), "inner  spaces\tkept");
	CHECK_STR(http_header(&req, "G"), "a:b:c");
	http_request_free(&req);

	/* Bare-LF lines are trimmed as well. */
	CHECK_EQ_INT(parse(&req, "GET / HTTP/1.1\nA:  x  \n\n"), 0);
	CHECK_STR(http_header(&req, "A"), "x");
	http_request_free(&req);
}

static void
test_parse_bad(void)
{
	char	 buf[8192];
	size_t	 o;
	int	 i;

	/* No blank line. */
	CHECK(rejects("GET / HTTP/1.1\r\nHost: a\r\n"));
	CHECK(rejects("GET / HTTP/1.1\r\nHost: a"));
	CHECK(rejects("GET / HTTP/1.1\r\n"));
	CHECK(rejects("GET / HTTP/1.1"));
	CHECK(rejects(""));
	CHECK(rejects("\r\n\r\n"));

	/* Header lines. */
	CHECK(rejects("GET / HTTP/1.1\r\nHost a\r\n\r\n"));	/* no colon */
	CHECK(rejects("GET / HTTP/1.1\r\n: a\r\n\r\n"));	/* no name */
	CHECK(rejects("GET / HTTP/1.1\r\nHost : a\r\n\r\n"));	/* space */
	CHECK(rejects("GET / HTTP/1.1\r\n Host: a\r\n\r\n"));
	CHECK(rejects("GET / HTTP/1.1\r\nHo st: a\r\n\r\n"));
	CHECK(rejects("GET / HTTP/1.1\r\nX(y): a\r\n\r\n"));
	CHECK(rejects("GET / HTTP/1.1\r\nX/y: a\r\n\r\n"));
	CHECK(rejects("GET / HTTP/1.1\r\nX\x7fy: a\r\n\r\n"));
	CHECK(rejects("GET / HTTP/1.1\r\nX\xc3\xa9: a\r\n\r\n"));
	/* obs-fold continuation lines are refused (RFC 7230 3.2.4 allows 400). */
	CHECK(rejects("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n"));
	CHECK(rejects("GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n"));
	CHECK(rejects("GET / HTTP/1.1\r\nX: a\r\n b: c\r\n\r\n"));

	/* Method. */
	CHECK(rejects("G(T / HTTP/1.1\r\n\r\n"));
	CHECK(rejects("G\"T / HTTP/1.1\r\n\r\n"));
	CHECK(rejects("GE\tT / HTTP/1.1\r\n\r\n"));
	CHECK(rejects("G\xc3\x89T / HTTP/1.1\r\n\r\n"));
	CHECK(rejects("GET: / HTTP/1.1\r\n\r\n"));
	CHECK(rejects(" / HTTP/1.1\r\n\r\n"));
	CHECK(rejects(" GET / HTTP/1.1\r\n\r\n"));

	/* Target. */
	CHECK(rejects("GET * HTTP/1.1\r\n\r\n"));
	CHECK(rejects("GET http://example.com/ HTTP/1.1\r\n\r\n"));
	CHECK(rejects("GET a HTTP/1.1\r\n\r\n"));
	CHECK(rejects("GET ?x HTTP/1.1\r\n\r\n"));
	CHECK(rejects("GET  / HTTP/1.1\r\n\r\n"));		/* two spaces */
	CHECK(rejects("GET /a\x01 HTTP/1.1\r\n\r\n"));
	CHECK(rejects("GET /a\x7f HTTP/1.1\r\n\r\n"));
	CHECK(rejects("GET /a\tb HTTP/1.1\r\n\r\n"));
	CHECK(rejects("GET /a b HTTP/1.1\r\n\r\n"));
	CHECK(rejects("GET / \r\n\r\n"));
	CHECK(rejects("GET /\r\n\r\n"));
	CHECK(rejects("GET\r\n\r\n"));

	/* Version. */
	CHECK(rejects("GET / HTTP/2.0\r\n\r\n"));
	CHECK(rejects("GET / HTTP/2\r\n\r\n"));
	CHECK(rejects("GET / HTTP/0.9\r\n\r\n"));
	CHECK(rejects("GET / HTTP/1.2\r\n\r\n"));
	CHECK(rejects("GET / HTTP/1\r\n\r\n"));
	CHECK(rejects("GET / http/1.1\r\n\r\n"));
	CHECK(rejects("GET / HTTP/1.1 \r\n\r\n"));
	CHECK(rejects("GET / HTTP/1.1 x\r\n\r\n"));
	CHECK(rejects("GET / HTTP/1.10\r\n\r\n"));
	CHECK(rejects("GET / \r\n\r\n"));
	CHECK(rejects("GET / HTTP/1.1\r\r\n\r\n"));

	/* A NUL inside the head. */
	{
		struct http_request	 req;
		static const char	 h[] = "GET / HTTP/1.1\r\nA: x\0y\r\n\r\n";

		CHECK_EQ_INT(http_parse_request(&req, h, sizeof h - 1), -1);
		CHECK(req.buf == NULL);	/* failure leaves nothing to free */
	}

	/* Exactly HTTP_HEADERS_MAX headers is fine; one more is not. */
	o = (size_t)snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\n");
	for (i = 0; i < HTTP_HEADERS_MAX; i++)
		o += (size_t)snprintf(buf + o, sizeof buf - o, "X-%d: %d\r\n",
		    i, i);
	snprintf(buf + o, sizeof buf - o, "\r\n");
	{
		struct http_request	 req;

		CHECK_EQ_INT(parse(&req, buf), 0);
		CHECK_EQ_INT(req.nheaders, HTTP_HEADERS_MAX);
		CHECK_STR(http_header(&req, "X-99"), "99");
		http_request_free(&req);
	}
	o += (size_t)snprintf(buf + o, sizeof buf - o, "X-%d: %d\r\n",
	    HTTP_HEADERS_MAX, HTTP_HEADERS_MAX);
	snprintf(buf + o, sizeof buf - o, "\r\n");
	CHECK(rejects(buf));
	/* ... and far more. */
	for (i = HTTP_HEADERS_MAX + 1; i < 150; i++)
		o += (size_t)snprintf(buf + o, sizeof buf - o, "X-%d: %d\r\n",
		    i, i);
	snprintf(buf + o, sizeof buf - o, "\r\n");
	CHECK(rejects(buf));
}

static void
test_header_lookup(void)
{
	struct http_request	 req;

	CHECK_EQ_INT(parse(&req, "GET / HTTP/1.1\r\n"
	    "Host: first\r\n"
	    "X-Dup: one\r\n"
	    "x-dup: two\r\n"
	    "HOST: second\r\n"
	    "\r\n"), 0);
	CHECK_STR(http_header(&req, "Host"), "first");
	CHECK_STR(http_header(&req, "host"), "first");
	CHECK_STR(http_header(&req, "HOST"), "first");
	CHECK_STR(http_header(&req, "hOsT"), "first");
	CHECK_STR(http_header(&req, "X-DUP"), "one");
	CHECK(http_header(&req, "Missing") == NULL);
	CHECK(http_header(&req, "Hos") == NULL);
	CHECK(http_header(&req, "Hostx") == NULL);
	CHECK(http_header(&req, "") == NULL);
	http_request_free(&req);
}

static void
test_tokens(void)
{
	struct http_request	 req;

	CHECK_EQ_INT(parse(&req, "GET / HTTP/1.1\r\n"
	    "Connection: keep-alive, Upgrade\r\n"
	    "A: ,, x ,\t,y\t, ,\r\n"
	    "B: upgradex, xupgrade, up grade\r\n"
	    "C:\r\n"
	    "D: one\r\n"
	    "d: Two\r\n"
	    "E: token-with-dash,token2\r\n"
	    "\r\n"), 0);
	CHECK(http_header_has_token(&req, "Connection", "upgrade"));
	CHECK(http_header_has_token(&req, "Connection", "Upgrade"));
	CHECK(http_header_has_token(&req, "Connection", "UPGRADE"));
	CHECK(http_header_has_token(&req, "connection", "keep-alive"));
	CHECK(http_header_has_token(&req, "CONNECTION", "Keep-Alive"));
	CHECK(!http_header_has_token(&req, "Connection", "keep"));
	CHECK(!http_header_has_token(&req, "Connection", "alive"));
	CHECK(!http_header_has_token(&req, "Connection", "close"));
	CHECK(!http_header_has_token(&req, "Connection", "Upgrad"));
	CHECK(!http_header_has_token(&req, "Connection",
	    "keep-alive, Upgrade"));
	/* Empty items and whitespace around items. */
	CHECK(http_header_has_token(&req, "A", "x"));
	CHECK(http_header_has_token(&req, "A", "y"));
	CHECK(!http_header_has_token(&req, "A", "z"));
	/* Whole items only. */
	CHECK(!http_header_has_token(&req, "B", "upgrade"));
	CHECK(!http_header_has_token(&req, "B", "up"));
	CHECK(http_header_has_token(&req, "B", "up grade"));
	/* Empty value, missing header. */
	CHECK(!http_header_has_token(&req, "C", "x"));
	CHECK(!http_header_has_token(&req, "Missing", "x"));
	/* Repeated headers are one list (RFC 7230 3.2.2). */
	CHECK(http_header_has_token(&req, "D", "one"));
	CHECK(http_header_has_token(&req, "D", "two"));
	CHECK(http_header_has_token(&req, "E", "token-with-dash"));
	CHECK(http_header_has_token(&req, "E", "TOKEN2"));
	CHECK(!http_header_has_token(&req, "E", "token"));
	http_request_free(&req);
}

static void
test_websocket(void)
{
	struct http_request	 req;
	size_t			 i;
	static const char *const yes[] = {
		WS_HEAD,
		"GET / HTTP/1.1\r\nUpgrade: websocket\r\n"
		"Connection: Upgrade\r\n\r\n",
		"GET / HTTP/1.1\r\nupgrade: WebSocket\r\n"
		"connection: upgrade\r\n\r\n",
		"GET / HTTP/1.1\r\nUPGRADE: WEBSOCKET\r\n"
		"CONNECTION: UPGRADE\r\n\r\n",
		/* Firefox sends "keep-alive, Upgrade". */
		"GET / HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\n"
		"Upgrade: websocket\r\n\r\n",
		"GET / HTTP/1.1\r\nUpgrade: h2c, websocket\r\n"
		"Connection: HTTP2-Settings, upgrade\r\n\r\n",
		"GET / HTTP/1.1\r\nConnection: keep-alive\r\n"
		"Connection: upgrade\r\nUpgrade: websocket\r\n\r\n",
	};
	static const char *const no[] = {
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
		"GET / HTTP/1.1\r\nConnection: Upgrade\r\n\r\n",
		"GET / HTTP/1.1\r\nUpgrade: websocket\r\n"
		"Connection: keep-alive\r\n\r\n",
		"GET / HTTP/1.1\r\nUpgrade: h2c\r\n"
		"Connection: Upgrade\r\n\r\n",
		"GET / HTTP/1.1\r\nUpgrade: websockets\r\n"
		"Connection: Upgrade\r\n\r\n",
		"GET / HTTP/1.1\r\nUpgrade: websocket\r\n"
		"Connection: Upgraded\r\n\r\n",
		"POST / HTTP/1.1\r\nUpgrade: websocket\r\n"
		"Connection: Upgrade\r\n\r\n",
		/* Methods are case-sensitive. */
		"get / HTTP/1.1\r\nUpgrade: websocket\r\n"
		"Connection: Upgrade\r\n\r\n",
	};

	for (i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		UNIT_CTX("yes[%zu]", i);
		if (CHECK_EQ_INT(parse(&req, yes[i]), 0)) {
			CHECK(http_is_websocket(&req));
			http_request_free(&req);
		}
	}
	for (i = 0; i < sizeof no / sizeof no[0]; i++) {
		UNIT_CTX("no[%zu]", i);
		if (CHECK_EQ_INT(parse(&req, no[i]), 0)) {
			CHECK(!http_is_websocket(&req));
			http_request_free(&req);
		}
	}
	UNIT_CTX_CLEAR();
}

static void
test_path_length(void)
{
	CHECK_EQ_INT(http_path_length("/"), 1);
	CHECK_EQ_INT(http_path_length("/a/b"), 4);
	CHECK_EQ_INT(http_path_length("/a/b?x=1"), 4);
	CHECK_EQ_INT(http_path_length("/?x"), 1);
	CHECK_EQ_INT(http_path_length("/a?"), 2);
	CHECK_EQ_INT(http_path_length("/a?b?c"), 2);
	CHECK_EQ_INT(http_path_length("?"), 0);
	CHECK_EQ_INT(http_path_length(""), 0);
	CHECK_EQ_INT(http_path_length("/a%3Fb?c"), 6);
}

static bool
key_ok(const char *key)
{
	struct http_request	 req;
	char			 head[256];
	bool			 ok;

	snprintf(head, sizeof head, "GET / HTTP/1.1\r\n"
	    "Sec-WebSocket-Key: %s\r\n\r\n", key);
	if (!CHECK_EQ_INT(parse(&req, head), 0))
		return false;
	ok = http_websocket_key_ok(&req);
	http_request_free(&req);
	return ok;
}

static bool
version_ok(const char *head)
{
	struct http_request	 req;
	bool			 ok;

	if (!CHECK_EQ_INT(parse(&req, head), 0))
		return false;
	ok = http_websocket_version_ok(&req);
	http_request_free(&req);
	return ok;
}

static void
test_websocket_key_and_version(void)
{
	/* RFC 6455's own example key, and one from a browser. */
	CHECK(key_ok("dGhlIHNhbXBsZSBub25jZQ=="));
	CHECK(key_ok("x3JJHMbDL1EzLkh9GBhXDw=="));
	CHECK(key_ok("AAAAAAAAAAAAAAAAAAAAAA=="));
	CHECK(!key_ok("dGhlIHNhbXBsZSBub25jZQ"));	/* no padding */
	CHECK(!key_ok("dGhlIHNhbXBsZSBub25jZQ="));
	CHECK(!key_ok("dGhlIHNhbXBsZSBub25jZR=="));	/* stray bits */
	CHECK(!key_ok("dGhlIHNhbXBsZSBub25j*Q=="));
	CHECK(!key_ok("dGhlIHNhbXBsZSBub25jZQdGhl"));
	CHECK(!key_ok(""));
	CHECK(version_ok("GET / HTTP/1.1\r\nSec-WebSocket-Version: 13\r\n\r\n"));
	CHECK(!version_ok("GET / HTTP/1.1\r\nSec-WebSocket-Version: 8\r\n\r\n"));
	CHECK(!version_ok("GET / HTTP/1.1\r\nSec-WebSocket-Version: 130\r\n\r\n"));
	CHECK(!version_ok("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
}

static void
test_header_count(void)
{
	struct http_request	 req;

	CHECK_EQ_INT(parse(&req, "GET / HTTP/1.1\r\n"
	    "Host: a\r\n"
	    "X-Dup: one\r\n"
	    "x-dup: two\r\n"
	    "X-DUP:\r\n"
	    "\r\n"), 0);
	CHECK_EQ_INT(http_header_count(&req, "Host"), 1);
	CHECK_EQ_INT(http_header_count(&req, "host"), 1);
	CHECK_EQ_INT(http_header_count(&req, "X-Dup"), 3);
	CHECK_EQ_INT(http_header_count(&req, "Missing"), 0);
	CHECK_EQ_INT(http_header_count(&req, "X-Du"), 0);
	http_request_free(&req);
}

static void
test_host(void)
{
	size_t	 i;
	static const char *const yes[] = {
		"a", "example.com", "example.com:8080", "127.0.0.1:1",
		"[::1]", "[::1]:80", "[2001:db8::1]:65535", "[::ffff:1.2.3.4]",
		"a-b_c~d.e", "xn--bcher-kva.example", "host:",	/* empty port */
		"a%20b", "!$&'()*+,;=",
	};
	static const char *const no[] = {
		"", ":80", "a b", "a\tb", "a/b", "a\\b", "user@host", "a:b",
		"a:123456", "a:80:80", "[::1", "::1", "[]", "[::1]x",
		"[::1]:x", "[zz::1]", "a?b", "a#b", "h\xc3\xa9", "a\"b",
	};

	for (i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		UNIT_CTX("yes[%zu] %s", i, yes[i]);
		CHECK(http_host_ok(yes[i]));
	}
	for (i = 0; i < sizeof no / sizeof no[0]; i++) {
		UNIT_CTX("no[%zu] %s", i, no[i]);
		CHECK(!http_host_ok(no[i]));
	}
	UNIT_CTX_CLEAR();
}

static void
test_target(void)
{
	CHECK(http_target_ok("/"));
	CHECK(http_target_ok("/a%20b%2F%2f%41?x=%7E&y=%e9"));
	CHECK(http_target_ok("/%01?%ff"));
	CHECK(http_target_ok("/a?%10%0a"));
	/* NUL, in the path or the query, and any case of it. */
	CHECK(!http_target_ok("/a%00b"));
	CHECK(!http_target_ok("/a?x=%00"));
	CHECK(!http_target_ok("/%00"));
	/* Not an escape: a bad digit, or cut short. */
	CHECK(!http_target_ok("/a%zz"));
	CHECK(!http_target_ok("/a%2g"));
	CHECK(!http_target_ok("/a%g2"));
	CHECK(!http_target_ok("/a%2"));
	CHECK(!http_target_ok("/a%"));
	CHECK(!http_target_ok("/a?b=%"));
	CHECK(!http_target_ok("/%%41"));
	CHECK(!http_target_ok("/%2%41"));
}

static void
test_path_dots(void)
{
	size_t	 i;
	static const char *const yes[] = {
		"/.", "/..", "/./", "/../", "/a/.", "/a/..", "/a/./b",
		"/a/../b", "/../../../etc/passwd", "//..//",
		/* Encoded, in any case, and behind an encoded slash. */
		"/%2e", "/%2E%2e", "/a/%2e%2e/b", "/a/.%2e/b", "/a%2f..",
		"/a%2F.%2Fb", "/..?x", "/.?",
	};
	static const char *const no[] = {
		"/", "/a", "/...", "/.a", "/a.", "/..a", "/a..", "/a/.../b",
		"/.htaccess", "/a.b/c..d", "/%2e%2e%2e", "/%2ea",
		/* The query is no path. */
		"/a?x=/../", "/?..", "/a?/./b",
		/* Not an escape: taken as it is. */
		"/%2", "/.%2",
	};

	for (i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		UNIT_CTX("yes[%zu] %s", i, yes[i]);
		CHECK(http_path_has_dots(yes[i]));
	}
	for (i = 0; i < sizeof no / sizeof no[0]; i++) {
		UNIT_CTX("no[%zu] %s", i, no[i]);
		CHECK(!http_path_has_dots(no[i]));
	}
	UNIT_CTX_CLEAR();
}

/* http_handshake_error for WS_HEAD's request line and headers, edited. */
static const char *
handshake_error(const char *head)
{
	static char		 why[128];
	struct http_request	 req;
	const char		*e;

	if (!CHECK_EQ_INT(parse(&req, head), 0))
		return "unparsed";
	e = http_handshake_error(&req);
	snprintf(why, sizeof why, "%s", e != NULL ? e : "");
	http_request_free(&req);
	return e != NULL ? why : NULL;
}

#define HS_LINE	"GET /chat?room=1 HTTP/1.1\r\n"
#define HS_HOST	"Host: example.com:8080\r\n"
#define HS_UPG	"Upgrade: websocket\r\nConnection: Upgrade\r\n"
#define HS_KEY	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" \
		"Sec-WebSocket-Version: 13\r\n"

static void
test_handshake_error(void)
{
	size_t	 i;
	static const char *const good[] = {
		WS_HEAD,
		HS_LINE HS_HOST HS_UPG HS_KEY "Content-Length: 0\r\n\r\n",
		HS_LINE HS_HOST HS_UPG HS_KEY "Content-Length: 000\r\n\r\n",
		HS_LINE HS_HOST "upgrade: WebSocket\r\n"
		"Connection: keep-alive\r\nconnection: Upgrade\r\n" HS_KEY
		"Origin: http://example.com\r\n\r\n",
		"GET /a%20b?x=%2F HTTP/1.1\r\n" HS_HOST HS_UPG HS_KEY "\r\n",
		/* Dot segments are the caller's: 400 or, with --dir, 403. */
		"GET /../x HTTP/1.1\r\n" HS_HOST HS_UPG HS_KEY "\r\n",
		/* A missing key or version has its own answer. */
		HS_LINE HS_HOST HS_UPG "\r\n",
	};
	static const char *const bad[] = {
		"GET / HTTP/1.0\r\n" HS_HOST HS_UPG HS_KEY "\r\n",
		HS_LINE HS_UPG HS_KEY "\r\n",
		HS_LINE "Host:\r\n" HS_UPG HS_KEY "\r\n",
		HS_LINE HS_HOST "Host: b\r\n" HS_UPG HS_KEY "\r\n",
		HS_LINE "Host: a b\r\n" HS_UPG HS_KEY "\r\n",
		HS_LINE HS_HOST HS_UPG "Upgrade: websocket\r\n" HS_KEY "\r\n",
		HS_LINE HS_HOST "Upgrade: websocket, h2c\r\n"
		"Connection: Upgrade\r\n" HS_KEY "\r\n",
		HS_LINE HS_HOST "Upgrade: h2c, websocket\r\n"
		"Connection: Upgrade\r\n" HS_KEY "\r\n",
		HS_LINE HS_HOST HS_UPG HS_KEY
		"Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n\r\n",
		HS_LINE HS_HOST HS_UPG HS_KEY "Sec-WebSocket-Version: 13\r\n\r\n",
		HS_LINE HS_HOST HS_UPG HS_KEY "Origin: http://a\r\n"
		"Origin: http://b\r\n\r\n",
		HS_LINE HS_HOST HS_UPG HS_KEY "Content-Length: 5\r\n\r\n",
		HS_LINE HS_HOST HS_UPG HS_KEY "Content-Length: 0\r\n"
		"Content-Length: 1\r\n\r\n",
		HS_LINE HS_HOST HS_UPG HS_KEY "Content-Length:\r\n\r\n",
		HS_LINE HS_HOST HS_UPG HS_KEY "Content-Length: -0\r\n\r\n",
		HS_LINE HS_HOST HS_UPG HS_KEY "Transfer-Encoding: chunked\r\n\r\n",
		HS_LINE HS_HOST HS_UPG HS_KEY "Transfer-Encoding:\r\n\r\n",
		"GET /a%00 HTTP/1.1\r\n" HS_HOST HS_UPG HS_KEY "\r\n",
		"GET /a?%zz HTTP/1.1\r\n" HS_HOST HS_UPG HS_KEY "\r\n",
	};

	for (i = 0; i < sizeof good / sizeof good[0]; i++) {
		UNIT_CTX("good[%zu]", i);
		CHECK_STR(handshake_error(good[i]), NULL);
	}
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		UNIT_CTX("bad[%zu]", i);
		CHECK(handshake_error(bad[i]) != NULL);
	}
	UNIT_CTX_CLEAR();
	/* The reason is one line for the answer's body. */
	CHECK_STR(handshake_error("GET / HTTP/1.0\r\n" HS_HOST HS_UPG HS_KEY
	    "\r\n"), "a WebSocket handshake needs HTTP/1.1\n");
	CHECK_STR(handshake_error(HS_LINE HS_UPG HS_KEY "\r\n"),
	    "missing, repeated or malformed Host\n");
}

/* http_next_token: the items of a list, trimmed, empty ones skipped. */
static void
test_next_token(void)
{
	const char	*list = " a ,b,, \tc d ,", *v;
	size_t		 n = 0;

	v = http_next_token(&list, &n);
	CHECK_MEM(v, n, "a", 1);
	v = http_next_token(&list, &n);
	CHECK_MEM(v, n, "b", 1);
	v = http_next_token(&list, &n);
	CHECK_MEM(v, n, "c d", 3);
	CHECK(http_next_token(&list, &n) == NULL);
	CHECK(http_next_token(&list, &n) == NULL);	/* stays at the end */
	list = "";
	CHECK(http_next_token(&list, &n) == NULL);
	list = " , ,\t";
	CHECK(http_next_token(&list, &n) == NULL);
}

int
main(void)
{
	test_head_length();
	test_parse_good();
	test_parse_values();
	test_parse_bad();
	test_header_lookup();
	test_tokens();
	test_websocket();
	test_path_length();
	test_websocket_key_and_version();
	test_header_count();
	test_host();
	test_target();
	test_path_dots();
	test_handshake_error();
	test_next_token();
	return unit_done();
}
