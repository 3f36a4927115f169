/*
 * upgrade.c: the 101 that completes a handshake — the accept key, the
 * subprotocol chosen, permessage-deflate agreed or not, the configured
 * headers and the half-close echo.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/config.h"
#include "../../src/http.h"
#include "../../src/upgrade.h"
#include "unit.h"

#define HEAD(extra) \
	"GET /chat HTTP/1.1\r\n" \
	"Host: example.com\r\n" \
	"Upgrade: websocket\r\n" \
	"Connection: Upgrade\r\n" \
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" \
	"Sec-WebSocket-Version: 13\r\n" \
	extra \
	"\r\n"

/* The 101 for a head under cfg, NUL-terminated; NULL if none was made. */
static char *
reply_for(const struct config *cfg, const char *head, bool half_close,
    struct upgrade *u)
{
	struct http_request	 req;
	char			*out;

	memset(u, 0, sizeof *u);	/* read by the tests even when NULL */
	if (http_parse_request(&req, head, strlen(head)) != 0)
		return NULL;
	if (upgrade_reply(cfg, &req, half_close, u) != 0) {
		http_request_free(&req);
		return NULL;
	}
	http_request_free(&req);
	if ((out = malloc(u->len + 1)) == NULL) {
		free(u->reply);
		return NULL;
	}
	memcpy(out, u->reply, u->len);
	out[u->len] = '\0';
	free(u->reply);
	return out;
}

static void
test_plain(void)
{
	struct config	 cfg;
	struct upgrade	 u;
	char		*r;

	memset(&cfg, 0, sizeof cfg);
	r = reply_for(&cfg, HEAD(""), false, &u);
	CHECK(r != NULL);
	CHECK_PREFIX(r, "HTTP/1.1 101 Switching Protocols\r\n");
	CHECK_CONTAINS(r, "Upgrade: websocket\r\n");
	CHECK_CONTAINS(r, "Connection: Upgrade\r\n");
	/* RFC 6455 1.3's example. */
	CHECK_CONTAINS(r,
	    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n");
	CHECK(strstr(r, "Sec-WebSocket-Protocol") == NULL);
	CHECK(strstr(r, "Sec-WebSocket-Extensions") == NULL);
	CHECK(strstr(r, "Wsbridge-Half-Close") == NULL);
	CHECK(strlen(r) >= 4 && strcmp(r + strlen(r) - 4, "\r\n\r\n") == 0);
	CHECK(!u.deflate);
	free(r);
}

static void
test_subprotocol(void)
{
	struct config	 cfg;
	struct upgrade	 u;
	char		*r;

	memset(&cfg, 0, sizeof cfg);
	cfg.protocols[0] = "chat";
	cfg.protocols[1] = "json";
	cfg.nprotocols = 2;
	/* The client's order decides, not ours. */
	r = reply_for(&cfg, HEAD("Sec-WebSocket-Protocol: x, json , chat\r\n"),
	    false, &u);
	CHECK_CONTAINS(r, "Sec-WebSocket-Protocol: json\r\n");
	free(r);
	r = reply_for(&cfg, HEAD("Sec-WebSocket-Protocol: chat\r\n"), false,
	    &u);
	CHECK_CONTAINS(r, "Sec-WebSocket-Protocol: chat\r\n");
	free(r);
	/* A prefix of a name is not the name. */
	r = reply_for(&cfg, HEAD("Sec-WebSocket-Protocol: cha, jso\r\n"),
	    false, &u);
	CHECK(r != NULL && strstr(r, "Sec-WebSocket-Protocol") == NULL);
	free(r);
}

/* --pty: the session learns whether its client chose wsbridge.pty. */
static void
test_pty_subprotocol(void)
{
	struct config	 cfg;
	struct upgrade	 u;
	char		*r;

	memset(&cfg, 0, sizeof cfg);
	cfg.protocols[0] = "chat";
	cfg.protocols[1] = "wsbridge.pty";	/* as config.c adds it */
	cfg.nprotocols = 2;
	cfg.pty = true;
	r = reply_for(&cfg, HEAD("Sec-WebSocket-Protocol: WSBridge.PTY\r\n"),
	    false, &u);
	CHECK_CONTAINS(r, "Sec-WebSocket-Protocol: WSBridge.PTY\r\n");
	CHECK(u.pty_ctl);
	free(r);
	r = reply_for(&cfg, HEAD("Sec-WebSocket-Protocol: chat, wsbridge.pty\r\n"),
	    false, &u);
	CHECK_CONTAINS(r, "Sec-WebSocket-Protocol: chat\r\n");
	CHECK(!u.pty_ctl);
	free(r);
	r = reply_for(&cfg, HEAD(""), false, &u);
	CHECK(r != NULL && !u.pty_ctl);
	free(r);
	/* Served by --protocol alone, without --pty, it means nothing. */
	cfg.pty = false;
	r = reply_for(&cfg, HEAD("Sec-WebSocket-Protocol: wsbridge.pty\r\n"),
	    false, &u);
	CHECK(r != NULL && !u.pty_ctl);
	free(r);
}

static void
test_deflate(void)
{
	struct config	 cfg;
	struct upgrade	 u;
	char		*r;

	memset(&cfg, 0, sizeof cfg);
	r = reply_for(&cfg, HEAD("Sec-WebSocket-Extensions: "
	    "permessage-deflate\r\n"), false, &u);
	CHECK(r != NULL && strstr(r, "Sec-WebSocket-Extensions") == NULL);
	CHECK(!u.deflate);
	free(r);
	cfg.deflate = true;
	r = reply_for(&cfg, HEAD("Sec-WebSocket-Extensions: "
	    "permessage-deflate; client_max_window_bits\r\n"), false, &u);
	CHECK_CONTAINS(r, "Sec-WebSocket-Extensions: permessage-deflate; "
	    "server_no_context_takeover; client_no_context_takeover\r\n");
	CHECK(u.deflate);
	CHECK_EQ_INT(u.pmd.server_bits, 15);
	free(r);
	r = reply_for(&cfg, HEAD("Sec-WebSocket-Extensions: "
	    "permessage-deflate; server_max_window_bits=10\r\n"), false, &u);
	CHECK_CONTAINS(r, "server_max_window_bits=10");
	CHECK_EQ_INT(u.pmd.server_bits, 10);
	free(r);
	r = reply_for(&cfg, HEAD("Sec-WebSocket-Extensions: x-webkit-foo\r\n"),
	    false, &u);
	CHECK(r != NULL && strstr(r, "Sec-WebSocket-Extensions") == NULL);
	CHECK(!u.deflate);
	free(r);
}

static void
test_headers(void)
{
	struct config	 cfg;
	struct upgrade	 u;
	char		*r;

	memset(&cfg, 0, sizeof cfg);
	cfg.headers[0] = "X-All: 1";
	cfg.header_kinds[0] = HEADER_ALL;
	cfg.headers[1] = "X-Ws: 2";
	cfg.header_kinds[1] = HEADER_WS;
	cfg.headers[2] = "X-Http: 3";
	cfg.header_kinds[2] = HEADER_HTTP;
	cfg.nheaders = 3;
	r = reply_for(&cfg, HEAD(""), true, &u);
	CHECK_CONTAINS(r, "\r\nX-All: 1\r\n");
	CHECK_CONTAINS(r, "\r\nX-Ws: 2\r\n");
	CHECK(r != NULL && strstr(r, "X-Http") == NULL);
	CHECK_CONTAINS(r, "\r\nWsbridge-Half-Close: 1\r\n");
	free(r);
}

static void
test_refused(void)
{
	struct config	 cfg;
	struct upgrade	 u;
	const char	*head = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
	char		*r;

	memset(&cfg, 0, sizeof cfg);
	/* No key: no answer can be made (listener.c refuses it first). */
	r = reply_for(&cfg, head, false, &u);
	CHECK(r == NULL);
	free(r);
}

int
main(void)
{
	test_plain();
	test_subprotocol();
	test_pty_subprotocol();
	test_deflate();
	test_headers();
	test_refused();
	return unit_done();
}
