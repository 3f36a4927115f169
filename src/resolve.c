/*
 * A few threads run getnameinfo, which honours /etc/hosts and nsswitch as
 * every other program on the machine does. Jobs go in under one mutex;
 * results come back under the same mutex and one event_active wakes the
 * main thread, which runs the callbacks. Threads block every signal.
 */
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "log.h"
#include "resolve.h"
#include "server.h"

#define RESOLVE_THREADS	4

struct job {
	struct sockaddr_storage	 addr;
	char			 host[NI_MAXHOST];
	bool			 found;
	resolve_cb		 cb;
	void			*arg;
	TAILQ_ENTRY(job)	 entry;
};

TAILQ_HEAD(job_list, job);

struct resolver {
	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	struct job_list		 todo;
	struct job_list		 done;
	bool			 stop;
	struct event		*done_ev;
	pthread_t		 threads[RESOLVE_THREADS];
	int			 nthreads;
};

static void *
worker(void *arg)
{
	struct resolver	*r = arg;
	struct job	*j;
	socklen_t	 len;
	bool		 wake;

	pthread_mutex_lock(&r->lock);
	for (;;) {
		while (!r->stop && TAILQ_EMPTY(&r->todo))
			pthread_cond_wait(&r->cond, &r->lock);
		if (r->stop)
			break;
		j = TAILQ_FIRST(&r->todo);
		TAILQ_REMOVE(&r->todo, j, entry);
		pthread_mutex_unlock(&r->lock);
		len = j->addr.ss_family == AF_INET6 ?
		    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
		j->found = getnameinfo((struct sockaddr *)&j->addr, len,
		    j->host, sizeof j->host, NULL, 0, NI_NAMEREQD) == 0;
		pthread_mutex_lock(&r->lock);
		wake = TAILQ_EMPTY(&r->done);
		TAILQ_INSERT_TAIL(&r->done, j, entry);
		if (wake)
			event_active(r->done_ev, EV_READ, 0);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

static void
on_done(evutil_socket_t fd, short what, void *arg)
{
	struct resolver	*r = arg;
	struct job_list	 list = TAILQ_HEAD_INITIALIZER(list);
	struct job	*j;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&r->lock);
	TAILQ_CONCAT(&list, &r->done, entry);
	pthread_mutex_unlock(&r->lock);
	while ((j = TAILQ_FIRST(&list)) != NULL) {
		TAILQ_REMOVE(&list, j, entry);
		j->cb(j->arg, j->found ? j->host : NULL);
		free(j);
	}
}

int
resolve_start(struct server *srv)
{
	struct resolver	*r;
	sigset_t	 all, old;
	int		 i;

	if ((r = calloc(1, sizeof *r)) == NULL)
		return -1;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	TAILQ_INIT(&r->todo);
	TAILQ_INIT(&r->done);
	if ((r->done_ev = event_new(srv->base, -1, 0, on_done, r)) == NULL) {
		free(r);
		return -1;
	}
	srv->resolver = r;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (i = 0; i < RESOLVE_THREADS; i++) {
		if (pthread_create(&r->threads[i], NULL, worker, r) != 0)
			break;
		r->nthreads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r->nthreads == 0) {
		log_fatal("--reverselookup: cannot start resolver threads");
		resolve_stop(srv);
		return -1;
	}
	return 0;
}

int
resolve_lookup(struct server *srv, const struct sockaddr_storage *addr,
    resolve_cb cb, void *arg)
{
	struct resolver	*r = srv->resolver;
	struct job	*j;

	if (r == NULL || (j = calloc(1, sizeof *j)) == NULL)
		return -1;
	j->addr = *addr;
	j->cb = cb;
	j->arg = arg;
	pthread_mutex_lock(&r->lock);
	TAILQ_INSERT_TAIL(&r->todo, j, entry);
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
	return 0;
}

/* Lookups still running are waited for; their answers are dropped. */
void
resolve_stop(struct server *srv)
{
	struct resolver	*r = srv->resolver;
	struct job	*j;
	int		 i;

	if (r == NULL)
		return;
	pthread_mutex_lock(&r->lock);
	r->stop = true;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	for (i = 0; i < r->nthreads; i++)
		pthread_join(r->threads[i], NULL);
	while ((j = TAILQ_FIRST(&r->todo)) != NULL) {
		TAILQ_REMOVE(&r->todo, j, entry);
		free(j);
	}
	while ((j = TAILQ_FIRST(&r->done)) != NULL) {
		TAILQ_REMOVE(&r->done, j, entry);
		free(j);
	}
	event_free(r->done_ev);
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
	free(r);
	srv->resolver = NULL;
}
