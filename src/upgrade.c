/*
 * The 101 Switching Protocols answer, written by us rather than by lws:
 * the network thread adopts each upgraded socket as a raw one and speaks
 * the frames itself (see net.c), so the handshake's answer is ours too.
 * Everything that could refuse the upgrade was decided before this runs.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "http.h"
#include "ptyctl.h"
#include "session.h"
#include "upgrade.h"

#define REPLY_MAX	(HTTP_HEAD_MAX + 1024)

/*
 * The subprotocol the session speaks: the first the client listed that
 * --protocol serves (compared as listener.c's check does, regardless of
 * case), in the client's spelling. NULL (no header in the answer) when it
 * listed none; listener.c refuses a list that names nothing we serve.
 */
const char *
upgrade_subprotocol(const struct config *cfg, const struct http_request *req,
    size_t *len)
{
	const char	*list, *v;
	size_t		 i, n;

	if ((list = http_header(req, "Sec-WebSocket-Protocol")) == NULL)
		return NULL;
	while ((v = http_next_token(&list, &n)) != NULL) {
		for (i = 0; i < cfg->nprotocols; i++) {
			if (strlen(cfg->protocols[i]) == n &&
			    strncasecmp(cfg->protocols[i], v, n) == 0) {
				*len = n;
				return v;
			}
		}
	}
	return NULL;
}

/* Appends to buf; false once it would not fit. */
static bool put(char *buf, size_t *off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool
put(char *buf, size_t *off, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	if (*off >= REPLY_MAX)
		return false;
	va_start(ap, fmt);
	n = vsnprintf(buf + *off, REPLY_MAX - *off, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= REPLY_MAX - *off)
		return false;
	*off += (size_t)n;
	return true;
}

/* --header and --header-ws lines, "Name: value" as the user wrote them. */
static bool
put_config_headers(const struct config *cfg, char *buf, size_t *off)
{
	size_t	 i;

	for (i = 0; i < cfg->nheaders; i++) {
		if (cfg->header_kinds[i] == HEADER_HTTP)
			continue;
		if (!put(buf, off, "%s\r\n", cfg->headers[i]))
			return false;
	}
	return true;
}

int
upgrade_reply(const struct config *cfg, const struct http_request *req,
    bool half_close, struct upgrade *u)
{
	char		 accept[WS_ACCEPT_LEN + 1], ext[256], *buf;
	const char	*proto, *key = http_header(req, "Sec-WebSocket-Key");
	size_t		 off = 0, plen = 0;

	memset(u, 0, sizeof *u);
	if (key == NULL || ws_accept_key(key, accept) != 0)
		return -1;
	if ((buf = malloc(REPLY_MAX)) == NULL)
		return -1;
	if (cfg->deflate && pmd_negotiate(http_header(req,
	    "Sec-WebSocket-Extensions"), &u->pmd, ext, sizeof ext) == 0)
		u->deflate = true;
	proto = upgrade_subprotocol(cfg, req, &plen);
	/* Then its text messages are control messages (netpipe.c). */
	u->pty_ctl = cfg->pty && proto != NULL &&
	    plen == strlen(PTYCTL_SUBPROTOCOL) &&
	    strncasecmp(proto, PTYCTL_SUBPROTOCOL, plen) == 0;
	if (!put(buf, &off, "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: %s\r\n", accept) ||
	    (proto != NULL && !put(buf, &off,
	    "Sec-WebSocket-Protocol: %.*s\r\n", (int)plen, proto)) ||
	    (u->deflate && !put(buf, &off,
	    "Sec-WebSocket-Extensions: %s\r\n", ext)) ||
	    !put_config_headers(cfg, buf, &off) ||
	    (half_close && !put(buf, &off, "%s: 1\r\n", HALF_CLOSE_HEADER)) ||
	    !put(buf, &off, "\r\n")) {
		free(buf);
		return -1;
	}
	u->reply = buf;
	u->len = off;
	return 0;
}
