/*
 * http.c's request head: http_head_length, then http_parse_request on what
 * it found, then every lookup and handshake check on the result; a request
 * http_handshake_error passes has what that function's comment promises.
 */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "http.h"
#include "fuzz.h"

static const char *names[] = {
	"Host", "Upgrade", "Connection", "Sec-WebSocket-Key",
	"Sec-WebSocket-Version", "Sec-WebSocket-Protocol", "Origin",
	"Sec-WebSocket-Extensions", "X-Forwarded-For", "", "host",
};

static bool
inside(const struct http_request *req, size_t len, const char *s)
{
	return s >= req->buf && s <= req->buf + len &&
	    memchr(s, '\0', (size_t)(req->buf + len + 1 - s)) != NULL;
}

static void
check_request(const struct http_request *req, size_t len)
{
	const char	*v, *e;
	size_t		 i, n;
	bool		 ws;

	CHECK(req->buf != NULL);
	CHECK(inside(req, len, req->method));
	CHECK(inside(req, len, req->target));
	CHECK(inside(req, len, req->version));
	CHECK(*req->method != '\0');
	CHECK(req->target[0] == '/');
	CHECK(strcmp(req->version, "HTTP/1.1") == 0 ||
	    strcmp(req->version, "HTTP/1.0") == 0);
	CHECK(strpbrk(req->target, " \r\n") == NULL);
	CHECK(req->nheaders <= HTTP_HEADERS_MAX);
	for (i = 0; i < req->nheaders; i++) {
		CHECK(inside(req, len, req->headers[i].name));
		CHECK(inside(req, len, req->headers[i].value));
		CHECK(*req->headers[i].name != '\0');
		CHECK(strpbrk(req->headers[i].name, ": \t\r\n") == NULL);
		v = req->headers[i].value;
		n = strlen(v);
		CHECK(strchr(v, '\n') == NULL);
		CHECK(n == 0 || (v[0] != ' ' && v[0] != '\t'));
		CHECK(n == 0 || (v[n - 1] != ' ' && v[n - 1] != '\t'));
		/* A lookup by its own name finds this or an earlier one. */
		CHECK(http_header(req, req->headers[i].name) != NULL);
	}
	for (i = 0; i < sizeof names / sizeof names[0]; i++) {
		v = http_header(req, names[i]);
		CHECK(v == NULL || inside(req, len, v));
		(void)http_header_has_token(req, names[i], "websocket");
		(void)http_header_has_token(req, names[i], "");
		(void)http_header_has_token(req, names[i], "upgrade");
	}
	ws = http_is_websocket(req);
	CHECK(!ws || strcmp(req->method, "GET") == 0);
	CHECK(!ws || http_header(req, "Upgrade") != NULL);
	CHECK(!ws || http_header(req, "Connection") != NULL);
	if (http_websocket_version_ok(req))
		CHECK(strcmp(http_header(req, "Sec-WebSocket-Version"),
		    "13") == 0);
	if (http_websocket_key_ok(req)) {
		v = http_header(req, "Sec-WebSocket-Key");
		CHECK(v != NULL && strlen(v) == 24);
		CHECK(strcmp(v + 22, "==") == 0);
	}
	n = http_path_length(req->target);
	CHECK(n <= strlen(req->target));
	CHECK(req->target[n] == '\0' || req->target[n] == '?');
	for (i = 0; i < sizeof names / sizeof names[0]; i++) {
		n = http_header_count(req, names[i]);
		CHECK(n <= req->nheaders);
		CHECK((n == 0) == (http_header(req, names[i]) == NULL));
	}
	v = http_header(req, "Host");
	if (v != NULL && http_host_ok(v))
		CHECK(*v != '\0' && strpbrk(v, " \t/?#@\\\"") == NULL);
	if ((e = http_handshake_error(req)) != NULL) {
		CHECK(*e != '\0' && e[strlen(e) - 1] == '\n');
		return;
	}
	/* A handshake without an error has what its comment promises. */
	CHECK(strcmp(req->version, "HTTP/1.1") == 0);
	CHECK(http_header_count(req, "Host") == 1);
	CHECK(http_host_ok(http_header(req, "Host")));
	CHECK(http_header_count(req, "Upgrade") == 1);
	CHECK(strcasecmp(http_header(req, "Upgrade"), "websocket") == 0);
	CHECK(http_header_count(req, "Sec-WebSocket-Key") <= 1);
	CHECK(http_header_count(req, "Origin") <= 1);
	CHECK(http_header(req, "Transfer-Encoding") == NULL);
	CHECK(http_target_ok(req->target));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_request	 req;
	const char		*buf;
	char			*copy;
	long			 n;

	/* An exact copy, so any read past the end is ASan's to see. */
	if ((copy = malloc(size == 0 ? 1 : size)) == NULL)
		return 0;
	memcpy(copy, data, size);
	buf = copy;

	n = http_head_length(buf, size);
	CHECK(n >= -2 && n <= (long)size);
	if (n == -1)
		CHECK(memchr(buf, '\0', size) != NULL);
	if (n == -2)
		CHECK(size > HTTP_HEAD_MAX);
	if (n > 0) {
		CHECK(buf[n - 1] == '\n');
		CHECK(memchr(buf, '\0', (size_t)n) == NULL);
		if (http_parse_request(&req, buf, (size_t)n) == 0) {
			check_request(&req, (size_t)n);
			http_request_free(&req);
			CHECK(req.buf == NULL && req.nheaders == 0);
		} else
			CHECK(req.buf == NULL);
	} else if (n == 0) {
		/* Incomplete (no blank line yet): a parse must refuse it. */
		CHECK(http_parse_request(&req, buf, size) != 0);
		CHECK(req.buf == NULL);
	}
	free(copy);
	return 0;
}
