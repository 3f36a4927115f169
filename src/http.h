/* The HTTP/1.1 request head, parsed before lws sees the connection. */
#ifndef WSB_HTTP_H
#define WSB_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "authparse.h"

#define HTTP_HEAD_MAX	16384	/* larger heads are refused with 431 */
#define HTTP_HEADERS_MAX 100

struct http_header {
	const char	*name;
	const char	*value;
};

struct http_request {
	char			*buf;		/* owns every string below */
	const char		*method;
	const char		*target;	/* path?query as sent */
	const char		*version;
	struct http_header	 headers[HTTP_HEADERS_MAX];
	size_t			 nheaders;
};

struct url {
	bool		 tls;		/* wss:// */
	char		 host[256];	/* without brackets */
	int		 port;
	char		 path[2048];	/* path?query, at least "/" */
	/* ws://user:password@host/: percent-decoded, "" if absent. */
	char		 user[AUTH_USER_MAX + 1];
	char		 pass[AUTH_PASS_MAX + 1];
	bool		 has_pass;
};

int		 url_parse(const char *, struct url *);
long		 http_head_length(const char *, size_t);
int		 http_parse_request(struct http_request *, const char *, size_t);
void		 http_request_free(struct http_request *);
const char	*http_header(const struct http_request *, const char *);
const char	*http_next_token(const char **, size_t *);
bool		 http_header_has_token(const struct http_request *,
		     const char *, const char *);
bool		 http_is_websocket(const struct http_request *);
bool		 http_websocket_version_ok(const struct http_request *);
bool		 http_websocket_key_ok(const struct http_request *);
size_t		 http_header_count(const struct http_request *, const char *);
bool		 http_host_ok(const char *);
bool		 http_target_ok(const char *);
bool		 http_path_has_dots(const char *);
const char	*http_handshake_error(const struct http_request *);
size_t		 http_path_length(const char *);
int		 http_path_decode(const char *, char *, size_t);

#endif
