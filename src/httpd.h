/*
 * Plain HTTP on the main thread: errors, redirects, metrics, static files,
 * CGI and the dev console. Each function takes the connection over and
 * closes it when the answer is sent.
 */
#ifndef WSB_HTTPD_H
#define WSB_HTTPD_H

#include <stdbool.h>
#include <stddef.h>

#include "authparse.h"

struct http_request;
struct server;

/* Who is asking, as the environment and the log tell it. */
struct client_facts {
	char	 addr[64];	/* REMOTE_ADDR: the client, behind any proxy */
	int	 port;		/* REMOTE_PORT; -1 when a proxy hides it */
	char	 local_addr[64];
	int	 local_port;
	char	 remote[80];	/* for the log: addr:port, or addr */
	char	 user[AUTH_USER_MAX + 1];	/* REMOTE_USER, "" if none */
	char	 auth_type[64];			/* AUTH_TYPE */
};

void	 httpd_error(struct server *, int, size_t, int, const char *);
void	 httpd_error_extra(struct server *, int, size_t, int, const char *,
	     const char *);
void	 httpd_redirect(struct server *, int, size_t,
	     const struct http_request *);
void	 httpd_serve(struct server *, int, size_t, const struct http_request *,
	     const struct client_facts *);
struct httpd *httpd_create(void);
void	 httpd_free(struct server *);

#endif
