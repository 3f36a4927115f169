/*
 * One plain-HTTP connection being answered (struct conn) and the plumbing
 * every answer uses: httpd.c owns both; httpd-file.c (--staticdir) and
 * httpd-cgi.c (--cgidir) answer through them, as OpenBSD httpd's
 * server_file.c and server_fcgi.c answer through server_http.c.
 */
#ifndef WSB_HTTPD_CONN_H
#define WSB_HTTPD_CONN_H

#include <sys/queue.h>
#include <sys/types.h>

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct bufferevent;
struct server;

#define IO_TIMEOUT	30		/* seconds without progress */

struct conn {
	struct server		*srv;
	struct bufferevent	*bev;		/* the client */
	bool			 done;		/* free once output drains */
	/* CGI only. */
	pid_t			 pid;
	struct bufferevent	*cgi_in;	/* request body to the script */
	struct bufferevent	*cgi_out;	/* its response */
	size_t			 body_left;
	bool			 head_done;
	bool			 counted;	/* holds one of --maxforks */
	char			 remote[80];	/* for the log */
	char			*target;
	TAILQ_ENTRY(conn)	 entry;
};

const char	*reason_phrase(int);
struct conn	*conn_new(struct server *, int, size_t);
void		 conn_free(struct conn *);
void		 on_client_write(struct bufferevent *, void *);
void		 on_client_event(struct bufferevent *, short, void *);
void		 http_date(time_t, char *, size_t);
void		 start_response(struct conn *, int, const char *);
void		 finish(struct conn *);
void		 respond(struct conn *, int, const char *, const char *,
		     const char *, size_t, bool);
void		 respond_text(struct conn *, int, const char *, const char *,
		     bool);

#endif
