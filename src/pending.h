/*
 * A connection whose request head is still arriving or being decided.
 * listener.c makes one for each accepted socket (pending_start), reads its
 * head and frees it; route.c decides what the request is and, for an
 * upgrade, builds the session and hands the socket over. Only those two
 * files see it.
 */
#ifndef WSB_PENDING_H
#define WSB_PENDING_H

#include <sys/queue.h>
#include <sys/socket.h>

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "auth.h"
#include "http.h"
#include "spawn.h"

struct event;
struct server;

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

void	 pending_free(struct pending *, bool);
void	 reply_error(struct pending *, size_t, int, const char *);
void	 addr_to_text(const struct sockaddr_storage *, char *, size_t, int *);
void	 format_endpoint(const char *, int, char *, size_t);

#endif
