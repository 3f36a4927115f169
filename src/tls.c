/*
 * Each TLS connection is two bufferevents: libevent's OpenSSL one on the
 * client's socket and a plain one on our end of a socketpair, whose other
 * end goes through listener.c like any accepted socket. Bytes are moved
 * with a bound in each direction, so a slow side holds the fast one back.
 * The cost: one more fd and one more copy per session, on the main thread,
 * and only for --ssl.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "config.h"
#include "listener.h"
#include "log.h"
#include "server.h"
#include "tls.h"

#define RELAY_HIGH	(256 * 1024)
#define HANDSHAKE_SECS	10

struct relay {
	struct server		*srv;
	struct bufferevent	*tls;		/* the client, encrypted */
	struct bufferevent	*plain;		/* our end of the socketpair */
	bool			 tls_eof, plain_eof;
	TAILQ_ENTRY(relay)	 entry;
};

TAILQ_HEAD(relays, relay);

struct tls {
	SSL_CTX			*ctx;
	struct relays		 relays;
};

static void
log_ssl_errors(const char *what)
{
	unsigned long	 e;
	char		 buf[256];

	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof buf);
		log_debug("%s: %s", what, buf);
	}
}

int
tls_start(struct server *srv)
{
	const struct config	*cfg = srv->cfg;
	struct tls		*t;

	if ((t = calloc(1, sizeof *t)) == NULL)
		return -1;
	TAILQ_INIT(&t->relays);
	if ((t->ctx = SSL_CTX_new(TLS_server_method())) == NULL ||
	    SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION) != 1) {
		fprintf(stderr, "wsbridge: cannot set up TLS\n");
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(t->ctx, cfg->sslcert) != 1) {
		fprintf(stderr, "wsbridge: --sslcert=%s: not a usable PEM "
		    "certificate\n", cfg->sslcert);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(t->ctx, cfg->sslkey,
	    SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(t->ctx) != 1) {
		fprintf(stderr, "wsbridge: --sslkey=%s: not the key of "
		    "--sslcert\n", cfg->sslkey);
		goto fail;
	}
	if (cfg->sslca != NULL) {
		/* Client certificates: required, and checked against these. */
		if (SSL_CTX_load_verify_locations(t->ctx, cfg->sslca,
		    NULL) != 1) {
			fprintf(stderr, "wsbridge: --sslca=%s: no usable CA "
			    "certificates\n", cfg->sslca);
			goto fail;
		}
		SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER |
		    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	srv->tls = t;
	return 0;
fail:
	log_ssl_errors("tls");
	if (t->ctx != NULL)
		SSL_CTX_free(t->ctx);
	free(t);
	return -1;
}

static void
relay_free(struct relay *r)
{
	TAILQ_REMOVE(&r->srv->tls->relays, r, entry);
	bufferevent_free(r->tls);
	bufferevent_free(r->plain);
	free(r);
}

static struct bufferevent *
other(struct relay *r, struct bufferevent *bev)
{
	return bev == r->tls ? r->plain : r->tls;
}

/* Both directions done and flushed: the relay has nothing left to do. */
static void
relay_check_done(struct relay *r)
{
	if (r->tls_eof && r->plain_eof)
		relay_free(r);
	else if (r->tls_eof && evbuffer_get_length(
	    bufferevent_get_output(r->plain)) == 0)
		shutdown(bufferevent_getfd(r->plain), SHUT_WR);
	else if (r->plain_eof && evbuffer_get_length(
	    bufferevent_get_output(r->tls)) == 0)
		relay_free(r);	/* lws is done: nothing more for the client */
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct relay		*r = arg;
	struct bufferevent	*to = other(r, bev);

	bufferevent_write_buffer(to, bufferevent_get_input(bev));
	if (evbuffer_get_length(bufferevent_get_output(to)) > RELAY_HIGH)
		bufferevent_disable(bev, EV_READ);
}

static void
on_write(struct bufferevent *bev, void *arg)
{
	struct relay	*r = arg;

	/* Drained: the other side may read again. */
	bufferevent_enable(other(r, bev), EV_READ);
	relay_check_done(r);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct relay	*r = arg;

	if (what & BEV_EVENT_CONNECTED)
		return;
	if (what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
		if (bev == r->tls)
			log_ssl_errors("tls");
		relay_free(r);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		if (bev == r->tls)
			r->tls_eof = true;
		else
			r->plain_eof = true;
		relay_check_done(r);
	}
}

/*
 * Takes over an accepted TLS socket; returns our plain end's partner, to
 * be served like any accepted connection, or -1.
 */
int
tls_accept(struct server *srv, int fd, const struct sockaddr_storage *peer)
{
	struct tls	*t = srv->tls;
	struct relay	*r;
	struct timeval	 tv = { HANDSHAKE_SECS, 0 };
	SSL		*ssl;
	int		 sp[2];

	(void)peer;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    sp) == -1) {
		log_error("tls: socketpair: %s", strerror(errno));
		close(fd);
		return -1;
	}
	if ((r = calloc(1, sizeof *r)) == NULL ||
	    (ssl = SSL_new(t->ctx)) == NULL) {
		free(r);
		close(fd);
		close(sp[0]);
		close(sp[1]);
		return -1;
	}
	r->srv = srv;
	r->tls = bufferevent_openssl_socket_new(srv->base, fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	r->plain = bufferevent_socket_new(srv->base, sp[0],
	    BEV_OPT_CLOSE_ON_FREE);
	if (r->tls == NULL || r->plain == NULL) {
		if (r->tls != NULL)
			bufferevent_free(r->tls);
		else {
			SSL_free(ssl);
			close(fd);
		}
		if (r->plain != NULL)
			bufferevent_free(r->plain);
		else
			close(sp[0]);
		close(sp[1]);
		free(r);
		return -1;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(r->tls, 1);
	bufferevent_setcb(r->tls, on_read, on_write, on_event, r);
	bufferevent_setcb(r->plain, on_read, on_write, on_event, r);
	/* The handshake must finish in time; after that lws keeps time. */
	bufferevent_set_timeouts(r->tls, &tv, NULL);
	bufferevent_enable(r->tls, EV_READ | EV_WRITE);
	bufferevent_enable(r->plain, EV_READ | EV_WRITE);
	TAILQ_INSERT_TAIL(&t->relays, r, entry);
	return sp[1];
}

void
tls_stop(struct server *srv)
{
	struct tls	*t = srv->tls;
	struct relay	*r, *next;

	if (t == NULL)
		return;
	/* relay_free touches no other element: the next one is read first. */
	for (r = TAILQ_FIRST(&t->relays); r != NULL; r = next) {
		next = TAILQ_NEXT(r, entry);
		relay_free(r);
	}
	SSL_CTX_free(t->ctx);
	free(t);
	srv->tls = NULL;
}
