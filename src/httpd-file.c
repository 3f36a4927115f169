/*
 * --staticdir: files from a directory, on the main thread, for GET and
 * HEAD. A directory answers with its index.html (after a 301 that adds the
 * slash), never a listing; If-Modified-Since gets 304; the body goes by
 * evbuffer_add_file, so the kernel sends it. Apart from httpd.c, as
 * OpenBSD httpd keeps server_file.c apart from server_http.c: the answer
 * plumbing is httpd.c's (httpd-conn.h), the mapping of paths fsmap.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "config.h"
#include "fsmap.h"
#include "http.h"
#include "httpd-conn.h"
#include "httpd-file.h"
#include "log.h"
#include "server.h"

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
void
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
