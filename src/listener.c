/*
 * The listening sockets (TCP, --unixsocket, --redirport, systemd's), the
 * accepting, and each new connection's request head, read with MSG_PEEK
 * within HEAD_TIMEOUT (400/408/431 answered here); what the request then
 * is, and the session it may become, is route.c's (route_request).
 *
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

#include "config.h"
#include "http.h"
#include "httpd.h"
#include "listener.h"
#include "log.h"
#include "monotime.h"
#include "pending.h"
#include "route.h"
#include "server.h"
#include "spawn.h"
#include "tls.h"

#define ACCEPT_BURST	64	/* accepts per wake-up, for fairness */
#define HEAD_TIMEOUT	10	/* seconds to send a whole request head */
#define BACKLOG		1024

struct listener {
	struct server		*srv;
	int			 fd;
	bool			 redirect;	/* --redirport */
	struct event		*ev;
	struct event		*pause_ev;	/* out of fds: back off */
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
void
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

void
format_endpoint(const char *ip, int port, char *buf, size_t len)
{
	if (strchr(ip, ':') != NULL)
		snprintf(buf, len, "[%s]:%d", ip, port);
	else
		snprintf(buf, len, "%s:%d", ip, port);
}

void
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
void
reply_error(struct pending *p, size_t headlen, int code, const char *body)
{
	struct server	*srv = p->srv;
	int		 fd = p->fd;

	pending_free(p, false);
	httpd_error(srv, fd, headlen, code, body);
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
