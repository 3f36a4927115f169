/*
 * The plain-HTTP half of websocketd, on the main thread: whatever is not a
 * WebSocket upgrade is answered here, with libevent bufferevents, so a slow
 * reader or a large file never blocks the loop. Every answer closes its
 * connection: no keep-alive, which keeps the state per connection small.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "config.h"
#include "env.h"
#include "fsmap.h"
#include "http.h"
#include "httpd.h"
#include "log.h"
#include "metrics.h"
#include "server.h"
#include "session.h"
#include "spawn.h"

#define IO_TIMEOUT	30		/* seconds without progress */
#define BODY_TIMEOUT	10		/* seconds without CGI request body,
					   as a whole head gets (listener.c) */
#define CGI_HEAD_MAX	16384
#define OUT_HIGH	(256 * 1024)	/* pause a CGI script past this */

extern char **environ;

struct conn {
	struct server		*srv;
	struct bufferevent	*bev;		/* the client */
	bool			 done;		/* free once output drains */
	/* CGI only. */
	pid_t			 pid;
	struct bufferevent	*cgi_in;	/* request body to the script */
	struct bufferevent	*cgi_out;	/* its response */
	size_t			 body_left;
	bool			 head_done;
	bool			 counted;	/* holds one of --maxforks */
	char			 remote[80];	/* for the log */
	char			*target;
	TAILQ_ENTRY(conn)	 entry;
};

TAILQ_HEAD(httpd, conn);	/* the connections being answered */

struct httpd *
httpd_create(void)
{
	struct httpd	*h;

	if ((h = malloc(sizeof *h)) != NULL)
		TAILQ_INIT(h);
	return h;
}

static const char *
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

/* Ends a CGI script's part: its pipes, its process group, its slot. */
static void
cgi_stop(struct conn *c)
{
	if (c->pid > 0)
		kill(-c->pid, SIGTERM);	/* a script still running is cut off */
	c->pid = -1;			/* reaped by children_reap */
	if (c->counted)
		c->srv->forks--;
	c->counted = false;
	if (c->cgi_in != NULL)
		bufferevent_free(c->cgi_in);
	c->cgi_in = NULL;
	if (c->cgi_out != NULL)
		bufferevent_free(c->cgi_out);
	c->cgi_out = NULL;
}

static void
conn_free(struct conn *c)
{
	cgi_stop(c);
	bufferevent_free(c->bev);
	TAILQ_REMOVE(c->srv->httpd, c, entry);
	free(c->target);
	free(c);
}

static void
on_client_write(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;

	(void)bev;
	if (c->done && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		conn_free(c);
	else if (c->cgi_out != NULL)
		bufferevent_enable(c->cgi_out, EV_READ);	/* room again */
}

static void	 respond_text(struct conn *, int, const char *, const char *,
		     bool);
static void	 respond(struct conn *, int, const char *, const char *,
		     const char *, size_t, bool);

/*
 * A CGI request body that stops coming would hold the script and its
 * --maxforks slot for as long as the client likes: end both, as a slow
 * head is ended, with 408 if the script has not begun its answer.
 */
static void
cgi_body_timeout(struct conn *c)
{
	bool	 answer = !c->head_done && !c->done;

	log_access("cgi remote=%s path=%s pid=%ld status=%s request body "
	    "timed out with %zu bytes to come", c->remote, c->target,
	    (long)c->pid, answer ? "408" : "-", c->body_left);
	cgi_stop(c);
	if (!answer) {
		conn_free(c);
		return;
	}
	respond_text(c, 408, NULL, "408 Request Timeout\n", false);
}

static void
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
static struct conn *
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

static void
http_date(time_t t, char *buf, size_t len)
{
	struct tm	 tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* Status line and the headers every plain-HTTP answer carries. */
static void
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

static void
finish(struct conn *c)
{
	c->done = true;
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		conn_free(c);
}

static void
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
static void
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

static const char devconsole_html[] =
"<!doctype html>\n"
"<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
"<title>wsbridge dev console</title>\n"
"<style>body{font:14px monospace;margin:1em}#log{white-space:pre-wrap;"
"border:1px solid #ccc;padding:.5em;height:60vh;overflow:auto}"
".in{color:#060}.out{color:#006}.info{color:#888}.bin{color:#a50}"
"input{width:80%}</style></head><body>\n"
"<h1>wsbridge dev console</h1>\n"
"<p><span id=\"url\"></span> <span id=\"state\">connecting</span> "
"<button id=\"reconnect\">reconnect</button></p>\n"
"<div id=\"log\"></div>\n"
"<form id=\"form\"><input id=\"msg\" autocomplete=\"off\" "
"placeholder=\"a line to send\"> <button>send</button></form>\n"
"<script>\n"
"'use strict';\n"
"const log = document.getElementById('log');\n"
"const url = location.href.replace(/^http/, 'ws').replace(/#.*$/, '');\n"
"document.getElementById('url').textContent = url;\n"
"let ws;\n"
"function line(cls, text) {\n"
"  const d = document.createElement('div');\n"
"  d.className = cls; d.textContent = text; log.appendChild(d);\n"
"  log.scrollTop = log.scrollHeight;\n"
"}\n"
"function hex(buf) {\n"
"  return Array.from(new Uint8Array(buf),\n"
"    (b) => b.toString(16).padStart(2, '0')).join(' ');\n"
"}\n"
"function connect() {\n"
"  ws = new WebSocket(url);\n"
"  ws.binaryType = 'arraybuffer';\n"
"  ws.onopen = () => { document.getElementById('state').textContent = 'open'; };\n"
"  ws.onmessage = (e) => {\n"
"    if (typeof e.data === 'string') line('in', '< ' + e.data);\n"
"    else line('in bin', '< [binary ' + e.data.byteLength + ' bytes] ' + hex(e.data));\n"
"  };\n"
"  ws.onclose = (e) => {\n"
"    document.getElementById('state').textContent = 'closed';\n"
"    line('info', 'closed: ' + e.code + (e.reason ? ' ' + e.reason : ''));\n"
"  };\n"
"}\n"
"document.getElementById('form').onsubmit = (e) => {\n"
"  e.preventDefault();\n"
"  const m = document.getElementById('msg');\n"
"  if (ws.readyState === WebSocket.OPEN) { ws.send(m.value); line('out', '> ' + m.value); }\n"
"  m.value = '';\n"
"};\n"
"document.getElementById('reconnect').onclick = () => { ws.close(); connect(); };\n"
"connect();\n"
"</script></body></html>\n";

static const struct {
	const char	*ext;
	const char	*type;
} mime_types[] = {
	{ ".html", "text/html; charset=utf-8" },
	{ ".htm", "text/html; charset=utf-8" },
	{ ".css", "text/css; charset=utf-8" },
	{ ".js", "text/javascript; charset=utf-8" },
	{ ".mjs", "text/javascript; charset=utf-8" },
	{ ".json", "application/json" },
	{ ".txt", "text/plain; charset=utf-8" },
	{ ".md", "text/markdown; charset=utf-8" },
	{ ".xml", "application/xml" },
	{ ".svg", "image/svg+xml" },
	{ ".png", "image/png" },
	{ ".jpg", "image/jpeg" },
	{ ".jpeg", "image/jpeg" },
	{ ".gif", "image/gif" },
	{ ".webp", "image/webp" },
	{ ".ico", "image/x-icon" },
	{ ".wasm", "application/wasm" },
	{ ".woff", "font/woff" },
	{ ".woff2", "font/woff2" },
	{ ".pdf", "application/pdf" },
	{ ".zip", "application/zip" },
	{ ".gz", "application/gzip" },
	{ ".mp3", "audio/mpeg" },
	{ ".mp4", "video/mp4" },
	{ ".csv", "text/csv; charset=utf-8" },
	{ ".sh", "text/plain; charset=utf-8" },
};

static const char *
mime_type(const char *path)
{
	const char	*dot = strrchr(path, '.');
	size_t		 i;

	if (dot == NULL || strchr(dot, '/') != NULL)
		return "application/octet-stream";
	for (i = 0; i < sizeof mime_types / sizeof mime_types[0]; i++) {
		if (strcasecmp(dot, mime_types[i].ext) == 0)
			return mime_types[i].type;
	}
	return "application/octet-stream";
}

/* If-Modified-Since at or after the file's time: the client's copy holds. */
static bool
not_modified(const struct http_request *req, time_t mtime)
{
	const char	*ims = http_header(req, "If-Modified-Since");
	struct tm	 tm;
	char		*end;

	if (ims == NULL)
		return false;
	memset(&tm, 0, sizeof tm);
	end = strptime(ims, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (end == NULL || *end != '\0')
		return false;
	return mtime <= timegm(&tm);
}

static void
send_file(struct conn *c, const struct http_request *req, const char *file,
    bool head_only)
{
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	struct stat	 st;
	char		 date[64];
	int		 fd;

	if ((fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1 &&
	    errno == ELOOP)
		fd = open(file, O_RDONLY | O_CLOEXEC);	/* checked by fsmap */
	if (fd == -1 || fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		if (fd != -1)
			close(fd);
		respond_text(c, 404, NULL, "404 Not Found\n", head_only);
		return;
	}
	http_date(st.st_mtime, date, sizeof date);
	if (not_modified(req, st.st_mtime)) {
		close(fd);
		start_response(c, 304, NULL);
		evbuffer_add_printf(out, "Last-Modified: %s\r\n\r\n", date);
		finish(c);
		return;
	}
	start_response(c, 200, NULL);
	evbuffer_add_printf(out, "Content-Type: %s\r\nContent-Length: %lld\r\n"
	    "Last-Modified: %s\r\n\r\n", mime_type(file),
	    (long long)st.st_size, date);
	if (head_only || st.st_size == 0)
		close(fd);
	else if (evbuffer_add_file(out, fd, 0, st.st_size) == -1) {
		/* The headers promised a body: end the connection short. */
		log_error("cannot send %s", file);
		conn_free(c);
		return;
	}
	finish(c);
}

#define INDEX_FILE	"index.html"

/* --staticdir: files, index.html for a directory, never a listing. */
static void
serve_static(struct conn *c, const struct http_request *req)
{
	const char	*root = c->srv->cfg->staticdir;
	bool		 head_only = strcmp(req->method, "HEAD") == 0;
	char		 path[4096], file[4096 + 16], *loc;
	size_t		 plen;
	struct stat	 st;

	if (!head_only && strcmp(req->method, "GET") != 0) {
		respond_text(c, 405, "Allow: GET, HEAD\r\n",
		    "405 Method Not Allowed\n", false);
		return;
	}
	if (http_path_decode(req->target, path, sizeof path) != 0) {
		respond_text(c, 403, NULL, "403 Forbidden\n", head_only);
		return;
	}
	switch (fsmap_file(root, path, file, sizeof file - 16)) {
	case FSMAP_FORBIDDEN:
		respond_text(c, 403, NULL, "403 Forbidden\n", head_only);
		return;
	case FSMAP_NOT_FOUND:
		respond_text(c, 404, NULL, "404 Not Found\n", head_only);
		return;
	case FSMAP_FOUND:
		break;
	}
	if (stat(file, &st) == 0 && S_ISDIR(st.st_mode)) {
		plen = strlen(path);
		if (path[plen - 1] != '/') {
			/* Relative links in the index need the slash. */
			if (asprintf(&loc, "Location: %.*s/%s\r\n",
			    (int)http_path_length(req->target), req->target,
			    req->target + http_path_length(req->target)) == -1) {
				conn_free(c);
				return;
			}
			respond_text(c, 301, loc, "moved\n", head_only);
			free(loc);
			return;
		}
		/* A path as long as the buffer leaves no room for the name. */
		if (plen + strlen(INDEX_FILE) >= sizeof path ||
		    fsmap_file(root, strcat(path, INDEX_FILE), file,
		    sizeof file) != FSMAP_FOUND) {
			respond_text(c, 404, NULL,
			    "404 Not Found\n", head_only);
			return;
		}
	}
	send_file(c, req, file, head_only);
}

static int
cgi_status(const char *line, int *code, char *reason, size_t len)
{
	char	*end;
	long	 n = strtol(line, &end, 10);

	if (end == line || n < 100 || n > 599)
		return -1;
	*code = (int)n;
	while (*end == ' ')
		end++;
	snprintf(reason, len, "%s", *end != '\0' ? end : reason_phrase(*code));
	return 0;
}

/*
 * The script's header block becomes our response head: Status sets the
 * code, Location alone means 302 (RFC 3875 6.2), the rest pass through.
 */
static int
cgi_send_head(struct conn *c, char *head)
{
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	struct evbuffer	*hdrs = evbuffer_new();
	char		*line, *save = NULL, *colon, *v, reason[128];
	int		 code = 200;
	bool		 location = false, status = false;

	if (hdrs == NULL)
		return -1;
	snprintf(reason, sizeof reason, "OK");
	for (line = strtok_r(head, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		line[strcspn(line, "\r")] = '\0';
		if ((colon = strchr(line, ':')) == NULL || colon == line)
			continue;
		*colon = '\0';
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		if (strcasecmp(line, "Status") == 0) {
			status = cgi_status(v, &code, reason, sizeof reason) == 0;
			continue;
		}
		if (strcasecmp(line, "Connection") == 0 ||
		    strcasecmp(line, "Transfer-Encoding") == 0)
			continue;
		if (strcasecmp(line, "Location") == 0)
			location = true;
		evbuffer_add_printf(hdrs, "%s: %s\r\n", line, v);
	}
	if (location && !status) {
		code = 302;
		snprintf(reason, sizeof reason, "Found");
	}
	start_response(c, code, reason);
	evbuffer_add_buffer(out, hdrs);
	evbuffer_add(out, "\r\n", 2);
	evbuffer_free(hdrs);
	return 0;
}

/* The script's stdout is done with; the answer may still be going out. */
static void
cgi_release(struct conn *c)
{
	if (c->cgi_out != NULL) {
		bufferevent_free(c->cgi_out);
		c->cgi_out = NULL;
	}
	c->pid = -1;	/* exited or about to: reaped by children_reap */
}

/* c may be freed: the caller must not use it after. */
static void
cgi_done(struct conn *c)
{
	cgi_release(c);
	finish(c);
}

/*
 * Ends a CGI request the script has not answered properly with 502.
 * respond() finishes c, which may free it: the caller must not use c after.
 */
static void
cgi_bad_gateway(struct conn *c)
{
	cgi_release(c);
	respond_text(c, 502, NULL, "502 Bad Gateway\n", false);
}

/* The body is all in: from now on only a stalled write times out. */
static void
body_done(struct conn *c)
{
	bufferevent_set_timeouts(c->bev, NULL,
	    &(struct timeval){ IO_TIMEOUT, 0 });
}

/*
 * The script's header block, once it is all in, answered with. Returns 1
 * when it was sent, 0 while it is still coming, and -1 when c is finished
 * or freed (the caller must not use c then).
 */
static int
cgi_read_head(struct conn *c, struct evbuffer *in)
{
	struct evbuffer_ptr p;
	char		*head;
	size_t		 hlen, skip;

	p = evbuffer_search(in, "\n\n", 2, NULL);
	skip = 2;
	if (p.pos == -1) {
		p = evbuffer_search(in, "\r\n\r\n", 4, NULL);
		skip = 4;
	}
	if (p.pos == -1) {
		if (evbuffer_get_length(in) <= CGI_HEAD_MAX)
			return 0;
		log_error("CGI script sent no header block");
		cgi_bad_gateway(c);
		return -1;
	}
	hlen = (size_t)p.pos;
	if ((head = malloc(hlen + 1)) == NULL) {
		conn_free(c);
		return -1;
	}
	evbuffer_remove(in, head, hlen);
	head[hlen] = '\0';
	evbuffer_drain(in, skip);
	c->head_done = true;
	if (cgi_send_head(c, head) != 0) {
		free(head);
		conn_free(c);
		return -1;
	}
	free(head);
	return 1;
}

/* The script's body after its head, as it comes. */
static void
cgi_forward(struct conn *c, struct evbuffer *in)
{
	bufferevent_write_buffer(c->bev, in);
	/* A slow client holds the script back instead of our memory. */
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) > OUT_HIGH)
		bufferevent_disable(c->cgi_out, EV_READ);
}

static void
on_cgi_read(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;
	struct evbuffer	*in = bufferevent_get_input(bev);

	if (!c->head_done && cgi_read_head(c, in) <= 0)
		return;
	cgi_forward(c, in);
}

static void
on_cgi_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn	*c = arg;
	struct evbuffer	*in = bufferevent_get_input(bev);

	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	if (!c->head_done) {
		switch (cgi_read_head(c, in)) {	/* a head with no body */
		case -1:
			return;
		case 0:
			cgi_bad_gateway(c);
			return;
		default:
			cgi_forward(c, in);
			break;
		}
	}
	cgi_done(c);
}

/* The request body, Content-Length bytes of it, goes to the script. */
static void
on_client_read(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;
	struct evbuffer	*in = bufferevent_get_input(bev);
	size_t		 n = evbuffer_get_length(in);

	if (n > c->body_left)
		n = c->body_left;
	/* Counted even when the script stopped reading: the timeout needs it. */
	if (c->cgi_in != NULL)
		evbuffer_remove_buffer(in, bufferevent_get_output(c->cgi_in),
		    n);
	if (n > 0 && (c->body_left -= n) == 0)
		body_done(c);
	evbuffer_drain(in, evbuffer_get_length(in));
}

static void
on_cgi_in_write(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;

	(void)bev;
	if (c->body_left == 0) {
		bufferevent_free(c->cgi_in);	/* EOF on the script's stdin */
		c->cgi_in = NULL;
	}
}

static void
on_cgi_in_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn	*c = arg;

	(void)bev;
	(void)what;
	/* The script stopped reading: the rest of the body is dropped. */
	bufferevent_free(c->cgi_in);
	c->cgi_in = NULL;
}

static char **
cgi_env(struct server *srv, const struct http_request *req,
    const char *script_name, const struct client_facts *cf)
{
	struct env_facts	 f;
	char			 uid[40];

	memset(&f, 0, sizeof f);
	/* Its own counter: CGI requests are not WebSocket sessions. */
	snprintf(uid, sizeof uid, "%016llxc%015llx",
	    (unsigned long long)srv->boot_id,
	    (unsigned long long)++srv->next_cgi_id);
	f.req = req;
	f.remote_addr = cf->addr;
	f.remote_host = cf->addr;
	f.remote_port = cf->port;
	f.server_addr = cf->local_addr;
	f.server_port = cf->local_port;
	f.unique_id = uid;
	f.software = srv->software;
	f.https = srv->cfg->ssl;
	f.remote_user = cf->user;
	f.auth_type = cf->auth_type;
	f.hide_authorization = srv->cfg->basic_auth != NULL;
	f.script_name = script_name;
	f.path_info = "";
	f.cgi = true;
	return env_build(&f, srv->cfg->passenv, environ);
}

/* --cgidir: the path names a script; it answers with a CGI/1.1 response. */
static bool
serve_cgi(struct server *srv, int fd, size_t headlen,
    const struct http_request *req, const struct client_facts *cf)
{
	const char	*cl = http_header(req, "Content-Length");
	char		 path[4096], file[4200], *argv[2], **envp;
	int		 in[2], out[2], fds[3], error;
	struct conn	*c;
	struct stat	 st;
	char		*end;
	unsigned long long len = 0;

	if (http_path_decode(req->target, path, sizeof path) != 0 ||
	    fsmap_file(srv->cfg->cgidir, path, file, sizeof file) !=
	    FSMAP_FOUND || stat(file, &st) != 0 || !S_ISREG(st.st_mode))
		return false;	/* not a script: static files may have it */
	if (access(file, X_OK) != 0) {
		httpd_error(srv, fd, headlen, 403, "not executable\n");
		return true;
	}
	if (http_header(req, "Transfer-Encoding") != NULL) {
		httpd_error(srv, fd, headlen, 411, "send a Content-Length\n");
		return true;
	}
	if (cl != NULL && ((len = strtoull(cl, &end, 10)) > (1ULL << 32) ||
	    *end != '\0' || end == cl)) {
		httpd_error(srv, fd, headlen, 400, "bad Content-Length\n");
		return true;
	}
	if (srv->cfg->maxforks > 0 && srv->forks >= srv->cfg->maxforks) {
		httpd_error(srv, fd, headlen, 429, "too many processes\n");
		return true;
	}
	in[0] = in[1] = out[0] = out[1] = -1;
	if ((envp = cgi_env(srv, req, path, cf)) == NULL ||
	    spawn_pipe(in, 1) != 0 || spawn_pipe(out, 0) != 0) {
		env_free(envp);
		spawn_pipe_close(in);
		spawn_pipe_close(out);
		httpd_error(srv, fd, headlen, 500, "cannot run the script\n");
		return true;
	}
	argv[0] = file;
	argv[1] = NULL;
	fds[0] = in[0];
	fds[1] = out[1];
	fds[2] = STDERR_FILENO;
	if ((c = conn_new(srv, fd, headlen)) == NULL) {
		env_free(envp);
		spawn_pipe_close(in);
		spawn_pipe_close(out);
		return true;
	}
	snprintf(c->remote, sizeof c->remote, "%s", cf->remote);
	if ((c->target = strdup(req->target)) == NULL) {
		log_error("out of memory answering HTTP");
		env_free(envp);
		spawn_pipe_close(in);
		spawn_pipe_close(out);
		conn_free(c);
		return true;
	}
	error = spawn_start(srv, file, argv, envp, fds, &c->pid);
	env_free(envp);
	close(in[0]);
	close(out[1]);
	if (error != 0) {
		log_error("CGI %s: %s", file, strerror(error));
		close(in[1]);
		close(out[0]);
		c->pid = -1;
		respond_text(c, 500, NULL,
		    "500 Internal Server Error\n", false);
		return true;
	}
	c->counted = true;
	srv->forks++;
	c->body_left = (size_t)len;
	c->cgi_in = bufferevent_socket_new(srv->base, in[1],
	    BEV_OPT_CLOSE_ON_FREE);
	c->cgi_out = bufferevent_socket_new(srv->base, out[0],
	    BEV_OPT_CLOSE_ON_FREE);
	if (c->cgi_in == NULL || c->cgi_out == NULL) {
		if (c->cgi_in == NULL)
			close(in[1]);
		if (c->cgi_out == NULL)
			close(out[0]);
		conn_free(c);
		return true;
	}
	bufferevent_setcb(c->cgi_out, on_cgi_read, NULL, on_cgi_event, c);
	bufferevent_enable(c->cgi_out, EV_READ);
	bufferevent_setcb(c->cgi_in, NULL, on_cgi_in_write, on_cgi_in_event, c);
	bufferevent_enable(c->cgi_in, EV_WRITE);
	bufferevent_setcb(c->bev, on_client_read, on_client_write,
	    on_client_event, c);
	bufferevent_enable(c->bev, EV_READ);
	if (c->body_left == 0) {
		bufferevent_free(c->cgi_in);
		c->cgi_in = NULL;
		body_done(c);	/* the script may run long */
	} else
		bufferevent_set_timeouts(c->bev,
		    &(struct timeval){ BODY_TIMEOUT, 0 },
		    &(struct timeval){ IO_TIMEOUT, 0 });
	log_access("cgi remote=%s path=%s pid=%ld user=%s", cf->remote,
	    req->target, (long)c->pid, cf->user[0] != '\0' ? cf->user : "-");
	return true;
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
		if ((c = conn_new(srv, fd, headlen)) != NULL)
			respond(c, 200, "text/html; charset=utf-8", NULL,
			    devconsole_html, sizeof devconsole_html - 1,
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
