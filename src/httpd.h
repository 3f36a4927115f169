/*
 * Plain HTTP on the main thread: errors, redirects, metrics, static files,
 * CGI and the dev console. Each function takes the connection over and
 * closes it when the answer is sent.
 */
#ifndef WSB_HTTPD_H
#define WSB_HTTPD_H

#include <stdbool.h>
#include <stddef.h>

struct http_request;
struct server;
struct sockaddr_storage;

void	 httpd_error(struct server *, int, size_t, int, const char *);
void	 httpd_redirect(struct server *, int, size_t,
	     const struct http_request *);
void	 httpd_serve(struct server *, int, size_t, const struct http_request *,
	     const struct sockaddr_storage *);
struct httpd *httpd_create(void);
void	 httpd_free(struct server *);

#endif
