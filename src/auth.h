/*
 * Who may run the command: --basic-auth (a password file, checked with
 * crypt(3) on worker threads) and --auth-header (a user named by a trusted
 * proxy). Asked once per request on the main thread, before anything else
 * is done for it.
 */
#ifndef WSB_AUTH_H
#define WSB_AUTH_H

#include <stddef.h>

#include "authparse.h"

struct http_request;
struct server;

enum auth_verdict {
	AUTH_PASS,		/* user and type are set */
	AUTH_DENY,		/* 401: none or wrong credentials */
	AUTH_FORBID,		/* 403: an identity header from a stranger */
	AUTH_SLOW_DOWN,		/* 429: too many failures from there */
	AUTH_BUSY,		/* 503: too many checks waiting, or stopping */
	AUTH_WAIT,		/* the callback will tell */
};

struct auth_result {
	enum auth_verdict	 verdict;
	char			 user[AUTH_USER_MAX + 1]; /* "": none tried */
	char			 type[64];	/* AUTH_TYPE: Basic, or a header */
	unsigned		 retry_after;	/* seconds, with AUTH_SLOW_DOWN */
};

typedef void (*auth_cb)(void *, const struct auth_result *);

int		 auth_load(struct server *);
int		 auth_start(struct server *);
enum auth_verdict auth_check(struct server *, const struct http_request *,
		     const char *, const char *, struct auth_result *, auth_cb,
		     void *);
int		 auth_status(enum auth_verdict);
const char	*auth_challenge(const struct server *);
void		 auth_stop(struct server *);

#endif
