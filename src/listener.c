/*
 * Why the main thread reads the head first: lws 4.1 only returns custom
 * headers by name, and the child must see every header as HTTP_*. Reading
 * with MSG_PEEK leaves the bytes in the socket, so lws still reads the whole
 * request itself and nothing is copied across threads.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "auth.h"
#include "config.h"
#include "env.h"
#include "fsmap.h"
#include "http.h"
#include "httpd.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "monotime.h"
#include "origin.h"
#include "resolve.h"
#include "server.h"
#include "session.h"
#include "spawn.h"
#include "tls.h"
#include "upgrade.h"

#define ACCEPT_BURST	64	/* accepts per wake-up, for fairness */
#define HEAD_TIMEOUT	10	/* seconds to send a whole request head */
#define BACKLOG		1024

extern char **environ;

struct listener {
	struct server		*srv;
	int			 fd;
	bool			 redirect;	/* --redirport */
	struct event		*ev;
	struct event		*pause_ev;	/* out of fds: back off */
};

struct pending {
	struct server		*srv;
	int			 fd;
	bool			 redirect;	/* came in on --redirport */
	/* --reverselookup: what the upgrade needs while the lookup runs. */
	bool			 resolving;
	bool			 verifying;	/* a password is being checked */
	bool			 cancelled;	/* freed while either ran */
	struct auth_result	 auth;		/* who, once AUTH_PASS */
	struct http_request	 req;
	int			 pipes[SPAWN_PIPE_FDS]; /* the child's */
	char			*script;
	size_t			 prefix;
	size_t			 headlen;	/* the request head's bytes */
	char			 remote_host[256];
	struct sockaddr_storage	 lookup_addr;
	struct event		*ev;
	time_t			 deadline;
	struct sockaddr_storage	 peer;
	struct sockaddr_storage	 local;		/* where it came in */
	TAILQ_ENTRY(pending)	 entry;
};

struct listeners {
	struct listener		 list[CONFIG_MAX_ADDRESSES * 2 + 2];
	size_t			 n;
	TAILQ_HEAD(, pending)	 pending;
	bool			 unix_bound;	/* ours to remove at exit */
	bool			 binding_redirect; /* listeners_open's state */
	char			 scratch[HTTP_HEAD_MAX + 1];
};


/* "1.2.3.4" or "::1", with IPv4-mapped IPv6 shown as plain IPv4. */
static void
addr_to_text(const struct sockaddr_storage *ss, char *ip, size_t iplen,
    int *port)
{
	const struct sockaddr_in	*sin = (const void *)ss;
	const struct sockaddr_in6	*sin6 = (const void *)ss;
	struct in_addr			 v4;

	*port = 0;
	if (ss->ss_family == AF_INET) {
		inet_ntop(AF_INET, &sin->sin_addr, ip, (socklen_t)iplen);
		*port = ntohs(sin->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			memcpy(&v4, &sin6->sin6_addr.s6_addr[12], sizeof v4);
			inet_ntop(AF_INET, &v4, ip, (socklen_t)iplen);
		} else
			inet_ntop(AF_INET6, &sin6->sin6_addr, ip,
			    (socklen_t)iplen);
		*port = ntohs(sin6->sin6_port);
	} else if (ss->ss_family == AF_UNIX)
		snprintf(ip, iplen, "unix-socket");
	else
		snprintf(ip, iplen, "unknown");
}

static void
format_endpoint(const char *ip, int port, char *buf, size_t len)
{
	if (strchr(ip, ':') != NULL)
		snprintf(buf, len, "[%s]:%d", ip, port);
	else
		snprintf(buf, len, "%s:%d", ip, port);
}

static void
pending_free(struct pending *p, bool close_fd)
{
	struct listeners	*ls = p->srv->listeners;

	spawn_close_pipes(p->pipes);	/* unless a session took them */
	if (p->cancelled) {
		/* Already off the list; the lookup's answer frees it. */
		free(p->script);
		http_request_free(&p->req);
		free(p);
		return;
	}
	TAILQ_REMOVE(&ls->pending, p, entry);
	event_free(p->ev);
	if (close_fd)
		close(p->fd);
	if (p->resolving || p->verifying) {
		p->cancelled = true;
		return;
	}
	free(p->script);
	http_request_free(&p->req);
	free(p);
}

/* Hands the connection to httpd for an error answer. */
static void
reply_error(struct pending *p, size_t headlen, int code, const char *body)
{
	struct server	*srv = p->srv;
	int		 fd = p->fd;

	pending_free(p, false);
	httpd_error(srv, fd, headlen, code, body);
}

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
static void
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

/*
 * Whether the client reset or half-closed the connection. A peek cannot
 * tell: after a reset or a FIN it still returns the bytes queued before,
 * not -1 or 0, so a head cut short would wait for its timeout.
 */
static bool
peer_done(int fd)
{
	struct pollfd	 pfd = { .fd = fd, .events = POLLRDHUP };

	if (poll(&pfd, 1, 0) == -1) {
		log_debug("poll on a new connection: %s", strerror(errno));
		return false;
	}
	return (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

static void
on_pending_read(evutil_socket_t fd, short what, void *arg)
{
	struct pending		*p = arg;
	struct listeners	*ls = p->srv->listeners;
	struct http_request	 req;
	ssize_t			 n;
	long			 head;

	if ((what & EV_TIMEOUT) || mono_sec() > p->deadline) {
		log_debug("request head timed out");
		reply_error(p, 0, 408, "timeout\n");
		return;
	}
	n = recv(fd, ls->scratch, sizeof ls->scratch, MSG_PEEK);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		pending_free(p, true);
		return;
	}
	head = http_head_length(ls->scratch, (size_t)n);
	if (head == 0) {
		if (peer_done(fd))
			pending_free(p, true);
		return;		/* more to come: the next edge wakes us */
	}
	if (head < 0) {
		reply_error(p, 0, head == -2 ? 431 : 400, NULL);
		return;
	}
	if (http_parse_request(&req, ls->scratch, (size_t)head) != 0) {
		reply_error(p, (size_t)head, 400, NULL);
		return;
	}
	route_request(p, &req, (size_t)head);
	http_request_free(&req);
}

static void
pending_start(struct server *srv, int fd, const struct sockaddr_storage *ss,
    const struct sockaddr_storage *local, bool redirect)
{
	struct pending	*p;
	struct timeval	 tv = { HEAD_TIMEOUT, 0 };

	if ((p = calloc(1, sizeof *p)) == NULL) {
		log_error("out of memory for a connection");
		close(fd);
		return;
	}
	p->srv = srv;
	p->fd = fd;
	memset(p->pipes, -1, sizeof p->pipes);
	p->redirect = redirect;
	p->peer = *ss;
	p->local = *local;
	p->deadline = mono_sec() + HEAD_TIMEOUT;
	/* Edge-triggered: a peek leaves data behind, so wait for new bytes. */
	p->ev = event_new(srv->base, fd, EV_READ | EV_PERSIST | EV_ET,
	    on_pending_read, p);
	if (p->ev == NULL || event_add(p->ev, &tv) == -1) {
		log_error("cannot watch a new connection");
		if (p->ev != NULL)
			event_free(p->ev);
		close(fd);
		free(p);
		return;
	}
	TAILQ_INSERT_TAIL(&srv->listeners->pending, p, entry);
}

/* A new connection: TLS first if --ssl, then its request head. */
static void
accepted(struct listener *l, int fd, const struct sockaddr_storage *ss)
{
	struct sockaddr_storage	 local;
	socklen_t		 len = sizeof local;
	int			 one = 1;

	if (getsockname(fd, (struct sockaddr *)&local, &len) == -1)
		memset(&local, 0, sizeof local);
	/* Small messages must not wait for Nagle. */
	if (ss->ss_family != AF_UNIX && setsockopt(fd, IPPROTO_TCP,
	    TCP_NODELAY, &one, sizeof one) == -1)
		log_debug("TCP_NODELAY: %s", strerror(errno));
	if (l->srv->tls != NULL && !l->redirect &&
	    (fd = tls_accept(l->srv, fd, ss)) == -1)
		return;
	pending_start(l->srv, fd, ss, &local, l->redirect);
}

static void
on_resume_accept(evutil_socket_t fd, short what, void *arg)
{
	struct listener	*l = arg;

	(void)fd;
	(void)what;
	if (!l->srv->stopping)
		event_add(l->ev, NULL);
}

static void
on_accept(evutil_socket_t fd, short what, void *arg)
{
	struct listener		*l = arg;
	/*
	 * accept4 fills ss; initialised for clang's analyzer only, which
	 * does not see a write through glibc's transparent-union sockaddr
	 * argument and would call ss_family garbage.
	 */
	struct sockaddr_storage	 ss = { .ss_family = AF_UNSPEC };
	struct timeval		 backoff = { 0, 100000 };
	socklen_t		 len;
	int			 i, cfd;

	(void)what;
	for (i = 0; i < ACCEPT_BURST; i++) {
		len = sizeof ss;
		cfd = accept4(fd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd >= 0) {
			accepted(l, cfd, &ss);
			continue;
		}
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			/* Leave the rest in the backlog until fds free up. */
			log_error("accept: %s; pausing for 100 ms",
			    strerror(errno));
			event_del(l->ev);
			evtimer_add(l->pause_ev, &backoff);
		} else if (errno != EAGAIN && errno != EINTR &&
		    errno != ECONNABORTED)
			log_error("accept: %s", strerror(errno));
		return;
	}
}

/* Starts accepting on a bound, listening socket; logs where. */
static int
listener_add(struct server *srv, int fd, const char *how)
{
	struct listeners	*ls = srv->listeners;
	struct listener		*l;
	/* getsockname fills it; initialised for the analyzer (see on_accept) */
	struct sockaddr_storage	 ss = { .ss_family = AF_UNSPEC };
	socklen_t		 len = sizeof ss;
	char			 ip[INET6_ADDRSTRLEN], ep[160];
	int			 port;

	if (ls->n == sizeof ls->list / sizeof ls->list[0]) {
		errno = EMFILE;
		return -1;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		return -1;
	l = &ls->list[ls->n];
	l->srv = srv;
	l->fd = fd;
	l->redirect = ls->binding_redirect;
	if (l->redirect)
		how = " (redirects to --port)";
	l->ev = event_new(srv->base, fd, EV_READ | EV_PERSIST, on_accept, l);
	l->pause_ev = evtimer_new(srv->base, on_resume_accept, l);
	if (l->ev == NULL || l->pause_ev == NULL ||
	    event_add(l->ev, NULL) == -1) {
		if (l->ev != NULL)
			event_free(l->ev);
		if (l->pause_ev != NULL)
			event_free(l->pause_ev);
		errno = ENOMEM;
		return -1;
	}
	ls->n++;
	if (ss.ss_family == AF_UNIX)
		snprintf(ep, sizeof ep, "unix:%s",
		    ((struct sockaddr_un *)&ss)->sun_path);
	else {
		addr_to_text(&ss, ip, sizeof ip, &port);
		format_endpoint(ip, port, ep, sizeof ep);
	}
	log_info("listening on %s%s", ep, how);
	return 0;
}

static int
bind_one(struct server *srv, const struct addrinfo *ai, int *port)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof ss;
	int			 fd, one = 1, zero = 0, saved;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, ai->ai_protocol);
	if (fd == -1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	/* An unqualified [::] serves IPv4 too, as websocketd's "all" does. */
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
	memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
	if (ss.ss_family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)*port);
	else
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)*port);
	if (bind(fd, (struct sockaddr *)&ss, ai->ai_addrlen) == -1 ||
	    listen(fd, BACKLOG) == -1 ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) == -1 ||
	    listener_add(srv, fd, "") == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	/* With --port=0, every address shares the first one's port. */
	*port = ntohs(ss.ss_family == AF_INET ?
	    ((struct sockaddr_in *)&ss)->sin_port :
	    ((struct sockaddr_in6 *)&ss)->sin6_port);
	return 0;
}

/*
 * A stale socket file from a previous run is replaced; one that a live
 * server still answers on is not.
 */
static int
bind_unix(struct server *srv, const char *path)
{
	struct sockaddr_un	 sun;
	struct stat		 st;
	int			 fd, probe;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sun,
		    sizeof sun) == 0) {
			close(probe);
			fprintf(stderr, "wsbridge: --unixsocket=%s: a server "
			    "is listening there already\n", path);
			return -1;
		}
		if (probe >= 0)
			close(probe);
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1 ||
	    listen(fd, BACKLOG) == -1 || listener_add(srv, fd, "") == -1) {
		fprintf(stderr, "wsbridge: --unixsocket=%s: %s\n", path,
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	srv->listeners->unix_bound = true;
	return 0;
}

/*
 * systemd's protocol: LISTEN_FDS sockets from fd 3 on, meant for us only
 * if LISTEN_PID is our pid.
 */
static int
adopt_activated(struct server *srv, bool *adopted)
{
	const char	*pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	char		*end;
	long		 n, i;
	int		 flags;

	*adopted = false;
	if (pid == NULL || fds == NULL ||
	    strtol(pid, &end, 10) != (long)getpid() || *end != '\0')
		return 0;
	n = strtol(fds, &end, 10);
	if (*end != '\0' || n <= 0 || n > CONFIG_MAX_ADDRESSES) {
		fprintf(stderr, "wsbridge: LISTEN_FDS=%s: not a count of "
		    "sockets (1-%d)\n", fds, CONFIG_MAX_ADDRESSES);
		return -1;
	}
	for (i = 0; i < n; i++) {
		flags = fcntl(3 + (int)i, F_GETFL);
		if (flags == -1 || fcntl(3 + (int)i, F_SETFL,
		    flags | O_NONBLOCK) == -1 ||
		    fcntl(3 + (int)i, F_SETFD, FD_CLOEXEC) == -1 ||
		    listener_add(srv, 3 + (int)i, " (socket activation)") == -1) {
			fprintf(stderr, "wsbridge: socket activation: fd %ld: "
			    "%s\n", 3 + i, strerror(errno));
			return -1;
		}
	}
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	*adopted = true;
	return 0;
}

/* getaddrinfo for one --address: brackets mean IPv6 only. */
static int
resolve_address(const char *address, struct addrinfo **res)
{
	struct addrinfo	 hints;
	char		 host[256];
	size_t		 n;
	int		 error;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if (address[0] == '[') {
		n = strlen(address);
		snprintf(host, sizeof host, "%.*s", (int)(n - 2), address + 1);
		hints.ai_family = AF_INET6;
		hints.ai_flags |= AI_NUMERICHOST;
		address = host;
	}
	if ((error = getaddrinfo(address, "0", &hints, res)) != 0) {
		fprintf(stderr, "wsbridge: --address=%s: %s\n", address,
		    gai_strerror(error));
		return -1;
	}
	return 0;
}

/* Every --address must resolve before the first one is bound. */
int
listeners_check(const struct config *cfg)
{
	struct addrinfo	*res;
	size_t		 i;

	for (i = 0; i < cfg->naddresses; i++) {
		if (resolve_address(cfg->addresses[i], &res) != 0)
			return -1;
		freeaddrinfo(res);
	}
	return 0;
}

/* Binds every address getaddrinfo gives for one --address (or all). */
static int
bind_address(struct server *srv, const char *address, int *port)
{
	struct addrinfo	*res, *ai;
	int		 bound = 0;

	if (resolve_address(address, &res) != 0)
		return -1;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (bind_one(srv, ai, port) == 0)
			bound++;
		else if (errno != EAFNOSUPPORT) {
			fprintf(stderr, "wsbridge: cannot listen on %s port "
			    "%d: %s\n", address ? address : "*", *port,
			    strerror(errno));
			freeaddrinfo(res);
			return -1;
		}
	}
	freeaddrinfo(res);
	return bound > 0 ? 0 : -1;
}

/* Every --address, or every interface. */
static int
bind_addresses(struct server *srv, int *port)
{
	const struct config	*cfg = srv->cfg;
	size_t			 i;

	if (cfg->naddresses == 0)
		return bind_address(srv, "[::]", port) == 0 ? 0 :
		    bind_address(srv, "0.0.0.0", port);
	for (i = 0; i < cfg->naddresses; i++) {
		if (bind_address(srv, cfg->addresses[i], port) != 0)
			return -1;
	}
	return 0;
}

int
listeners_open(struct server *srv)
{
	const struct config	*cfg = srv->cfg;
	int			 port = cfg->port;
	bool			 activated;

	if ((srv->listeners = calloc(1, sizeof *srv->listeners)) == NULL)
		return -1;
	TAILQ_INIT(&srv->listeners->pending);
	if (adopt_activated(srv, &activated) != 0)
		return -1;
	if (cfg->unixsocket != NULL && bind_unix(srv, cfg->unixsocket) != 0)
		return -1;
	/* systemd's sockets, or a unix socket alone, replace the default. */
	if (activated || (cfg->unixsocket != NULL && cfg->naddresses == 0 &&
	    !cfg->port_given))
		return 0;
	if (bind_addresses(srv, &port) != 0)
		return -1;
	srv->port = port;
	if (cfg->redirport == 0)
		return 0;
	srv->listeners->binding_redirect = true;
	port = cfg->redirport;
	return bind_addresses(srv, &port);
}

/* Stops accepting; connections still sending their head are dropped. */
void
listeners_close(struct server *srv)
{
	struct listeners	*ls = srv->listeners;
	struct pending		*p, *next;
	size_t			 i;

	if (ls == NULL)
		return;
	for (i = 0; i < ls->n; i++) {
		event_free(ls->list[i].ev);
		event_free(ls->list[i].pause_ev);
		close(ls->list[i].fd);
	}
	if (ls->unix_bound)
		unlink(srv->cfg->unixsocket);
	ls->n = 0;
	/* pending_free touches no other element: the next one is read first. */
	for (p = TAILQ_FIRST(&ls->pending); p != NULL; p = next) {
		next = TAILQ_NEXT(p, entry);
		pending_free(p, true);
	}
	free(ls);
	srv->listeners = NULL;
}
