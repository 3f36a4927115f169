/*
 * --cgidir: CGI/1.1 scripts, on the main thread. The script is spawned in
 * its own process group (spawn_start), with Content-Length bytes of
 * request body relayed to its stdin (408 when the body stops coming, as
 * for a slow head) and its stdout's header block turned into our head,
 * the rest relayed as it comes, pausing the script while the client is
 * slow. Apart from httpd.c, as OpenBSD httpd keeps server_fcgi.c apart
 * from server_http.c: the connection and the answer plumbing are httpd.c's
 * (httpd-conn.h); what a running script holds (its pid, its pipes, its
 * --maxforks slot) is ended here (cgi_stop).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "config.h"
#include "env.h"
#include "fsmap.h"
#include "http.h"
#include "httpd-cgi.h"
#include "httpd-conn.h"
#include "httpd.h"
#include "log.h"
#include "server.h"
#include "spawn.h"

#define BODY_TIMEOUT	10		/* seconds without CGI request body,
					   as a whole head gets (listener.c) */
#define CGI_HEAD_MAX	16384
#define OUT_HIGH	(256 * 1024)	/* pause a CGI script past this */

extern char **environ;

/* Ends a CGI script's part: its pipes, its process group, its slot. */
void
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

/*
 * A CGI request body that stops coming would hold the script and its
 * --maxforks slot for as long as the client likes: end both, as a slow
 * head is ended, with 408 if the script has not begun its answer.
 */
void
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
bool
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
	error = spawn_start(srv, file, argv, envp, fds, NULL, &c->pid);
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
