/*
 * Builds the child's environment from the request alone, plus the variables
 * --passenv names: nothing else of the server's environment leaks through.
 * The names and values follow websocketd, so scripts move across unchanged.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env.h"
#include "http.h"

struct env_list {
	char	**v;
	size_t	  n;
	size_t	  cap;
	bool	  failed;
};

static void
env_add(struct env_list *e, const char *name, const char *value)
{
	char	**nv, *s;
	size_t	  i, nlen = strlen(name);

	if (e->failed)
		return;
	/* First one wins: request facts are added before passed variables. */
	for (i = 0; i < e->n; i++) {
		if (strncmp(e->v[i], name, nlen) == 0 && e->v[i][nlen] == '=')
			return;
	}
	if (e->n + 2 > e->cap) {
		e->cap = e->cap ? e->cap * 2 : 64;
		if ((nv = realloc(e->v, e->cap * sizeof *nv)) == NULL) {
			e->failed = true;
			return;
		}
		e->v = nv;
	}
	if (asprintf(&s, "%s=%s", name, value) == -1) {
		e->failed = true;
		return;
	}
	e->v[e->n++] = s;
	e->v[e->n] = NULL;
}

/* "X-Foo-Bar" becomes "HTTP_X_FOO_BAR". */
static void
header_env_name(const char *header, char *out, size_t len)
{
	size_t	 i, o;

	o = (size_t)snprintf(out, len, "HTTP_");
	for (i = 0; header[i] != '\0' && o + 1 < len; i++, o++) {
		if (header[i] == '-')
			out[o] = '_';
		else
			out[o] = (char)toupper((unsigned char)header[i]);
	}
	out[o] = '\0';
}

static void
add_request_facts(struct env_list *e, const struct env_facts *f)
{
	const struct http_request	*req = f->req;
	const char			*host, *query, *v;
	char				 buf[256], *path;
	size_t				 plen;

	plen = http_path_length(req->target);
	query = req->target[plen] == '?' ? req->target + plen + 1 : "";
	if ((path = strndup(req->target, plen)) == NULL) {
		e->failed = true;
		return;
	}
	host = http_header(req, "Host");
	if (host != NULL && *host != '\0') {
		/* Strip a port, keeping an IPv6 literal's brackets whole. */
		if (*host == '[')
			snprintf(buf, sizeof buf, "%.*s",
			    (int)(strcspn(host, "]") + 1), host);
		else
			snprintf(buf, sizeof buf, "%.*s",
			    (int)strcspn(host, ":"), host);
	} else
		snprintf(buf, sizeof buf, "%s", f->server_addr);

	env_add(e, "SERVER_NAME", buf);
	snprintf(buf, sizeof buf, "%d", f->server_port);
	env_add(e, "SERVER_PORT", buf);
	env_add(e, "SERVER_PROTOCOL", req->version);
	env_add(e, "SERVER_SOFTWARE", f->software);
	env_add(e, "GATEWAY_INTERFACE", f->cgi ? "CGI/1.1" :
	    "websocketd-CGI/0.1");
	env_add(e, "REMOTE_ADDR", f->remote_addr);
	env_add(e, "REMOTE_HOST", f->remote_host);
	/* -1: behind a trusted proxy, the client's port is unknown. */
	if (f->remote_port >= 0)
		snprintf(buf, sizeof buf, "%d", f->remote_port);
	else
		buf[0] = '\0';
	env_add(e, "REMOTE_PORT", buf);
	env_add(e, "REQUEST_METHOD", req->method);
	env_add(e, "REQUEST_URI", req->target);
	env_add(e, "SCRIPT_NAME", f->script_name ? f->script_name : "/");
	env_add(e, "PATH_INFO", f->path_info ? f->path_info : path);
	/* websocketd gives the whole URL path here, --dir or not. */
	env_add(e, "PATH_TRANSLATED", path);
	env_add(e, "QUERY_STRING", query);
	env_add(e, "UNIQUE_ID", f->unique_id);
	env_add(e, "AUTH_TYPE", f->auth_type != NULL ? f->auth_type : "");
	/* A request body exists only for CGI; WebSocket upgrades have none. */
	v = f->cgi ? http_header(req, "Content-Length") : NULL;
	env_add(e, "CONTENT_LENGTH", v != NULL ? v : "");
	v = f->cgi ? http_header(req, "Content-Type") : NULL;
	env_add(e, "CONTENT_TYPE", v != NULL ? v : "");
	env_add(e, "REMOTE_IDENT", "");
	env_add(e, "REMOTE_USER", f->remote_user != NULL ? f->remote_user :
	    "");
	if (f->https)
		env_add(e, "HTTPS", "on");
	free(path);
}

/*
 * With --basic-auth the Authorization header holds the password: a CGI
 * server never passes it on (RFC 3875, 4.1.18), and neither do we.
 */
static void
add_headers(struct env_list *e, const struct http_request *req,
    bool hide_authorization)
{
	char	 name[256];
	size_t	 i;

	for (i = 0; i < req->nheaders; i++) {
		header_env_name(req->headers[i].name, name, sizeof name);
		/* "httpoxy": a Proxy header must not become HTTP_PROXY. */
		if (strcmp(name, "HTTP_PROXY") == 0 || (hide_authorization &&
		    strcmp(name, "HTTP_AUTHORIZATION") == 0))
			continue;
		env_add(e, name, req->headers[i].value);
	}
}

static void
add_passed(struct env_list *e, char *const *passenv, char *const *environ_src)
{
	size_t	 i, j, nlen;

	for (i = 0; passenv != NULL && passenv[i] != NULL; i++) {
		nlen = strlen(passenv[i]);
		for (j = 0; environ_src != NULL && environ_src[j] != NULL; j++) {
			if (strncmp(environ_src[j], passenv[i], nlen) == 0 &&
			    environ_src[j][nlen] == '=') {
				env_add(e, passenv[i], environ_src[j] + nlen + 1);
				break;
			}
		}
	}
}

char **
env_build(const struct env_facts *f, char *const *passenv,
    char *const *environ_src)
{
	struct env_list	 e = { NULL, 0, 0, false };

	add_request_facts(&e, f);
	add_headers(&e, f->req, f->hide_authorization);
	add_passed(&e, passenv, environ_src);
	/* A terminal needs a TERM; a passed one won (first one wins). */
	if (f->pty)
		env_add(&e, "TERM", ENV_PTY_TERM);
	if (e.failed || e.v == NULL) {
		env_free(e.v);
		return NULL;
	}
	return e.v;
}

void
env_free(char **v)
{
	size_t	 i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}
