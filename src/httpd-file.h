/*
 * --staticdir's answer (httpd-file.c), for httpd_serve.
 */
#ifndef WSB_HTTPD_FILE_H
#define WSB_HTTPD_FILE_H

struct conn;
struct http_request;

void	 serve_static(struct conn *, const struct http_request *);

#endif
