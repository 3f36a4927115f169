/*
 * The server's state, all of it in one place: every module is handed this
 * struct rather than keeping globals of its own.
 */
#ifndef WSB_SERVER_H
#define WSB_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "metrics.h"

struct config;
struct event_base;
struct event;
struct hub;
struct net;
struct listeners;
struct children;
struct spawner;
struct local;
struct session;
struct httpd;
struct resolver;
struct tls;
struct auth;

struct server {
	const struct config	*cfg;
	char			 software[64];	/* "wsbridge/VERSION" */
	uint64_t		 boot_id;	/* random, for UNIQUE_ID */
	char			*dial_url;	/* client: --pty adds the size */

	/* Main thread (libevent) only. */
	struct event_base	*base;
	struct listeners	*listeners;
	struct children		*children;
	struct spawner		*spawner;	/* NULL: we spawn ourselves */
	struct event		*signals[5];	/* SIGWINCH: --pty client */
	struct event		*deadline;	/* bounds a graceful stop */
	struct event		*stop_poll;	/* while stopping: done yet? */
	struct event		*main_wake;	/* the network thread's knock */
	bool			 stopping;
	int			 stop_signal;
	uint64_t		 next_session_id;
	uint64_t		 next_cgi_id;
	int			 port;		/* --port as bound (for --port=0) */
	/* Who acts on a session's news: a child, or (client) our stdio. */
	void			(*service)(struct server *, struct session *);
	struct local		*local;
	struct httpd		*httpd;		/* plain HTTP being answered */
	struct resolver		*resolver;	/* --reverselookup */
	struct tls		*tls;		/* --ssl */
	struct auth		*auth;		/* --basic-auth, --auth-header */
	unsigned		 forks;		/* children, for --maxforks */
	bool			 local_epipe;	/* our stdout's reader left */
	bool			 local_failed;	/* our stdout broke otherwise */
	unsigned		 tty_cols;	/* --pty: the size last sent */
	unsigned		 tty_rows;

	/* Both threads: atomics. */
	struct metrics		 metrics;
	_Atomic int		 exit_status;	/* client mode */

	/* Both threads: behind the hub's own lock. */
	struct hub		*hub;
	/* Network thread (lws) only, but for its start and stop. */
	struct net		*net;
};

#endif
