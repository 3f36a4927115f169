/*
 * wsbridge: serve a command over WebSocket. main() parses the flags, opens
 * the listeners, starts the network thread and runs the libevent loop that
 * owns children, pipes, signals and timers, until a stop signal has been
 * carried through to the last session.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "auth.h"
#include "authparse.h"
#include "config.h"
#include "child.h"
#include "httpd.h"
#include "listener.h"
#include "local.h"
#include "localtty.h"
#include "log.h"
#include "net.h"
#include "options.h"
#include "ptyquery.h"
#include "resolve.h"
#include "tls.h"
#include "server.h"
#include "session.h"
#include "spawner.h"

static const char license_text[] =
"wsbridge " PACKAGE_VERSION "\n"
"Copyright (c) 2026 The wsbridge developers\n"
"\n"
"Permission to use, copy, modify, and distribute this software for any\n"
"purpose with or without fee is hereby granted, provided that the above\n"
"copyright notice and this permission notice appear in all copies.\n"
"\n"
"THE SOFTWARE IS PROVIDED \"AS IS\" AND THE AUTHOR DISCLAIMS ALL WARRANTIES\n"
"WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF\n"
"MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR\n"
"ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES\n"
"WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN\n"
"ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF\n"
"OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.\n";

#define STOP_POLL_MS	50
#define FINISH_ROUNDS	4	/* of serving what the queues hold, at exit */


/* A child must start with 0, 1 and 2 and nothing else: make sure they exist. */
static int
ensure_std_fds(void)
{
	int	 fd;

	while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd <= 2)
		;
	if (fd == -1)
		return -1;
	close(fd);
	return 0;
}

static void
main_wake(void *arg)
{
	event_active(arg, EV_READ, 0);
}

static void
check_stopped(struct server *srv)
{
	/* A client has its one session only: when it is gone, so are we. */
	if ((srv->stopping || srv->cfg->connect_url != NULL) &&
	    hub_count(srv->hub) == 0 && children_count(srv->children) == 0)
		event_base_loopexit(srv->base, NULL);
}

/* The spawner reaped a child of ours. */
static void
on_child_exit(void *arg, pid_t pid, int status)
{
	struct server	*srv = arg;

	children_exited(srv, pid, status);
	check_stopped(srv);
}

/* The network side changed some sessions: act on each. */
static void
on_main_wake(evutil_socket_t fd, short what, void *arg)
{
	struct server	*srv = arg;
	struct session	*s;

	(void)fd;
	(void)what;
	while ((s = hub_next_main(srv->hub)) != NULL) {
		srv->service(srv, s);
		session_unref(s);
	}
	check_stopped(srv);
}

/*
 * At exit, once the network thread is gone: what it queued for main (its
 * last news, from lws_context_destroy's WSI_DESTROY and from closing the
 * stdouts) is served, and what it would have served is let go, since
 * nothing is sent any more. Each session on a queue is there once, so a
 * round takes as many as there are sessions.
 */
static void
drain_queues(struct server *srv)
{
	struct session	*s;
	unsigned	 round, n, i;

	for (round = 0; round < FINISH_ROUNDS; round++) {
		n = hub_count(srv->hub) + 1;
		for (i = 0; i < n && (s = hub_next_main(srv->hub)) != NULL;
		    i++) {
			srv->service(srv, s);
			session_unref(s);
		}
		for (i = 0; i < n && (s = hub_next_net(srv->hub)) != NULL; i++)
			session_unref(s);
	}
}

/*
 * Every session that started ends with its ACCESS line before we exit,
 * however its client behaved: one that never answered our close frame
 * would have kept the network thread's reference for 5 s, longer than the
 * stop's deadline. So the children still running are killed and reaped,
 * and the sessions they held end with that status.
 */
static void
finish_sessions(struct server *srv)
{
	unsigned	 left;

	drain_queues(srv);
	children_finish(srv);
	drain_queues(srv);
	if ((left = hub_count(srv->hub)) > 0)
		log_error("%u sessions could not be ended", left);
}

static void
on_stop_poll(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	check_stopped(arg);
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct server	*srv = arg;
	struct timeval	 grace = { 0, 200000 };

	(void)fd;
	(void)what;
	if (children_count(srv->children) > 0) {
		log_error("stop deadline reached: killing %u remaining "
		    "children", children_count(srv->children));
		children_kill_all(srv);
	}
	event_base_loopexit(srv->base, &grace);
}

static void
begin_stop(struct server *srv, int sig)
{
	struct timeval	 poll = { 0, STOP_POLL_MS * 1000 }, deadline;
	unsigned	 ms = srv->cfg->closems * 2 + 2000;

	if (srv->stopping) {
		/*
		 * Asked twice: no more grace. The children die now, and the
		 * sessions still end (and log) as their children are reaped.
		 */
		log_info("second %s: killing every child", strsignal(sig));
		children_kill_all(srv);
		deadline.tv_sec = 1;
		deadline.tv_usec = 0;
		if (srv->deadline != NULL)
			evtimer_add(srv->deadline, &deadline);
		return;
	}
	srv->stopping = true;
	srv->stop_signal = sig;
	log_info("shutting down (%s)", strsignal(sig));
	listeners_close(srv);
	hub_broadcast_shutdown(srv->hub);
	children_shutdown(srv);
	deadline.tv_sec = ms / 1000;
	deadline.tv_usec = (ms % 1000) * 1000;
	srv->deadline = evtimer_new(srv->base, on_deadline, srv);
	srv->stop_poll = event_new(srv->base, -1, EV_PERSIST, on_stop_poll, srv);
	if (srv->deadline != NULL)
		evtimer_add(srv->deadline, &deadline);
	if (srv->stop_poll != NULL)
		event_add(srv->stop_poll, &poll);
	check_stopped(srv);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct server	*srv = arg;

	(void)what;
	if (sig == SIGCHLD) {
		children_reap(srv);
		check_stopped(srv);
	} else if (sig == SIGWINCH)
		local_winch(srv);
	else
		begin_stop(srv, (int)sig);
}

static int
setup_signals(struct server *srv)
{
	/*
	 * SIGHUP too: a closed terminal is a request to stop, not a crash.
	 * SIGWINCH only for a --pty client on a terminal: its new size is
	 * sent (local_winch).
	 */
	static const int	 sigs[] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP,
	    SIGWINCH };
	size_t			 i, n = sizeof sigs / sizeof sigs[0];

	/* A child or client that vanishes mid-write must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	if (!srv->cfg->pty || srv->cfg->connect_url == NULL)
		n--;
	for (i = 0; i < n; i++) {
		srv->signals[i] = evsignal_new(srv->base, sigs[i], on_signal,
		    srv);
		if (srv->signals[i] == NULL ||
		    event_add(srv->signals[i], NULL) == -1) {
			log_fatal("cannot install signal handlers");
			return -1;
		}
	}
	return 0;
}

/*
 * The spawner is forked while this process has one thread and no session
 * (after the listeners and the privileges, before any other thread). A
 * server without one spawns its children itself: slower with many
 * sessions open, but the same in every other way. Always true.
 */
static bool
start_spawner(struct server *srv)
{
	srv->spawner = spawner_start(srv->base, on_child_exit, srv);
	return true;
}

static int
parse_args(struct config *cfg, int argc, char **argv)
{
	char	 err[512];

	if (config_parse(cfg, argc, argv, err, sizeof err) != 0) {
		fprintf(stderr, "wsbridge: %s\n", err);
		return 2;
	}
	switch (cfg->action) {
	case ACTION_HELP:
		options_usage(stdout);
		return 0;
	case ACTION_VERSION:
		printf("wsbridge %s\n", PACKAGE_VERSION);
		return 0;
	case ACTION_LICENSE:
		fputs(license_text, stdout);
		return 0;
	case ACTION_SERVE:
		break;
	}
	if (cfg->command != NULL &&
	    config_resolve_command(cfg, getenv("PATH"), err, sizeof err) != 0) {
		fprintf(stderr, "wsbridge: %s\n", err);
		return 2;
	}
	return -1;
}

/* --password-file: its first line, without the line break. */
static int
read_password_file(const char *path, char *buf, size_t len)
{
	FILE	*f;
	size_t	 n;

	if ((f = fopen(path, "re")) == NULL) {
		fprintf(stderr, "wsbridge: --password-file=%s: %s\n", path,
		    strerror(errno));
		return -1;
	}
	if (fgets(buf, (int)len, f) == NULL)
		buf[0] = '\0';		/* an empty file: an empty password */
	fclose(f);
	n = strcspn(buf, "\r\n");
	if (buf[n] == '\0' && n == len - 1) {
		explicit_bzero(buf, len);
		fprintf(stderr, "wsbridge: --password-file=%s: the first line "
		    "is longer than %d bytes\n", path, AUTH_PASS_MAX);
		return -1;
	}
	buf[n] = '\0';
	return 0;
}

/*
 * A password typed into the URL shows in ps: once it is in the header,
 * it is overwritten in our argv, as curl does (only its length shows).
 */
static void
hide_url_password(const struct config *cfg)
{
	char	*host = strstr(cfg->connect_url, "://") + 3;
	char	*end = host + strcspn(host, "/?#"), *at, *colon;

	if ((at = memrchr(host, '@', (size_t)(end - host))) == NULL ||
	    (colon = memchr(host, ':', (size_t)(at - host))) == NULL)
		return;
	memset(colon + 1, 'x', (size_t)(at - colon - 1));
}

/* Client mode: Basic credentials, from the URL, a file or the environment. */
static int
client_credentials(struct config *cfg)
{
	char	 pw[AUTH_PASS_MAX + 2], err[512];
	int	 rc;

	if (cfg->password_file != NULL &&
	    read_password_file(cfg->password_file, pw, sizeof pw) != 0)
		return -1;
	rc = config_client_credentials(cfg, getenv("WSBRIDGE_PASSWORD"),
	    cfg->password_file != NULL ? pw : NULL, err, sizeof err);
	explicit_bzero(pw, sizeof pw);
	/* Read once: COMMAND, which gets our environment, has no use for it. */
	unsetenv("WSBRIDGE_PASSWORD");
	if (rc != 0) {
		fprintf(stderr, "wsbridge: %s\n", err);
		return -1;
	}
	hide_url_password(cfg);
	return 0;
}

/* libevent's own complaints go to our log, not raw onto stderr. */
static void
libevent_log(int severity, const char *msg)
{
	if (severity == EVENT_LOG_ERR)
		log_error("libevent: %s", msg);
	else
		log_debug("libevent: %s", msg);
}

static int
server_init(struct server *srv, const struct config *cfg)
{
	memset(srv, 0, sizeof *srv);
	srv->cfg = cfg;
	snprintf(srv->software, sizeof srv->software, "wsbridge/%s",
	    PACKAGE_VERSION);
	if (getrandom(&srv->boot_id, sizeof srv->boot_id, 0) == -1)
		srv->boot_id = (uint64_t)time(NULL) ^ (uint64_t)getpid();
	event_set_log_callback(libevent_log);
	if (evthread_use_pthreads() == -1) {
		log_fatal("libevent: no pthreads support");
		return -1;
	}
	if ((srv->base = event_base_new()) == NULL ||
	    !(event_base_get_features(srv->base) & EV_FEATURE_ET)) {
		log_fatal("libevent: cannot create an edge-triggered event base");
		return -1;
	}
	if ((srv->hub = hub_create()) == NULL ||
	    (srv->children = children_create()) == NULL ||
	    (srv->httpd = httpd_create()) == NULL) {
		log_fatal("out of memory");
		return -1;
	}
	srv->main_wake = event_new(srv->base, -1, 0, on_main_wake, srv);
	if (srv->main_wake == NULL) {
		log_fatal("libevent: cannot create the wake-up event");
		return -1;
	}
	srv->hub->wake_main = main_wake;
	srv->hub->wake_main_arg = srv->main_wake;
	srv->service = cfg->connect_url != NULL && cfg->command == NULL ?
	    local_service : child_service;
	return 0;
}

static int
lookup_id(const char *what, const char *name, uid_t *uid, gid_t *gid)
{
	struct passwd	*pw;
	struct group	*gr;
	char		*end;
	unsigned long	 n;

	n = strtoul(name, &end, 10);
	if (strcmp(what, "uid") == 0) {
		pw = (*end == '\0') ? getpwuid((uid_t)n) : getpwnam(name);
		if (pw == NULL && *end != '\0') {
			fprintf(stderr, "wsbridge: --uid=%s: no such user\n", name);
			return -1;
		}
		if (pw == NULL && gid != NULL) {
			/* No entry, so no group to default to: never root's. */
			fprintf(stderr, "wsbridge: --uid=%s has no passwd "
			    "entry: give --gid too\n", name);
			return -1;
		}
		*uid = pw != NULL ? pw->pw_uid : (uid_t)n;
		if (gid != NULL)
			*gid = pw->pw_gid;
		return 0;
	}
	gr = (*end == '\0') ? NULL : getgrnam(name);
	if (gr == NULL && *end != '\0') {
		fprintf(stderr, "wsbridge: --gid=%s: no such group\n", name);
		return -1;
	}
	*gid = gr != NULL ? gr->gr_gid : (gid_t)n;
	return 0;
}

/* Resolved before anything listens, so a typo is a usage error (exit 2). */
struct identity {
	bool	 change;
	uid_t	 uid;
	gid_t	 gid;
};

static int
resolve_identity(const struct config *cfg, struct identity *id)
{
	id->change = cfg->uid != NULL || cfg->gid != NULL;
	id->uid = getuid();
	id->gid = getgid();
	if (!id->change)
		return 0;
	if (geteuid() != 0) {
		fprintf(stderr, "wsbridge: --uid/--gid need wsbridge to "
		    "start as root\n");
		return -1;
	}
	if (cfg->uid != NULL && lookup_id("uid", cfg->uid, &id->uid,
	    cfg->gid == NULL ? &id->gid : NULL) != 0)
		return -1;
	if (cfg->gid != NULL && lookup_id("gid", cfg->gid, NULL, &id->gid) != 0)
		return -1;
	return 0;
}

/*
 * After binding (a privileged port needs root) and before anything is
 * spawned: the children inherit whatever we are then.
 */
static int
drop_privileges(const struct identity *id)
{
	if (!id->change)
		return 0;
	if (setgroups(1, &id->gid) == -1 || setgid(id->gid) == -1 ||
	    setuid(id->uid) == -1) {
		log_fatal("cannot drop privileges to uid %ld gid %ld: %s",
		    (long)id->uid, (long)id->gid, strerror(errno));
		return -1;
	}
	if (id->uid != 0 && setuid(0) == 0) {
		log_fatal("dropped privileges could be regained: refusing to run");
		return -1;
	}
	log_info("running as uid %ld gid %ld", (long)id->uid, (long)id->gid);
	return 0;
}

static void
server_teardown(struct server *srv)
{
	size_t	 i;

	for (i = 0; i < sizeof srv->signals / sizeof srv->signals[0]; i++) {
		if (srv->signals[i] != NULL)
			event_free(srv->signals[i]);
	}
	if (srv->deadline != NULL)
		event_free(srv->deadline);
	if (srv->stop_poll != NULL)
		event_free(srv->stop_poll);
	if (srv->main_wake != NULL)
		event_free(srv->main_wake);
	local_free(srv);
	httpd_free(srv);
	children_free(srv->children);
	hub_free(srv->hub);
	if (srv->base != NULL)
		event_base_free(srv->base);
	libevent_global_shutdown();
}

/*
 * A --pty client tells the server its window size in the URL's query
 * (cols, rows), so the remote program starts with the right one. Without
 * a terminal to ask, the server's default it is.
 */
static int
pty_dial_url(struct server *srv)
{
	const char	*url = srv->cfg->connect_url;
	size_t		 len = strlen(url) + 32;

	if (!localtty_size(&srv->tty_cols, &srv->tty_rows))
		return 0;
	if ((srv->dial_url = malloc(len)) == NULL ||
	    ptyquery_url(url, srv->tty_cols, srv->tty_rows, srv->dial_url,
	    len) != 0) {
		log_fatal("out of memory");
		return -1;
	}
	return 0;
}

/*
 * Client mode: one session, dialled rather than accepted. The loop ends when
 * it does (check_stopped sees no session left), and its close decides our
 * exit status.
 */
static struct session *
client_session(struct server *srv)
{
	struct session	*s;

	if (srv->cfg->pty && pty_dial_url(srv) != 0)
		return NULL;

	if ((s = session_create(srv)) == NULL)
		return NULL;
	s->id = ++srv->next_session_id;
	snprintf(s->remote, sizeof s->remote, "%s", srv->cfg->connect_shown);
	if ((s->target = strdup(srv->cfg->connect_shown)) == NULL) {
		session_unref(s);
		session_unref(s);
		return NULL;
	}
	session_publish(s);
	return s;
}

int
main(int argc, char **argv)
{
	struct config	 cfg;
	struct server	 srv;
	struct identity	 id;
	struct session	*client;
	int		 rc;

	if (ensure_std_fds() != 0) {
		perror("wsbridge: /dev/null");
		return 1;
	}
	if ((rc = parse_args(&cfg, argc, argv)) >= 0) {
		config_free(&cfg);
		return rc;
	}
	log_set_level(cfg.loglevel);
	if ((cfg.connect_url != NULL && client_credentials(&cfg) != 0) ||
	    resolve_identity(&cfg, &id) != 0 ||
	    listeners_check(&cfg) != 0) {
		config_free(&cfg);
		return 2;
	}
	client = NULL;
	if (server_init(&srv, &cfg) != 0)
		return 1;
	if ((cfg.ssl && tls_start(&srv) != 0) || auth_load(&srv) != 0) {
		auth_stop(&srv);
		tls_stop(&srv);
		server_teardown(&srv);
		config_free(&cfg);
		return 2;
	}
	if (setup_signals(&srv) != 0 ||
	    (cfg.connect_url == NULL && (listeners_open(&srv) != 0 ||
	    drop_privileges(&id) != 0)) ||
	    (cfg.connect_url == NULL && !start_spawner(&srv)) ||
	    (cfg.reverselookup && resolve_start(&srv) != 0) ||
	    auth_start(&srv) != 0 ||
	    (cfg.connect_url != NULL && (client = client_session(&srv)) == NULL) ||
	    net_start(&srv, client) != 0) {
		/* Each step said what failed; undo the ones that worked. */
		listeners_close(&srv);
		auth_stop(&srv);
		resolve_stop(&srv);
		spawner_stop(srv.spawner);
		tls_stop(&srv);
		server_teardown(&srv);
		free(srv.dial_url);
		config_free(&cfg);
		return 1;
	}
	if (cfg.dir != NULL)
		log_info("serving the scripts in %s", cfg.dir);
	else if (cfg.connect_url == NULL)
		log_info("serving %s", cfg.command_path);
	if (event_base_dispatch(srv.base) == -1)
		log_error("libevent loop failed");
	listeners_close(&srv);
	resolve_stop(&srv);
	auth_stop(&srv);
	net_stop(&srv);
	finish_sessions(&srv);
	spawner_stop(srv.spawner);	/* every child is reaped by now */
	srv.spawner = NULL;
	tls_stop(&srv);
	server_teardown(&srv);
	free(srv.dial_url);
	config_free(&cfg);
	if (cfg.connect_url != NULL)
		return atomic_load(&srv.exit_status);
	log_info("stopped");
	return 0;
}
