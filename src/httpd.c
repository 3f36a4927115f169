/*
 * The plain-HTTP half of websocketd, on the main thread: whatever is not a
 * WebSocket upgrade is answered here, with libevent bufferevents, so a slow
 * reader or a large file never blocks the loop. Every answer closes its
 * connection: no keep-alive, which keeps the state per connection small.
 * This file owns the connections (struct conn, httpd-conn.h) and the
 * answer plumbing, the error answers, --redirport's redirects, --metrics
 * and the --devconsole page (src/devconsole.html, embedded by the build; with
 * --pty the terminal page and xterm.js, src/embedded.c),
 * and picks the answer (httpd_serve); --staticdir files are httpd-file.c's
 * and --cgidir scripts httpd-cgi.c's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "config.h"
#include "devconsole.h"
#include "embedded.h"
#include "http.h"
#include "httpd.h"
#include "httpd-cgi.h"
#include "httpd-conn.h"
#include "httpd-file.h"
#include "log.h"
#include "metrics.h"
#include "server.h"
#include "session.h"

TAILQ_HEAD(httpd, conn);	/* the connections being answered */

struct httpd *
httpd_create(void)
{
	struct httpd	*h;

	if ((h = malloc(sizeof *h)) != NULL)
		TAILQ_INIT(h);
	return h;
}

const char *
reason_phrase(int code)
{
	switch (code) {
	case 200: return "OK";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 426: return "Upgrade Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	default: return "Unknown";
	}
}

void
conn_free(struct conn *c)
{
	cgi_stop(c);
	bufferevent_free(c->bev);
	TAILQ_REMOVE(c->srv->httpd, c, entry);
	free(c->target);
	free(c);
}

void
on_client_write(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;

	(void)bev;
	if (c->done && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		conn_free(c);
	else if (c->cgi_out != NULL)
		bufferevent_enable(c->cgi_out, EV_READ);	/* room again */
}


void
on_client_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn	*c = arg;

	(void)bev;
	if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING) &&
	    c->body_left > 0) {
		cgi_body_timeout(c);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		conn_free(c);
}

/* Takes the socket over; the peeked request head is consumed first. */
struct conn *
conn_new(struct server *srv, int fd, size_t headlen)
{
	struct conn	*c;
	struct timeval	 tv = { IO_TIMEOUT, 0 };
	char		 sink[4096];
	size_t		 left = headlen;
	ssize_t		 n;

	while (left > 0) {
		n = recv(fd, sink, left < sizeof sink ? left : sizeof sink, 0);
		if (n <= 0)
			break;
		left -= (size_t)n;
	}
	if ((c = calloc(1, sizeof *c)) == NULL ||
	    (c->bev = bufferevent_socket_new(srv->base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		log_error("out of memory answering HTTP");
		free(c);
		close(fd);
		return NULL;
	}
	c->srv = srv;
	bufferevent_setcb(c->bev, NULL, on_client_write, on_client_event, c);
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	bufferevent_enable(c->bev, EV_WRITE);
	TAILQ_INSERT_TAIL(srv->httpd, c, entry);
	return c;
}

void
http_date(time_t t, char *buf, size_t len)
{
	struct tm	 tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* Status line and the headers every plain-HTTP answer carries. */
void
start_response(struct conn *c, int code, const char *reason)
{
	const struct config	*cfg = c->srv->cfg;
	struct evbuffer		*out = bufferevent_get_output(c->bev);
	char			 date[64];
	size_t			 i;

	http_date(time(NULL), date, sizeof date);
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nDate: %s\r\n"
	    "Server: %s\r\nConnection: close\r\n", code,
	    reason != NULL ? reason : reason_phrase(code), date,
	    c->srv->software);
	for (i = 0; i < cfg->nheaders; i++) {
		if (cfg->header_kinds[i] != HEADER_WS)
			evbuffer_add_printf(out, "%s\r\n", cfg->headers[i]);
	}
}

void
finish(struct conn *c)
{
	c->done = true;
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		conn_free(c);
}

void
respond(struct conn *c, int code, const char *type, const char *extra,
    const char *body, size_t len, bool head_only)
{
	struct evbuffer	*out = bufferevent_get_output(c->bev);

	start_response(c, code, NULL);
	evbuffer_add_printf(out, "Content-Type: %s\r\nContent-Length: %zu\r\n"
	    "%s\r\n", type, len, extra != NULL ? extra : "");
	if (!head_only)
		evbuffer_add(out, body, len);
	finish(c);
}

/* A plain-text answer: errors, redirects' bodies. */
void
respond_text(struct conn *c, int code, const char *extra, const char *text,
    bool head_only)
{
	respond(c, code, "text/plain; charset=utf-8", extra, text, strlen(text),
	    head_only);
}

void
httpd_error(struct server *srv, int fd, size_t headlen, int code,
    const char *body)
{
	httpd_error_extra(srv, fd, headlen, code, body, NULL);
}

/* An error with header lines of its own (a 401's challenge, Retry-After). */
void
httpd_error_extra(struct server *srv, int fd, size_t headlen, int code,
    const char *body, const char *extra)
{
	struct conn	*c;
	char		 text[256];

	if ((c = conn_new(srv, fd, headlen)) == NULL)
		return;
	if (code == 426)
		extra = "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n";
	else if (code == 405)
		extra = "Allow: GET, HEAD\r\n";
	snprintf(text, sizeof text, "%d %s\n%s", code, reason_phrase(code),
	    body != NULL ? body : "");
	respond_text(c, code, extra, text, false);
}

/* The Host header's name without its port, or our own address. */
static void
request_host(const struct http_request *req, char *buf, size_t len)
{
	const char	*host = http_header(req, "Host");

	if (host == NULL || *host == '\0' || strpbrk(host, "/\\ \t@") != NULL)
		host = "localhost";
	if (*host == '[')
		snprintf(buf, len, "%.*s", (int)(strcspn(host, "]") + 1), host);
	else
		snprintf(buf, len, "%.*s", (int)strcspn(host, ":"), host);
}

/* --redirport: to the same host on --port, path and query kept. */
void
httpd_redirect(struct server *srv, int fd, size_t headlen,
    const struct http_request *req)
{
	const struct config	*cfg = srv->cfg;
	struct conn		*c;
	char			 host[300], *loc;
	const char		*body = "moved\n";

	if ((c = conn_new(srv, fd, headlen)) == NULL)
		return;
	request_host(req, host, sizeof host);
	if (asprintf(&loc, "Location: %s://%s:%d%s\r\n", cfg->ssl ? "https" :
	    "http", host, srv->port != 0 ? srv->port : cfg->port,
	    req->target) == -1) {
		conn_free(c);
		return;
	}
	respond_text(c, 301, loc, body, strcmp(req->method, "HEAD") == 0);
	free(loc);
}

static void
serve_metrics(struct conn *c, bool head_only)
{
	struct server	*srv = c->srv;
	char		 body[8192];
	size_t		 n;

	n = metrics_render(&srv->metrics, hub_count(srv->hub), body,
	    sizeof body);
	if (n >= sizeof body)
		n = sizeof body - 1;
	respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, body,
	    n, head_only);
}


/*
 * --devconsole --pty: the terminal page on every path but those under
 * /.wsbridge/, where the page finds the xterm.js files (see
 * third_party/xterm/README.md). All of them are in the binary; each has an
 * ETag from its bytes, so a browser asks again each time (no-cache) and
 * gets a 304 while the binary is the same.
 */
#define ASSET_DIR	"/.wsbridge/"

static const struct asset {
	const char		*path;
	const char		*type;
	const unsigned char	*body;
	const size_t		*len;
	const char		*etag;
} assets[] = {
	{ ASSET_DIR "xterm.js", "text/javascript; charset=utf-8",
	    xterm_js, &xterm_js_len, xterm_js_etag },
	{ ASSET_DIR "xterm.css", "text/css; charset=utf-8",
	    xterm_css, &xterm_css_len, xterm_css_etag },
	{ ASSET_DIR "addon-fit.js", "text/javascript; charset=utf-8",
	    addon_fit_js, &addon_fit_js_len, addon_fit_js_etag },
};
static const struct asset terminal_page = {
	NULL, "text/html; charset=utf-8", devconsole_pty_html,
	&devconsole_pty_html_len, devconsole_pty_html_etag
};

static void
serve_terminal(struct conn *c, const struct http_request *req,
    bool head_only)
{
	const struct asset	*a = &terminal_page;
	const char		*inm = http_header(req, "If-None-Match");
	size_t			 plen = http_path_length(req->target), i;
	char			 extra[128];

	if (plen >= strlen(ASSET_DIR) &&
	    strncmp(req->target, ASSET_DIR, strlen(ASSET_DIR)) == 0) {
		for (a = NULL, i = 0; i < sizeof assets / sizeof assets[0];
		    i++) {
			if (strlen(assets[i].path) == plen &&
			    strncmp(req->target, assets[i].path, plen) == 0)
				a = &assets[i];
		}
		if (a == NULL) {
			respond_text(c, 404, NULL, "404 Not Found\n",
			    head_only);
			return;
		}
	}
	snprintf(extra, sizeof extra, "Cache-Control: no-cache\r\n"
	    "ETag: %s\r\n", a->etag);
	if (inm != NULL && strcmp(inm, a->etag) == 0) {
		start_response(c, 304, NULL);
		evbuffer_add_printf(bufferevent_get_output(c->bev), "%s\r\n",
		    extra);
		finish(c);
		return;
	}
	respond(c, 200, a->type, extra, (const char *)a->body, *a->len,
	    head_only);
}


void
httpd_serve(struct server *srv, int fd, size_t headlen,
    const struct http_request *req, const struct client_facts *cf)
{
	const struct config	*cfg = srv->cfg;
	bool			 head_only = strcmp(req->method, "HEAD") == 0;
	bool			 get = head_only || strcmp(req->method, "GET") == 0;
	struct conn		*c;
	const char		*mp = cfg->metrics_path;

	if (mp != NULL && get && strlen(mp) == http_path_length(req->target) &&
	    strncmp(req->target, mp, strlen(mp)) == 0) {
		if ((c = conn_new(srv, fd, headlen)) != NULL)
			serve_metrics(c, head_only);
		return;
	}
	if (cfg->devconsole) {
		if (!get) {
			httpd_error(srv, fd, headlen, 405, NULL);
			return;
		}
		if ((c = conn_new(srv, fd, headlen)) == NULL)
			return;
		if (cfg->pty)
			serve_terminal(c, req, head_only);
		else
			respond(c, 200, "text/html; charset=utf-8", NULL,
			    devconsole_html, devconsole_html_len,
			    head_only);
		return;
	}
	if (cfg->cgidir != NULL && serve_cgi(srv, fd, headlen, req, cf))
		return;
	if (cfg->staticdir != NULL) {
		if ((c = conn_new(srv, fd, headlen)) != NULL)
			serve_static(c, req);
		return;
	}
	httpd_error(srv, fd, headlen, cfg->cgidir != NULL ? 404 : 426,
	    cfg->cgidir != NULL ? NULL : "this is a WebSocket endpoint\n");
}

/* At exit: connections still answering are cut off. */
void
httpd_free(struct server *srv)
{
	struct conn	*c, *next;

	if (srv->httpd == NULL)
		return;
	/* conn_free touches no other element: the next one is read first. */
	for (c = TAILQ_FIRST(srv->httpd); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		conn_free(c);
	}
	free(srv->httpd);
	srv->httpd = NULL;
}
