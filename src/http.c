/*
 * A strict parser for the request head: the bridge reads it itself, because
 * lws 4.1 cannot list custom headers and the CGI environment wants them all.
 * The parse works on a private copy so the caller's bytes stay untouched for
 * lws to read again.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"

/*
 * Length of the head including its blank line; 0 if incomplete, -1 if it
 * holds a NUL byte, -2 if it is already longer than HTTP_HEAD_MAX.
 */
long
http_head_length(const char *buf, size_t len)
{
	const char	*p;
	size_t		 i;

	for (i = 0; i < len; i++) {
		if (buf[i] == '\0')
			return -1;
		if (buf[i] != '\n')
			continue;
		p = buf + i;
		if (i >= 1 && p[-1] == '\n')
			return (long)i + 1;
		if (i >= 2 && p[-1] == '\r' && p[-2] == '\n')
			return (long)i + 1;
	}
	return len > HTTP_HEAD_MAX ? -2 : 0;
}

static bool
is_token_char(unsigned char c)
{
	return c > 32 && c < 127 && strchr("()<>@,;:\\\"/[]?={}", c) == NULL;
}

static char *
next_line(char **cursor)
{
	char	*line = *cursor, *nl;

	nl = strchr(line, '\n');
	if (nl == NULL)
		return NULL;
	*nl = '\0';
	if (nl > line && nl[-1] == '\r')
		nl[-1] = '\0';
	*cursor = nl + 1;
	return line;
}

static char *
trim(char *s)
{
	char	*end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	return s;
}

static int
parse_request_line(struct http_request *req, char *line)
{
	char	*sp1, *sp2, *p;

	if ((sp1 = strchr(line, ' ')) == NULL)
		return -1;
	*sp1 = '\0';
	if ((sp2 = strchr(sp1 + 1, ' ')) == NULL)
		return -1;
	*sp2 = '\0';
	req->method = line;
	req->target = sp1 + 1;
	req->version = sp2 + 1;
	if (*req->method == '\0' || *req->target != '/')
		return -1;
	for (p = line; *p != '\0'; p++) {
		if (!is_token_char((unsigned char)*p))
			return -1;
	}
	for (p = sp1 + 1; *p != '\0'; p++) {
		if ((unsigned char)*p <= 32 || (unsigned char)*p == 127)
			return -1;
	}
	if (strcmp(req->version, "HTTP/1.1") != 0 &&
	    strcmp(req->version, "HTTP/1.0") != 0)
		return -1;
	return 0;
}

static int
parse_header_line(struct http_request *req, char *line)
{
	char	*colon, *p;

	if ((colon = strchr(line, ':')) == NULL || colon == line)
		return -1;
	*colon = '\0';
	for (p = line; *p != '\0'; p++) {
		if (!is_token_char((unsigned char)*p))
			return -1;
	}
	if (req->nheaders == HTTP_HEADERS_MAX)
		return -1;
	req->headers[req->nheaders].name = line;
	req->headers[req->nheaders].value = trim(colon + 1);
	req->nheaders++;
	return 0;
}

int
http_parse_request(struct http_request *req, const char *head, size_t len)
{
	char	*cursor, *line;

	memset(req, 0, sizeof *req);
	if ((req->buf = malloc(len + 1)) == NULL)
		return -1;
	memcpy(req->buf, head, len);
	req->buf[len] = '\0';
	cursor = req->buf;
	if ((line = next_line(&cursor)) == NULL ||
	    parse_request_line(req, line) != 0)
		goto bad;
	while ((line = next_line(&cursor)) != NULL && *line != '\0') {
		if (parse_header_line(req, line) != 0)
			goto bad;
	}
	if (line == NULL)
		goto bad;
	return 0;
bad:
	http_request_free(req);
	return -1;
}

void
http_request_free(struct http_request *req)
{
	free(req->buf);
	memset(req, 0, sizeof *req);
}

const char *
http_header(const struct http_request *req, const char *name)
{
	size_t	 i;

	for (i = 0; i < req->nheaders; i++) {
		if (strcasecmp(req->headers[i].name, name) == 0)
			return req->headers[i].value;
	}
	return NULL;
}

/* Whether a comma-separated header such as Connection lists a token. */
/*
 * The next item of a comma-separated list such as "a, b ,c": returns it
 * without the white space around it (*len bytes, not NUL-terminated) and
 * moves *list past it; NULL at the end.
 */
const char *
http_next_token(const char **list, size_t *len)
{
	const char	*v = *list, *p;
	size_t		 n;

	for (;;) {
		while (*v == ' ' || *v == '\t' || *v == ',')
			v++;
		if (*v == '\0') {
			*list = v;
			return NULL;
		}
		p = v + strcspn(v, ",");
		n = (size_t)(p - v);
		while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
			n--;
		*list = p;
		if (n > 0) {
			*len = n;
			return v;
		}
		v = p;
	}
}

bool
http_header_has_token(const struct http_request *req, const char *name,
    const char *token)
{
	const char	*v, *p;
	size_t		 i, tlen = strlen(token), n;

	for (i = 0; i < req->nheaders; i++) {
		if (strcasecmp(req->headers[i].name, name) != 0)
			continue;
		p = req->headers[i].value;
		while ((v = http_next_token(&p, &n)) != NULL) {
			if (n == tlen && strncasecmp(v, token, n) == 0)
				return true;
		}
	}
	return false;
}

bool
http_is_websocket(const struct http_request *req)
{
	return strcmp(req->method, "GET") == 0 &&
	    http_header_has_token(req, "Upgrade", "websocket") &&
	    http_header_has_token(req, "Connection", "upgrade");
}

/* The path part of a request target: the bytes before any '?'. */
size_t
http_path_length(const char *target)
{
	return strcspn(target, "?");
}

/* RFC 6455 4.2.1: version 13 only; 4.4: others get 426 and the version. */
bool
http_websocket_version_ok(const struct http_request *req)
{
	const char	*v = http_header(req, "Sec-WebSocket-Version");

	return v != NULL && strcmp(v, "13") == 0;
}

/* The key must be 16 bytes in base64: 22 characters and "==". */
bool
http_websocket_key_ok(const struct http_request *req)
{
	const char	*k = http_header(req, "Sec-WebSocket-Key");
	size_t		 i;

	if (k == NULL || strlen(k) != 24 || strcmp(k + 22, "==") != 0)
		return false;
	for (i = 0; i < 22; i++) {
		if (!isalnum((unsigned char)k[i]) && k[i] != '+' && k[i] != '/')
			return false;
	}
	/* The last character's low 4 bits pad the 128 bits: must be zero. */
	return strchr("AQgw", k[21]) != NULL;
}

/* How many times a header occurs: some must occur exactly once. */
size_t
http_header_count(const struct http_request *req, const char *name)
{
	size_t	 i, n = 0;

	for (i = 0; i < req->nheaders; i++) {
		if (strcasecmp(req->headers[i].name, name) == 0)
			n++;
	}
	return n;
}

/*
 * RFC 7230 5.4 and RFC 3986 3.2.2: a reg-name or an IP literal in
 * brackets, then an optional port. Not empty: the key of the handshake's
 * origin checks cannot be nothing.
 */
bool
http_host_ok(const char *host)
{
	const char	*p = host;
	size_t		 n;

	if (*p == '[') {
		n = strspn(p + 1, "0123456789abcdefABCDEF:.");
		if (n == 0 || p[1 + n] != ']')
			return false;
		p += n + 2;
	} else {
		n = strspn(p, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=%");
		if (n == 0)
			return false;
		p += n;
	}
	if (*p == ':') {
		p++;
		n = strspn(p, "0123456789");
		if (n > 5)
			return false;
		p += n;
	}
	return *p == '\0';
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Every '%' in the target, query included, starts an escape of two hex
 * digits, and none of them is NUL: a NUL cannot reach the child's
 * environment, and what is not an escape means something else to every
 * other parser on the way.
 */
bool
http_target_ok(const char *target)
{
	const char	*p;

	for (p = strchr(target, '%'); p != NULL; p = strchr(p + 3, '%')) {
		if (hexval(p[1]) < 0 || hexval(p[2]) < 0)
			return false;
		if (p[1] == '0' && p[2] == '0')
			return false;
	}
	return true;
}

/* The path's next character, decoded; *i moves past what it took. */
static char
path_char(const char *path, size_t len, size_t *i)
{
	char	 c = path[*i];

	if (c == '%' && *i + 2 < len && hexval(path[*i + 1]) >= 0 &&
	    hexval(path[*i + 2]) >= 0) {
		c = (char)(hexval(path[*i + 1]) << 4 | hexval(path[*i + 2]));
		*i += 2;
	}
	(*i)++;
	return c;
}

static bool
dot_segment(size_t len, size_t dots)
{
	return len > 0 && len == dots && dots <= 2;
}

/*
 * Whether the path (the target before any '?') holds a "." or ".."
 * segment, plain or percent-encoded, an encoded '/' counting as a
 * separator. Clients remove dot segments before they send (RFC 3986
 * 5.2.4), so only a hand-made request has one, and each server or proxy
 * on the way would resolve it its own way.
 */
bool
http_path_has_dots(const char *target)
{
	size_t	 len = http_path_length(target), i = 0, seg = 0, dots = 0;
	char	 c;

	while (i < len) {
		c = path_char(target, len, &i);
		if (c != '/') {
			seg++;
			dots += c == '.';
			continue;
		}
		if (dot_segment(seg, dots))
			return true;
		seg = dots = 0;
	}
	return dot_segment(seg, dots);
}

/*
 * What makes an upgrade request no valid WebSocket opening handshake
 * (RFC 6455 4.1 and 4.2.1, RFC 7230), as a line for the 400 answer; NULL
 * if nothing does. The version (426) and the key have their own checks.
 */
const char *
http_handshake_error(const struct http_request *req)
{
	const char	*host = http_header(req, "Host");
	const char	*upgrade = http_header(req, "Upgrade");
	const char	*cl;
	size_t		 i;

	if (strcmp(req->version, "HTTP/1.1") != 0)
		return "a WebSocket handshake needs HTTP/1.1\n";
	if (http_header_count(req, "Host") != 1 || !http_host_ok(host))
		return "missing, repeated or malformed Host\n";
	/* No WebSocket client offers other protocols alongside. */
	if (http_header_count(req, "Upgrade") != 1 ||
	    strcasecmp(upgrade, "websocket") != 0)
		return "Upgrade must be websocket alone\n";
	if (http_header_count(req, "Sec-WebSocket-Key") > 1 ||
	    http_header_count(req, "Sec-WebSocket-Version") > 1)
		return "repeated Sec-WebSocket-Key or -Version\n";
	/* Which one would the origin check read? */
	if (http_header_count(req, "Origin") > 1)
		return "repeated Origin\n";
	/* Body bytes would be read as the client's first frame. */
	if (http_header(req, "Transfer-Encoding") != NULL)
		return "a handshake has no body\n";
	for (i = 0; i < req->nheaders; i++) {
		if (strcasecmp(req->headers[i].name, "Content-Length") != 0)
			continue;
		cl = req->headers[i].value;
		if (*cl == '\0' || strspn(cl, "0") != strlen(cl))
			return "a handshake has no body\n";
	}
	if (!http_target_ok(req->target))
		return "malformed or NUL percent-escape in the target\n";
	return NULL;
}

/* They would end up in the Host header and the request line. */
static bool
has_ctl_or_space(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s == 0x7f)
			return true;
	}
	return false;
}

static bool
has_ctl_or_space_n(const char *s, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] == 0x7f)
			return true;
	}
	return false;
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* %XX escapes undone into out; -1 for a bad escape, a NUL, no room. */
static int
percent_decode(const char *in, size_t n, char *out, size_t outlen)
{
	size_t	 i, o = 0;
	int	 hi, lo;

	for (i = 0; i < n; i++) {
		if (o + 1 >= outlen)
			return -1;
		if (in[i] != '%') {
			out[o++] = in[i];
			continue;
		}
		if (i + 2 >= n || (hi = hex_value(in[i + 1])) < 0 ||
		    (lo = hex_value(in[i + 2])) < 0 || (hi | lo) == 0)
			return -1;
		out[o++] = (char)(hi << 4 | lo);
		i += 2;
	}
	out[o] = '\0';
	return 0;
}

/*
 * "user[:password]" before the '@' of a --connect URL, as curl and
 * websocat take it; the user must be one --basic-auth could list.
 */
static int
url_userinfo(const char *s, size_t n, struct url *u)
{
	const char	*colon = memchr(s, ':', n);
	size_t		 un = colon != NULL ? (size_t)(colon - s) : n;

	if (has_ctl_or_space_n(s, n) ||
	    percent_decode(s, un, u->user, sizeof u->user) != 0 ||
	    !auth_user_ok(u->user, strlen(u->user)))
		return -1;
	if (colon == NULL)
		return 0;
	u->has_pass = true;
	return percent_decode(colon + 1, n - un - 1, u->pass, sizeof u->pass);
}

/*
 * ws://[user[:password]@]host[:port][/path][?query], wss:// likewise;
 * IPv6 hosts in brackets.
 */
int
url_parse(const char *s, struct url *u)
{
	const char	*host, *end, *colon, *path;
	char		*pend;
	long		 port;
	size_t		 hlen;

	memset(u, 0, sizeof *u);
	if (strncasecmp(s, "ws://", 5) == 0)
		host = s + 5;
	else if (strncasecmp(s, "wss://", 6) == 0) {
		host = s + 6;
		u->tls = true;
	} else
		return -1;
	u->port = u->tls ? 443 : 80;
	path = host + strcspn(host, "/?#");
	if (*path == '#')
		return -1;
	if ((end = memrchr(host, '@', (size_t)(path - host))) != NULL) {
		if (url_userinfo(host, (size_t)(end - host), u) != 0)
			return -1;
		host = end + 1;
	}
	if (*host == '[') {
		if ((end = memchr(host, ']', (size_t)(path - host))) == NULL)
			return -1;
		hlen = (size_t)(end - host - 1);
		host++;
		colon = end + 1 < path && end[1] == ':' ? end + 1 : NULL;
		if (end + 1 < path && colon == NULL)
			return -1;
	} else {
		colon = memchr(host, ':', (size_t)(path - host));
		hlen = (size_t)((colon ? colon : path) - host);
	}
	if (hlen == 0 || hlen >= sizeof u->host)
		return -1;
	memcpy(u->host, host, hlen);
	if (strpbrk(u->host, "@") != NULL || has_ctl_or_space(u->host))
		return -1;	/* no userinfo, no spaces, no control bytes */
	if (colon != NULL) {
		if (colon + 1 == path || colon[1] < '0' || colon[1] > '9')
			return -1;
		port = strtol(colon + 1, &pend, 10);
		if (pend != path || port < 1 || port > 65535)
			return -1;
		u->port = (int)port;
	}
	if (strchr(path, '#') != NULL || has_ctl_or_space(path))
		return -1;
	if (snprintf(u->path, sizeof u->path, "%s%s", *path == '/' ? "" : "/",
	    path) >= (int)sizeof u->path)
		return -1;
	return 0;
}

/*
 * Decodes the path part of a target into out and checks it is safe to map
 * onto a directory: no NUL, no encoded '/', no "." or ".." segment (decoded
 * or not), no backslash. Returns 0, or -1 for a path to refuse.
 */
int
http_path_decode(const char *target, char *out, size_t outlen)
{
	size_t	 plen = http_path_length(target), i, o = 0;
	int	 hi, lo;
	char	 c, *seg;

	if (plen == 0 || target[0] != '/')
		return -1;
	for (i = 0; i < plen; i++) {
		c = target[i];
		if (c == '%') {
			if (i + 2 >= plen)
				return -1;
			if ((hi = hexval(target[i + 1])) < 0 ||
			    (lo = hexval(target[i + 2])) < 0)
				return -1;
			c = (char)(hi << 4 | lo);
			if (c == '\0' || c == '/')
				return -1;
			i += 2;
		}
		if (c == '\\' || o + 1 >= outlen)
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	for (seg = out; seg != NULL; seg = strchr(seg + 1, '/')) {
		if (strncmp(seg, "/..", 3) == 0 && (seg[3] == '/' || seg[3] == '\0'))
			return -1;
		if (strncmp(seg, "/.", 2) == 0 && (seg[2] == '/' || seg[2] == '\0'))
			return -1;
	}
	return 0;
}
