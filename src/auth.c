/*
 * --basic-auth and --auth-header. The verdict is asked for on the main
 * thread, first thing for every request; whatever is quick is answered at
 * once (no credentials, a remembered success, a blocked address, a proxy's
 * header). Checking a password is slow on purpose (bcrypt at cost 10 takes
 * tens of milliseconds), so that goes to worker threads, which only call
 * crypt_rn: jobs go in and come back under one mutex, and one event_active
 * wakes the main thread, which updates the tables and runs the callbacks,
 * as resolve.c does for --reverselookup. Every table is the main thread's.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <crypt.h>
#include <event2/event.h>
#include <openssl/crypto.h>

#include "auth.h"
#include "authcache.h"
#include "config.h"
#include "http.h"
#include "log.h"
#include "monotime.h"
#include "server.h"

#define AUTH_THREADS	2
#define AUTH_QUEUE_MAX	64		/* checks waiting: 503 beyond */
#define AUTH_FILE_MAX	(16 * 1024 * 1024)

/*
 * An unknown user's password is still hashed, against this (or the file's
 * first hash, which costs the same as the others), so the answer's timing
 * does not say which names exist.
 */
#define DUMMY_HASH \
	"$2b$10$eB6szzLtb.Qhhfak/8FnqOgMheFaozLKlNhFsESJh.gVTMAM6.1vG"

/* A request waiting for a job's answer. */
struct waiter {
	auth_cb			 cb;
	void			*arg;
	char			 addr[AUTHFAIL_ADDR];	/* for the failures */
	struct waiter		*next;
};

/*
 * One password to hash. Requests with the same credentials that arrive
 * while it runs (a client opening several sessions at once) wait for the
 * same answer instead of hashing again: waiters, and the main thread's
 * list of jobs in flight.
 */
struct job {
	char			 user[AUTH_USER_MAX + 1];
	char			 pass[AUTH_PASS_MAX + 1];
	char			 hash[AUTH_HASH_MAX];
	bool			 known;		/* the user is in the file */
	bool			 ok;		/* the worker's answer */
	unsigned char		 mac[32];
	struct waiter		*waiters;	/* main thread only */
	TAILQ_ENTRY(job)	 flight;	/* main thread only */
	TAILQ_ENTRY(job)	 entry;		/* behind the lock */
};

TAILQ_HEAD(job_list, job);

/* What stat said of the file when it was last read, to see a change. */
struct file_id {
	dev_t			 dev;
	ino_t			 ino;
	off_t			 size;
	struct timespec		 mtime, ctime;
};

struct auth {
	/* Main thread only. */
	struct server		*srv;
	struct htpasswd		 users;
	struct file_id		 seen;		/* read last, good or bad */
	bool			 stat_failed;	/* said so once already */
	char			 challenge[256];
	struct authcache	 cache;
	struct authfail		 fails;
	unsigned		 queued;	/* requests not yet called back */
	struct job_list		 flying;	/* jobs not yet called back */
	struct event		*done_ev;

	/* Behind lock. */
	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	struct job_list		 todo;
	struct job_list		 done;
	bool			 stop;
	pthread_t		 threads[AUTH_THREADS];
	int			 nthreads;
};

static void
file_id_of(const struct stat *st, struct file_id *id)
{
	memset(id, 0, sizeof *id);
	id->dev = st->st_dev;
	id->ino = st->st_ino;
	id->size = st->st_size;
	id->mtime = st->st_mtim;
	id->ctime = st->st_ctim;
}

static bool
file_id_same(const struct file_id *a, const struct file_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	    a->mtime.tv_sec == b->mtime.tv_sec &&
	    a->mtime.tv_nsec == b->mtime.tv_nsec &&
	    a->ctime.tv_sec == b->ctime.tv_sec &&
	    a->ctime.tv_nsec == b->ctime.tv_nsec;
}

/* Reads and parses the whole file; the old table stays until this works. */
static int
load_file(const char *path, struct htpasswd *h, struct file_id *id, char *err,
    size_t errlen)
{
	struct stat	 st;
	char		*buf;
	size_t		 got = 0;
	ssize_t		 n;
	int		 fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1) {
		snprintf(err, errlen, "%s", strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	file_id_of(&st, id);
	if (!S_ISREG(st.st_mode) || st.st_size > AUTH_FILE_MAX) {
		snprintf(err, errlen, "not a regular file of at most %d bytes",
		    AUTH_FILE_MAX);
		close(fd);
		return -1;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		close(fd);
		return -1;
	}
	while (got < (size_t)st.st_size &&
	    (n = read(fd, buf + got, (size_t)st.st_size - got)) > 0)
		got += (size_t)n;
	close(fd);
	rc = htpasswd_parse(h, buf, got, err, errlen);
	explicit_bzero(buf, got);
	free(buf);
	return rc;
}

/*
 * One stat per request: when the file changed, it is read again. A bad
 * edit is reported once and the users read before stay in force.
 */
static void
reload_if_changed(struct auth *a)
{
	const char	*path = a->srv->cfg->basic_auth;
	struct htpasswd	 h;
	struct file_id	 id;
	struct stat	 st;
	char		 err[256];

	if (stat(path, &st) == -1) {
		if (!a->stat_failed)
			log_error("--basic-auth=%s: %s; keeping the %zu users "
			    "read before", path, strerror(errno), a->users.n);
		a->stat_failed = true;
		return;
	}
	a->stat_failed = false;
	file_id_of(&st, &id);
	if (file_id_same(&id, &a->seen))
		return;
	if (load_file(path, &h, &a->seen, err, sizeof err) != 0) {
		log_error("--basic-auth=%s: %s; keeping the %zu users read "
		    "before", path, err, a->users.n);
		return;
	}
	htpasswd_free(&a->users);
	a->users = h;
	authcache_clear(&a->cache);	/* a password may have changed */
	log_info("--basic-auth=%s: read again, %zu users", path, h.n);
}

static void
check_password(struct job *j, struct crypt_data *cd)
{
	const char	*out;

	memset(cd, 0, sizeof *cd);
	out = crypt_rn(j->pass, j->hash, cd, (int)sizeof *cd);
	/* A failure is NULL or a string starting with '*'. */
	j->ok = out != NULL && out[0] != '*' && auth_equal(out, j->hash) &&
	    j->known;
	explicit_bzero(cd, sizeof *cd);
	explicit_bzero(j->pass, sizeof j->pass);
}

static void *
worker(void *arg)
{
	struct auth		*a = arg;
	struct crypt_data	*cd;
	struct job		*j;
	bool			 wake;

	/* 32 KiB: too large for every thread's stack to take lightly. */
	if ((cd = malloc(sizeof *cd)) == NULL) {
		log_error("--basic-auth: out of memory in a worker thread");
		return NULL;
	}
	pthread_mutex_lock(&a->lock);
	for (;;) {
		while (!a->stop && TAILQ_EMPTY(&a->todo))
			pthread_cond_wait(&a->cond, &a->lock);
		if (a->stop)
			break;
		j = TAILQ_FIRST(&a->todo);
		TAILQ_REMOVE(&a->todo, j, entry);
		pthread_mutex_unlock(&a->lock);
		check_password(j, cd);
		pthread_mutex_lock(&a->lock);
		wake = TAILQ_EMPTY(&a->done);
		TAILQ_INSERT_TAIL(&a->done, j, entry);
		if (wake)
			event_active(a->done_ev, EV_READ, 0);
	}
	pthread_mutex_unlock(&a->lock);
	free(cd);
	return NULL;
}

static void
job_result(const struct job *j, struct auth_result *r)
{
	memset(r, 0, sizeof *r);
	r->verdict = j->ok ? AUTH_PASS : AUTH_DENY;
	snprintf(r->user, sizeof r->user, "%s", j->user);
	snprintf(r->type, sizeof r->type, "Basic");
}

/*
 * Tells every request waiting for j (the tables updated first for each,
 * unless stopping), then frees j. A callback may start new checks: j is
 * off the list of jobs in flight by then.
 */
static void
answer(struct auth *a, struct job *j, bool stopping)
{
	struct auth_result	 r;
	struct waiter		*w;
	uint64_t		 now = mono_ms();

	TAILQ_REMOVE(&a->flying, j, flight);
	job_result(j, &r);
	if (stopping)
		r.verdict = AUTH_BUSY;
	else if (j->ok)
		authcache_add(&a->cache, j->mac, now);
	while ((w = j->waiters) != NULL) {
		j->waiters = w->next;
		a->queued--;
		if (!stopping && j->ok)
			authfail_succeeded(&a->fails, w->addr);
		else if (!stopping)
			authfail_failed(&a->fails, w->addr, now);
		w->cb(w->arg, &r);	/* frees a cancelled connection */
		free(w);
	}
	explicit_bzero(j, sizeof *j);
	free(j);
}

/* The workers' answers, on the main thread. */
static void
on_done(evutil_socket_t fd, short what, void *arg)
{
	struct auth		*a = arg;
	struct job_list		 list = TAILQ_HEAD_INITIALIZER(list);
	struct job		*j;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&a->lock);
	TAILQ_CONCAT(&list, &a->done, entry);
	pthread_mutex_unlock(&a->lock);
	while ((j = TAILQ_FIRST(&list)) != NULL) {
		TAILQ_REMOVE(&list, j, entry);
		answer(a, j, false);
	}
}

/* The realm as a quoted-string can hold it: no quotes, no controls. */
static void
make_challenge(struct auth *a)
{
	const struct config	*cfg = a->srv->cfg;
	const char		*realm = cfg->auth_realm, *slash;
	char			 name[128];
	size_t			 i;

	if (realm == NULL) {
		realm = cfg->command != NULL ? cfg->command[0] : "wsbridge";
		if ((slash = strrchr(realm, '/')) != NULL && slash[1] != '\0')
			realm = slash + 1;
	}
	snprintf(name, sizeof name, "%s", realm);
	for (i = 0; name[i] != '\0'; i++) {
		if ((unsigned char)name[i] < 0x20 || name[i] == '"' ||
		    name[i] == '\\' || name[i] == 0x7f)
			name[i] = '_';
	}
	snprintf(a->challenge, sizeof a->challenge,
	    "WWW-Authenticate: Basic realm=\"%s\", charset=\"UTF-8\"\r\n", name);
}

static bool
loopback(const char *addr)
{
	return strncmp(addr, "127.", 4) == 0 || strcmp(addr, "[::1]") == 0 ||
	    strcmp(addr, "localhost") == 0;
}

/*
 * Basic sends the password in the clear, so over plain ws:// it is as
 * safe as the network between client and server: allowed (a TLS proxy in
 * front is common), but said at start-up.
 */
static void
warn_plain(const struct config *cfg)
{
	const char	*pid;
	size_t		 i;

	if (cfg->ssl)
		return;
	/* systemd's sockets (LISTEN_FDS, still set here) are its to bind. */
	if ((pid = getenv("LISTEN_PID")) != NULL &&
	    strtol(pid, NULL, 10) == (long)getpid())
		return;
	if (cfg->naddresses == 0 && (cfg->unixsocket == NULL ||
	    cfg->port_given)) {
		log_info("warning: --basic-auth without --ssl on every "
		    "interface: passwords cross the network in the clear");
		return;
	}
	for (i = 0; i < cfg->naddresses; i++) {
		if (!loopback(cfg->addresses[i]))
			log_info("warning: --basic-auth without --ssl on %s: "
			    "passwords cross the network in the clear",
			    cfg->addresses[i]);
	}
}

static int
start_threads(struct auth *a)
{
	sigset_t	 all, old;
	int		 i;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (i = 0; i < AUTH_THREADS; i++) {
		if (pthread_create(&a->threads[i], NULL, worker, a) != 0)
			break;
		a->nthreads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return a->nthreads > 0 ? 0 : -1;
}

/*
 * Before anything listens: a password file that cannot be read, or has a
 * line we would not check safely, stops the server (main exits 2). No
 * thread is started yet: see auth_start.
 */
int
auth_load(struct server *srv)
{
	const struct config	*cfg = srv->cfg;
	struct auth		*a;
	unsigned char		 key[AUTHCACHE_KEY];
	char			 err[256];

	if (cfg->basic_auth == NULL && cfg->auth_header == NULL)
		return 0;
	if ((a = calloc(1, sizeof *a)) == NULL) {
		fprintf(stderr, "wsbridge: out of memory\n");
		return -1;
	}
	a->srv = srv;
	srv->auth = a;
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->cond, NULL);
	TAILQ_INIT(&a->todo);
	TAILQ_INIT(&a->done);
	TAILQ_INIT(&a->flying);
	authfail_init(&a->fails);
	make_challenge(a);
	if (cfg->basic_auth == NULL)
		return 0;
	if (load_file(cfg->basic_auth, &a->users, &a->seen, err,
	    sizeof err) != 0) {
		fprintf(stderr, "wsbridge: --basic-auth=%s: %s\n",
		    cfg->basic_auth, err);
		return -1;
	}
	if (getrandom(key, sizeof key, 0) != (ssize_t)sizeof key) {
		fprintf(stderr, "wsbridge: --basic-auth: no random key: %s\n",
		    strerror(errno));
		return -1;
	}
	authcache_init(&a->cache, key);
	explicit_bzero(key, sizeof key);
	if ((a->done_ev = event_new(srv->base, -1, 0, on_done, a)) == NULL) {
		fprintf(stderr, "wsbridge: out of memory\n");
		return -1;
	}
	log_info("--basic-auth=%s: %zu users", cfg->basic_auth, a->users.n);
	warn_plain(cfg);
	return 0;
}

/*
 * The checking threads, started apart from auth_load: late, with the
 * resolver's, once privileges are dropped and after anything that forks
 * while the process still has one thread.
 */
int
auth_start(struct server *srv)
{
	struct auth	*a = srv->auth;

	if (a == NULL || srv->cfg->basic_auth == NULL)
		return 0;
	if (start_threads(a) != 0) {
		log_fatal("--basic-auth: cannot start the checking threads");
		return -1;
	}
	return 0;
}

static bool
trusted_proxy(const struct config *cfg, const char *peer)
{
	size_t	 i;

	for (i = 0; cfg->proxies[i] != NULL; i++) {
		if (strcmp(cfg->proxies[i], peer) == 0)
			return true;
	}
	return false;
}

/*
 * --auth-header: the proxy's word is taken from the proxy only. The
 * header from anyone else is a forgery, refused even with --basic-auth.
 */
static enum auth_verdict
check_header(struct server *srv, const struct http_request *req,
    const char *peer, struct auth_result *r)
{
	const struct config	*cfg = srv->cfg;
	const char		*v = http_header(req, cfg->auth_header);

	if (v == NULL)
		return cfg->basic_auth != NULL ? AUTH_WAIT : AUTH_FORBID;
	if (!trusted_proxy(cfg, peer) ||
	    http_header_count(req, cfg->auth_header) != 1 ||
	    !auth_user_ok(v, strlen(v)))
		return AUTH_FORBID;
	snprintf(r->user, sizeof r->user, "%s", v);
	snprintf(r->type, sizeof r->type, "%s", cfg->auth_header);
	return AUTH_PASS;
}

static int
add_waiter(struct job *j, const char *client, auth_cb cb, void *arg)
{
	struct waiter	*w;

	if ((w = calloc(1, sizeof *w)) == NULL)
		return -1;
	w->cb = cb;
	w->arg = arg;
	snprintf(w->addr, sizeof w->addr, "%s", client);
	w->next = j->waiters;
	j->waiters = w;
	return 0;
}

/*
 * A password to check on a worker: queued (or joined to the same check
 * already running), and the caller told to wait.
 */
static enum auth_verdict
submit(struct auth *a, const char *user, const char *pass,
    const unsigned char *mac, const char *client, auth_cb cb, void *arg)
{
	const char	*hash = htpasswd_lookup(&a->users, user);
	struct job	*j;

	if (a->queued >= AUTH_QUEUE_MAX)
		return AUTH_BUSY;
	TAILQ_FOREACH(j, &a->flying, flight) {
		if (CRYPTO_memcmp(j->mac, mac, sizeof j->mac) == 0) {
			if (add_waiter(j, client, cb, arg) != 0)
				return AUTH_BUSY;
			a->queued++;
			return AUTH_WAIT;
		}
	}
	if ((j = calloc(1, sizeof *j)) == NULL)
		return AUTH_BUSY;
	if (add_waiter(j, client, cb, arg) != 0) {
		free(j);
		return AUTH_BUSY;
	}
	j->known = hash != NULL;
	if (hash == NULL)
		hash = a->users.n > 0 ? a->users.v[0].hash : DUMMY_HASH;
	snprintf(j->user, sizeof j->user, "%s", user);
	snprintf(j->pass, sizeof j->pass, "%s", pass);
	snprintf(j->hash, sizeof j->hash, "%s", hash);
	memcpy(j->mac, mac, sizeof j->mac);
	a->queued++;
	TAILQ_INSERT_TAIL(&a->flying, j, flight);
	pthread_mutex_lock(&a->lock);
	TAILQ_INSERT_TAIL(&a->todo, j, entry);
	pthread_cond_signal(&a->cond);
	pthread_mutex_unlock(&a->lock);
	return AUTH_WAIT;
}

static enum auth_verdict
check_basic(struct auth *a, const struct http_request *req,
    const char *client, struct auth_result *r, auth_cb cb, void *arg)
{
	const char	*v;
	char		 pass[AUTH_PASS_MAX + 1];
	unsigned char	 mac[32];
	uint64_t	 now = mono_ms(), wait;
	enum auth_verdict verdict;

	reload_if_changed(a);
	if ((wait = authfail_blocked(&a->fails, client, now)) > 0) {
		r->retry_after = (unsigned)((wait + 999) / 1000);
		return AUTH_SLOW_DOWN;
	}
	if ((v = http_header(req, "Authorization")) == NULL)
		return AUTH_DENY;	/* a browser's first try: no failure */
	snprintf(r->type, sizeof r->type, "Basic");
	if (http_header_count(req, "Authorization") != 1 ||
	    auth_basic_parse(v, r->user, sizeof r->user, pass,
	    sizeof pass) != 0) {
		authfail_failed(&a->fails, client, now);
		return AUTH_DENY;
	}
	if (!authcache_mac(&a->cache, r->user, pass, mac))
		verdict = AUTH_BUSY;
	else if (authcache_find(&a->cache, mac, now)) {
		authfail_succeeded(&a->fails, client);
		verdict = AUTH_PASS;
	} else
		verdict = submit(a, r->user, pass, mac, client, cb, arg);
	explicit_bzero(pass, sizeof pass);
	return verdict;
}

/*
 * The verdict on one request: peer is the address that connected (for
 * --trusted-proxy), client the one the failures are counted against (the
 * client behind a trusted proxy). AUTH_WAIT means cb(arg, result) will be
 * called on the main thread, once, unless auth_stop comes first.
 */
enum auth_verdict
auth_check(struct server *srv, const struct http_request *req,
    const char *peer, const char *client, struct auth_result *r, auth_cb cb,
    void *arg)
{
	struct auth		*a = srv->auth;
	enum auth_verdict	 v;

	memset(r, 0, sizeof *r);
	if (a == NULL)
		return r->verdict = AUTH_PASS;
	if (srv->cfg->auth_header != NULL &&
	    (v = check_header(srv, req, peer, r)) != AUTH_WAIT)
		return r->verdict = v;
	return r->verdict = check_basic(a, req, client, r, cb, arg);
}

int
auth_status(enum auth_verdict v)
{
	switch (v) {
	case AUTH_PASS:
		return 200;
	case AUTH_DENY:
		return 401;
	case AUTH_FORBID:
		return 403;
	case AUTH_SLOW_DOWN:
		return 429;
	default:
		return 503;
	}
}

/* The header line of a 401, "WWW-Authenticate: ...\r\n". */
const char *
auth_challenge(const struct server *srv)
{
	return srv->auth != NULL ? srv->auth->challenge : "";
}

static void
abandon(struct auth *a, struct job_list *list)
{
	struct job	*j;

	while ((j = TAILQ_FIRST(list)) != NULL) {
		TAILQ_REMOVE(list, j, entry);
		answer(a, j, true);
	}
}

/* At exit, after the listeners: checks still running are waited for. */
void
auth_stop(struct server *srv)
{
	struct auth	*a = srv->auth;
	int		 i;

	if (a == NULL)
		return;
	pthread_mutex_lock(&a->lock);
	a->stop = true;
	pthread_cond_broadcast(&a->cond);
	pthread_mutex_unlock(&a->lock);
	for (i = 0; i < a->nthreads; i++)
		pthread_join(a->threads[i], NULL);
	abandon(a, &a->todo);
	abandon(a, &a->done);
	if (a->done_ev != NULL)
		event_free(a->done_ev);
	htpasswd_free(&a->users);
	explicit_bzero(&a->cache, sizeof a->cache);
	pthread_cond_destroy(&a->cond);
	pthread_mutex_destroy(&a->lock);
	free(a);
	srv->auth = NULL;
}
