/*
 * What a request is and who may have it, once listener.c has its head:
 * route_request asks auth.c first (--basic-auth, --auth-header), then
 * route_authorized sends plain HTTP to httpd.c and takes an upgrade through
 * its checks (check_upgrade: version, key, origin, subprotocol,
 * --maxforks; find_script for --dir), refusing over plain HTTP what it can
 * know in advance. An upgrade let in becomes a session (client_facts,
 * session_from_request, --trusted-proxy's X-Forwarded-For, the
 * --reverselookup wait) and its socket goes to the network thread
 * (pending_hand_over). Apart from listener.c, which only binds, accepts and
 * reads heads: admission is one job, accepting another.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "auth.h"
#include "config.h"
#include "env.h"
#include "fsmap.h"
#include "http.h"
#include "httpd.h"
#include "log.h"
#include "origin.h"
#include "pending.h"
#include "resolve.h"
#include "route.h"
#include "server.h"
#include "session.h"
#include "spawn.h"
#include "upgrade.h"

extern char **environ;

/*
 * Behind a proxy we trust, the client is the address that proxy appended:
 * the rightmost X-Forwarded-For entry. Anything further left was written
 * by the client itself and proves nothing.
 */
static bool
forwarded_for(const struct server *srv, const char *peer,
    const struct http_request *req, char *out, size_t outlen)
{
	const char	*xff, *last;
	unsigned char	 addr[16];
	size_t		 i, n;

	for (i = 0; srv->cfg->proxies[i] != NULL; i++) {
		if (strcmp(srv->cfg->proxies[i], peer) == 0)
			break;
	}
	if (srv->cfg->proxies[i] == NULL ||
	    (xff = http_header(req, "X-Forwarded-For")) == NULL)
		return false;
	last = strrchr(xff, ',');
	last = last != NULL ? last + 1 : xff;
	while (*last == ' ' || *last == '\t')
		last++;
	n = strcspn(last, " \t");
	/* Some proxies write IP:port or [IPv6]:port: keep the address. */
	if (n > 0 && *last == '[') {
		last++;
		n = strcspn(last, "]");
	} else if (memchr(last, ':', n) != NULL &&
	    memchr(last, ':', n) == memrchr(last, ':', n))
		n = (size_t)((const char *)memchr(last, ':', n) - last);
	if (n == 0 || n >= outlen)
		return false;
	memcpy(out, last, n);
	out[n] = '\0';
	return inet_pton(AF_INET, out, addr) == 1 ||
	    inet_pton(AF_INET6, out, addr) == 1;
}

/* The client as the env and the log should name it; see forwarded_for. */
static void
client_facts(const struct pending *p, const struct http_request *req,
    struct client_facts *cf)
{
	char	 fwd[INET6_ADDRSTRLEN];

	addr_to_text(&p->peer, cf->addr, sizeof cf->addr, &cf->port);
	if (forwarded_for(p->srv, cf->addr, req, fwd, sizeof fwd)) {
		/* The client's own port is not known behind a proxy. */
		snprintf(cf->addr, sizeof cf->addr, "%s", fwd);
		cf->port = -1;
	}
	addr_to_text(&p->local, cf->local_addr, sizeof cf->local_addr,
	    &cf->local_port);
	if (p->auth.verdict == AUTH_PASS && p->auth.user[0] != '\0') {
		snprintf(cf->user, sizeof cf->user, "%s", p->auth.user);
		snprintf(cf->auth_type, sizeof cf->auth_type, "%s",
		    p->auth.type);
	} else
		cf->user[0] = cf->auth_type[0] = '\0';
	if (p->peer.ss_family == AF_UNIX)
		snprintf(cf->remote, sizeof cf->remote, "unix-socket");
	else if (cf->port == -1)
		snprintf(cf->remote, sizeof cf->remote, "%s", cf->addr);
	else
		format_endpoint(cf->addr, cf->port, cf->remote,
		    sizeof cf->remote);
}

static struct session *
session_from_request(struct server *srv, struct pending *p,
    const struct http_request *req, const char *script, size_t prefix)
{
	struct session		*s;
	struct env_facts	 f;
	struct client_facts	 cf;
	char			 path[4096], name[4096];
	const char		*hc;
	char			 uid[40];

	if ((s = session_create(srv)) == NULL)
		return NULL;
	s->id = ++srv->next_session_id;
	client_facts(p, req, &cf);
	snprintf(s->remote, sizeof s->remote, "%s", cf.remote);
	snprintf(uid, sizeof uid, "%016llx%016llx",
	    (unsigned long long)srv->boot_id, (unsigned long long)s->id);
	memset(&f, 0, sizeof f);
	f.req = req;
	f.remote_addr = cf.addr;
	f.remote_host = p->remote_host[0] != '\0' ? p->remote_host : cf.addr;
	f.remote_port = cf.port;
	f.server_addr = cf.local_addr;
	f.server_port = cf.local_port;
	f.unique_id = uid;
	f.software = srv->software;
	f.https = srv->cfg->ssl;
	f.remote_user = cf.user;
	f.auth_type = cf.auth_type;
	f.pty = srv->cfg->pty;
	f.hide_authorization = srv->cfg->basic_auth != NULL;
	if (cf.user[0] != '\0' && (s->user = strdup(cf.user)) == NULL) {
		session_unref(s);
		session_unref(s);
		return NULL;
	}
	if (script != NULL) {
		/* --dir: SCRIPT_NAME is the URL's part that named the file. */
		if (http_path_decode(req->target, path, sizeof path) != 0 ||
		    (s->script_path = strdup(script)) == NULL) {
			session_unref(s);
			session_unref(s);
			return NULL;
		}
		s->script_argv[0] = s->script_path;
		memcpy(name, path, prefix);
		name[prefix] = '\0';
		f.script_name = name;
		f.path_info = path + prefix;
	}
	s->half_close = (hc = http_header(req, HALF_CLOSE_HEADER)) != NULL &&
	    strcmp(hc, "1") == 0;
	s->target = strdup(req->target);
	s->envp = env_build(&f, srv->cfg->passenv, environ);
	if (s->target == NULL || s->envp == NULL) {
		/* Never shared: drop both references. */
		session_unref(s);
		session_unref(s);
		return NULL;
	}
	return s;
}

static void	 pending_hand_over(struct pending *,
		     const struct http_request *, const char *, size_t);

/*
 * The head was only peeked: it is read off the socket now, so the network
 * thread finds the first frame there, and the 101 it will send is made
 * here, where the request is known.
 */
static int
take_head(struct pending *p, const struct http_request *req,
    struct session *s)
{
	struct upgrade	 u;
	char		 buf[4096];
	size_t		 left = p->headlen;
	ssize_t		 n;

	if (upgrade_reply(p->srv->cfg, req, s->half_close, &u) != 0) {
		log_error("session=%llu cannot make the handshake's answer",
		    (unsigned long long)s->id);
		return -1;
	}
	while (left > 0) {
		n = recv(p->fd, buf, left < sizeof buf ? left : sizeof buf,
		    MSG_DONTWAIT);
		if (n <= 0) {
			log_error("session=%llu reading the request head: %s",
			    (unsigned long long)s->id, n == 0 ?
			    "connection closed" : strerror(errno));
			free(u.reply);
			return -1;
		}
		left -= (size_t)n;
	}
	s->reply = u.reply;
	s->reply_len = u.len;
	s->deflate = u.deflate;
	s->pmd = u.pmd;
	s->pty_ctl = u.pty_ctl;
	return 0;
}

static void
pending_hand_over(struct pending *p, const struct http_request *req,
    const char *script, size_t prefix)
{
	struct server	*srv = p->srv;
	struct session	*s;

	if ((s = session_from_request(srv, p, req, script, prefix)) == NULL) {
		log_error("out of memory for a new session");
		reply_error(p, 0, 503, "out of memory\n");
		return;
	}
	if (take_head(p, req, s) != 0) {
		session_unref(s);
		session_unref(s);
		reply_error(p, 0, 503, NULL);
		return;
	}
	s->fd = p->fd;
	memcpy(s->pipes, p->pipes, sizeof s->pipes);
	memset(p->pipes, -1, sizeof p->pipes);
	pending_free(p, false);
	srv->forks++;	/* until its child is gone, or it never spawns */
	s->holds_fork = true;
	session_publish(s);
	log_debug("session=%llu remote=%s path=%s handed to lws",
	    (unsigned long long)s->id, s->remote, s->target);
	session_wake_net(s);
}

static void
on_resolved(void *arg, const char *host)
{
	struct pending	*p = arg;

	p->resolving = false;
	if (p->cancelled) {
		pending_free(p, false);
		return;
	}
	if (host != NULL)
		snprintf(p->remote_host, sizeof p->remote_host, "%s", host);
	pending_hand_over(p, &p->req, p->script, p->prefix);
}

/*
 * --reverselookup: the upgrade waits for REMOTE_HOST on a resolver thread;
 * the loop goes on serving everyone else meanwhile.
 */
static void
lookup_then_hand_over(struct pending *p, struct http_request *req,
    const char *script, size_t prefix)
{
	struct client_facts	 cf;
	struct addrinfo		 hints, *ai = NULL;

	event_del(p->ev);
	/* Behind a trusted proxy, the client's name, not the proxy's. */
	client_facts(p, req, &cf);
	memset(&hints, 0, sizeof hints);
	hints.ai_flags = AI_NUMERICHOST;
	if (getaddrinfo(cf.addr, NULL, &hints, &ai) == 0) {
		memcpy(&p->lookup_addr, ai->ai_addr, ai->ai_addrlen);
		freeaddrinfo(ai);
	} else
		p->lookup_addr = p->peer;
	if (req != &p->req) {
		p->req = *req;	/* the request moves into the pending */
		memset(req, 0, sizeof *req);
	}
	p->prefix = prefix;
	if ((script != NULL && (p->script = strdup(script)) == NULL) ||
	    resolve_lookup(p->srv, &p->lookup_addr, on_resolved, p) != 0) {
		pending_hand_over(p, &p->req, script, prefix);
		return;
	}
	p->resolving = true;
}

/*
 * lws 4.1 drops, without a word, an upgrade whose Sec-WebSocket-Protocol
 * names nothing it serves; we say why instead.
 */
static bool
subprotocol_ok(const struct config *cfg, const struct http_request *req)
{
	size_t	 i;

	if (http_header(req, "Sec-WebSocket-Protocol") == NULL)
		return true;
	for (i = 0; i < cfg->nprotocols; i++) {
		if (http_header_has_token(req, "Sec-WebSocket-Protocol",
		    cfg->protocols[i]))
			return true;
	}
	return false;
}

/*
 * An upgrade is refused here, over plain HTTP and before anything is
 * spawned, for every reason we can know in advance; websocketd upgrades
 * first and then drops the socket, which tells a browser nothing. Every
 * rule is ours: what passes must be a handshake we can answer with 101.
 */
static int
check_upgrade(struct pending *p, const struct http_request *req,
    const char **why)
{
	const struct config	*cfg = p->srv->cfg;

	if ((*why = http_handshake_error(req)) != NULL)
		return 400;
	/* With --dir, find_script forbids them (403). */
	if (cfg->dir == NULL && http_path_has_dots(req->target)) {
		*why = "a \".\" or \"..\" segment in the path\n";
		return 400;
	}
	if (!http_websocket_version_ok(req)) {
		*why = "only WebSocket version 13 is spoken here\n";
		return 426;
	}
	if (!http_websocket_key_ok(req)) {
		*why = "missing or malformed Sec-WebSocket-Key\n";
		return 400;
	}
	if (!origin_allowed(http_header(req, "Origin"),
	    (const char *const *)cfg->origins, cfg->sameorigin,
	    http_header(req, "Host"), cfg->ssl)) {
		*why = "origin not allowed\n";
		return 403;
	}
	if (!subprotocol_ok(cfg, req)) {
		*why = "none of the offered subprotocols is served here "
		    "(see --protocol)\n";
		return 400;
	}
	if (cfg->maxforks > 0 && p->srv->forks >= cfg->maxforks) {
		*why = "too many processes\n";
		return 429;
	}
	return 0;
}

/* --dir: the script this URL names, and where its PATH_INFO starts. */
static int
find_script(struct pending *p, const struct http_request *req,
    char *file, size_t len, size_t *prefix)
{
	char	 path[4096];

	if (http_path_decode(req->target, path, sizeof path) != 0)
		return 403;
	switch (fsmap_script(p->srv->cfg->dir, path, file, len, prefix)) {
	case FSMAP_FOUND:
		return 0;
	case FSMAP_FORBIDDEN:
		return 403;
	default:
		return 404;
	}
}

/* After the verdict: plain HTTP to httpd, upgrades to their checks. */
static void
route_authorized(struct pending *p, struct http_request *req, size_t headlen)
{
	struct server	*srv = p->srv;
	const char	*why;
	char		 script[4096];
	size_t		 prefix = 0;
	int		 code, error, fd = p->fd;
	struct client_facts cf;

	client_facts(p, req, &cf);

	if (!http_is_websocket(req)) {
		pending_free(p, false);
		httpd_serve(srv, fd, headlen, req, &cf);
		return;
	}
	if ((code = check_upgrade(p, req, &why)) != 0 ||
	    (srv->cfg->dir != NULL &&
	    (code = find_script(p, req, script, sizeof script, &prefix)) != 0)) {
		log_access("refused remote=%s path=%s status=%d user=%s",
		    cf.remote, req->target, code, cf.user[0] != '\0' ?
		    cf.user : "-");
		reply_error(p, headlen, code, why);
		return;
	}
	if (spawn_make_pipes(p->pipes) == -1) {
		error = errno;
		log_error("remote=%s path=%s cannot make the child's pipes: %s",
		    cf.remote, req->target, strerror(error));
		log_access("refused remote=%s path=%s status=503 user=%s",
		    cf.remote, req->target, cf.user[0] != '\0' ? cf.user : "-");
		reply_error(p, headlen, 503, error == EMFILE ||
		    error == ENFILE ? "out of file descriptors\n" : NULL);
		return;
	}
	p->headlen = headlen;
	if (srv->cfg->reverselookup && p->peer.ss_family != AF_UNIX) {
		lookup_then_hand_over(p, req, srv->cfg->dir != NULL ? script :
		    NULL, prefix);
		return;
	}
	pending_hand_over(p, req, srv->cfg->dir != NULL ? script : NULL,
	    prefix);
}

/* No, wrong or unverifiable credentials: said with the user tried. */
static void
refuse_auth(struct pending *p, const struct http_request *req,
    size_t headlen)
{
	static const char *const bodies[] = {
		[AUTH_DENY] = "a user and password are needed\n",
		[AUTH_FORBID] = "an identity is taken from a trusted proxy "
		    "only\n",
		[AUTH_SLOW_DOWN] = "too many failed attempts: retry later\n",
		[AUTH_BUSY] = "too many password checks waiting\n",
	};
	struct server		*srv = p->srv;
	struct client_facts	 cf;
	enum auth_verdict	 v = p->auth.verdict;
	char			 extra[300];
	int			 code = auth_status(v), fd = p->fd;

	client_facts(p, req, &cf);
	log_access("refused remote=%s path=%s status=%d user=%s", cf.remote,
	    req->target, code, p->auth.user[0] != '\0' ? p->auth.user : "-");
	if (v == AUTH_DENY)
		snprintf(extra, sizeof extra, "%s", auth_challenge(srv));
	else if (v == AUTH_SLOW_DOWN)
		snprintf(extra, sizeof extra, "Retry-After: %u\r\n",
		    p->auth.retry_after);
	else
		extra[0] = '\0';
	pending_free(p, false);
	httpd_error_extra(srv, fd, headlen, code,
	    v < sizeof bodies / sizeof bodies[0] ? bodies[v] : NULL, extra);
}

/* A worker checked the password: the request goes on, or is refused. */
static void
on_auth(void *arg, const struct auth_result *r)
{
	struct pending		*p = arg;
	struct http_request	 req;

	p->verifying = false;
	if (p->cancelled) {
		pending_free(p, false);
		return;
	}
	p->auth = *r;
	req = p->req;		/* ours now: the pending may go before it */
	memset(&p->req, 0, sizeof p->req);
	if (r->verdict == AUTH_PASS)
		route_authorized(p, &req, p->headlen);
	else
		refuse_auth(p, &req, p->headlen);
	http_request_free(&req);
}

/*
 * Every request is asked about first, whatever it is for, so nothing is
 * spawned, served or counted for someone not let in. Only --redirport
 * comes before: it sends the client to TLS, where the password belongs.
 */
void
route_request(struct pending *p, struct http_request *req, size_t headlen)
{
	struct server		*srv = p->srv;
	struct client_facts	 cf;
	char			 peer[INET6_ADDRSTRLEN + 8];
	int			 port, fd = p->fd;

	if (p->redirect) {
		pending_free(p, false);
		httpd_redirect(srv, fd, headlen, req);
		return;
	}
	if (srv->auth == NULL) {
		route_authorized(p, req, headlen);
		return;
	}
	client_facts(p, req, &cf);
	addr_to_text(&p->peer, peer, sizeof peer, &port);
	switch (auth_check(srv, req, peer, cf.addr, &p->auth, on_auth, p)) {
	case AUTH_PASS:
		route_authorized(p, req, headlen);
		break;
	case AUTH_WAIT:
		/* Like a reverse lookup: the loop serves others meanwhile. */
		event_del(p->ev);
		p->req = *req;
		memset(req, 0, sizeof *req);
		p->headlen = headlen;
		p->verifying = true;
		break;
	default:
		refuse_auth(p, req, headlen);
		break;
	}
}
