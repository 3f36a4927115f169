/*
 * --cgidir's answer (httpd-cgi.c), and the end of a script's part of a
 * connection, for httpd.c's connection code.
 */
#ifndef WSB_HTTPD_CGI_H
#define WSB_HTTPD_CGI_H

#include <stdbool.h>
#include <stddef.h>

struct client_facts;
struct conn;
struct http_request;
struct server;

bool	 serve_cgi(struct server *, int, size_t, const struct http_request *,
	     const struct client_facts *);
void	 cgi_stop(struct conn *);
void	 cgi_body_timeout(struct conn *);

#endif
