/*
 * Flags spelled as websocketd spells them: --opt=value, --opt value, and the
 * single-dash forms Go's flag package accepts, so existing command lines keep
 * working. Parsing is pure (no I/O) so it can be unit-tested; errors come back
 * as one line of text for main to print.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "authparse.h"
#include "config.h"
#include "http.h"

const char config_usage[] =
"Usage: wsbridge [OPTIONS] COMMAND [ARGS...]\n"
"       wsbridge --connect=URL [OPTIONS] [COMMAND [ARGS...]]\n"
"Serve COMMAND over WebSocket: each connection runs it, stdin and stdout\n"
"wired to the socket. With --connect, be the client: bridge our own stdin\n"
"and stdout (or COMMAND) to URL and exit with the remote command's status.\n"
"\n"
"Options (--opt=value, --opt value, or -opt=value):\n"
"  --port=PORT            TCP port to listen on (default 80; 0 picks a free one)\n"
"  --address=ADDR         address to bind, repeatable; IPv6 in brackets [::1]\n"
"                         (default: every interface)\n"
"  --binary[=BOOL]        raw bytes both ways instead of one message per line\n"
"  --passenv=VAR[,VAR...] server environment variables the child may see\n"
"                         (default PATH,LD_LIBRARY_PATH)\n"
"  --closems=MS           grace after the child's stdin closes before SIGTERM,\n"
"                         and again before SIGKILL (default 1000)\n"
"  --pingms=MS            ping an idle client every MS ms (whole seconds);\n"
"                         one silent for two intervals is dropped (default 0: off)\n"
"  --queuesize=BYTES      bytes queued each way per session before reading\n"
"                         stops (default 262144, at least 65536)\n"
"  --maxframesize=BYTES   largest message accepted (close 1009 beyond), and\n"
"                         longest line sent before it is split (default 16 MiB)\n"
"  --unixsocket=PATH      also listen on a unix-domain socket (REMOTE_ADDR is\n"
"                         unix-socket)\n"
"  --uid=USER             after binding, run as USER (name or number)\n"
"  --gid=GROUP            after binding, run as GROUP (default: USER's group)\n"
"  --trusted-proxy=ADDR[,ADDR...]\n"
"                         take REMOTE_ADDR from X-Forwarded-For when the peer\n"
"                         is one of these proxies\n"
"  --metrics=PATH         serve Prometheus metrics over HTTP GET at PATH\n"
"  --basic-auth=FILE      every request needs a user and password from FILE\n"
"                         (user:hash lines: bcrypt, yescrypt or sha512crypt)\n"
"  --auth-realm=NAME      the realm a browser shows (default: COMMAND's name)\n"
"  --auth-header=NAME     take the user from header NAME, set by a\n"
"                         --trusted-proxy (refused from anyone else)\n"
"  --loglevel=LEVEL       debug, trace, access, info, error or fatal\n"
"                         (default access)\n"
"\n"
"HTTP side (as websocketd):\n"
"  --dir=DIR              the URL path picks a script in DIR to run (no COMMAND)\n"
"  --staticdir=DIR        serve the files in DIR over plain HTTP\n"
"  --cgidir=DIR           run CGI scripts in DIR over plain HTTP\n"
"  --devconsole           a page to talk to the endpoint from a browser\n"
"  --maxforks=N           at most N children at once; then HTTP 429 (default 0:\n"
"                         no limit)\n"
"  --origin=HOST[:PORT][,...]\n"
"                         only upgrade requests from these origins (else 403)\n"
"  --sameorigin           only upgrade requests whose Origin is the Host\n"
"  --header='NAME: VALUE' add to every response (client: to the request)\n"
"  --header-ws='NAME: VALUE'   add to WebSocket upgrade responses only\n"
"  --header-http='NAME: VALUE' add to plain HTTP responses only\n"
"  --redirport=PORT       also listen on PORT and redirect HTTP to --port\n"
"  --reverselookup        REMOTE_HOST from a reverse DNS lookup\n"
"  --passstderr           send stdout and stderr as JSON lines\n"
"                         {\"stream\":\"stdout\",\"data\":\"...\"} (not with --binary)\n"
"  --protocol=NAME        serve this subprotocol, repeatable; an upgrade that\n"
"                         offers only others gets 400 (client: offer it)\n"
"  --deflate              offer permessage-deflate compression\n"
"  --ssl                  TLS on the listening sockets (with --sslcert, --sslkey)\n"
"  --sslcert=FILE --sslkey=FILE   the server's certificate and key (PEM)\n"
"  --sslca=FILE           require client certificates signed by these CAs\n"
"\n"
"Client mode:\n"
"  --connect=URL          ws://HOST[:PORT]/PATH or wss://... to connect to\n"
"  --header='NAME: VALUE' add a request header, repeatable\n"
"  --origin=ORIGIN        send this Origin header\n"
"  --protocol=NAME        offer this subprotocol, repeatable\n"
"  --sslca=FILE           trust the CAs in FILE for wss:// (PEM)\n"
"  --sslcert=FILE         client certificate for wss:// (PEM)\n"
"  --sslkey=FILE          its private key (PEM)\n"
"  --insecure             do not verify the server's certificate\n"
"  --connect-timeout=SECS give up connecting after SECS (default 10)\n"
"  --password-file=FILE   the password for URL's user, from FILE's first line\n"
"                         (also: $WSBRIDGE_PASSWORD, or ws://USER:PASS@HOST)\n"
"  (--binary, --pingms, --maxframesize, --queuesize, --closems and\n"
"  --loglevel apply to client mode too; a client logs errors only unless\n"
"  --loglevel says otherwise)\n"
"\n"
"  --help                 show this help and exit\n"
"  --version              show the version and exit\n"
"  --license              show the license and exit\n"
"\n"
"A child that exits closes its WebSocket with 1000 (exit 0), 4000+N (exit N)\n"
"or 4128+S (killed by signal S). See wsbridge(1).\n";

enum flag_kind { FLAG_BOOL, FLAG_VALUE };

enum flag_id {
	F_PORT, F_ADDRESS, F_BINARY, F_PASSENV, F_CLOSEMS, F_PINGMS,
	F_MAXFRAMESIZE,
	F_LOGLEVEL, F_HELP, F_VERSION, F_LICENSE, F_UNIXSOCKET, F_UID, F_GID,
	F_TRUSTED_PROXY, F_METRICS, F_QUEUESIZE, F_CONNECT, F_HEADER, F_ORIGIN,
	F_PROTOCOL, F_SSLCA, F_SSLCERT, F_SSLKEY, F_INSECURE, F_CONNECT_TIMEOUT,
	F_DIR, F_STATICDIR, F_CGIDIR, F_DEVCONSOLE, F_MAXFORKS, F_SAMEORIGIN,
	F_HEADER_WS, F_HEADER_HTTP, F_REDIRPORT, F_REVERSELOOKUP, F_PASSSTDERR,
	F_DEFLATE, F_SSL, F_BASIC_AUTH, F_AUTH_REALM, F_AUTH_HEADER,
	F_PASSWORD_FILE,
};

static const struct flag {
	const char	*name;
	enum flag_id	 id;
	enum flag_kind	 kind;
} flags[] = {
	{ "port", F_PORT, FLAG_VALUE },
	{ "address", F_ADDRESS, FLAG_VALUE },
	{ "binary", F_BINARY, FLAG_BOOL },
	{ "passenv", F_PASSENV, FLAG_VALUE },
	{ "closems", F_CLOSEMS, FLAG_VALUE },
	{ "pingms", F_PINGMS, FLAG_VALUE },
	{ "maxframesize", F_MAXFRAMESIZE, FLAG_VALUE },
	{ "loglevel", F_LOGLEVEL, FLAG_VALUE },
	{ "help", F_HELP, FLAG_BOOL },
	{ "version", F_VERSION, FLAG_BOOL },
	{ "license", F_LICENSE, FLAG_BOOL },
	{ "unixsocket", F_UNIXSOCKET, FLAG_VALUE },
	{ "uid", F_UID, FLAG_VALUE },
	{ "gid", F_GID, FLAG_VALUE },
	{ "trusted-proxy", F_TRUSTED_PROXY, FLAG_VALUE },
	{ "metrics", F_METRICS, FLAG_VALUE },
	{ "queuesize", F_QUEUESIZE, FLAG_VALUE },
	{ "connect", F_CONNECT, FLAG_VALUE },
	{ "header", F_HEADER, FLAG_VALUE },
	{ "origin", F_ORIGIN, FLAG_VALUE },
	{ "protocol", F_PROTOCOL, FLAG_VALUE },
	{ "sslca", F_SSLCA, FLAG_VALUE },
	{ "sslcert", F_SSLCERT, FLAG_VALUE },
	{ "sslkey", F_SSLKEY, FLAG_VALUE },
	{ "insecure", F_INSECURE, FLAG_BOOL },
	{ "connect-timeout", F_CONNECT_TIMEOUT, FLAG_VALUE },
	{ "dir", F_DIR, FLAG_VALUE },
	{ "staticdir", F_STATICDIR, FLAG_VALUE },
	{ "cgidir", F_CGIDIR, FLAG_VALUE },
	{ "devconsole", F_DEVCONSOLE, FLAG_BOOL },
	{ "maxforks", F_MAXFORKS, FLAG_VALUE },
	{ "sameorigin", F_SAMEORIGIN, FLAG_BOOL },
	{ "header-ws", F_HEADER_WS, FLAG_VALUE },
	{ "header-http", F_HEADER_HTTP, FLAG_VALUE },
	{ "redirport", F_REDIRPORT, FLAG_VALUE },
	{ "reverselookup", F_REVERSELOOKUP, FLAG_BOOL },
	{ "passstderr", F_PASSSTDERR, FLAG_BOOL },
	{ "deflate", F_DEFLATE, FLAG_BOOL },
	{ "ssl", F_SSL, FLAG_BOOL },
	{ "basic-auth", F_BASIC_AUTH, FLAG_VALUE },
	{ "auth-realm", F_AUTH_REALM, FLAG_VALUE },
	{ "auth-header", F_AUTH_HEADER, FLAG_VALUE },
	{ "password-file", F_PASSWORD_FILE, FLAG_VALUE },
};

static const char *level_names[] = {
	"debug", "trace", "access", "info", "error", "fatal",
};

static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

int
config_parse_loglevel(const char *s, enum log_level *level)
{
	size_t	 i;

	for (i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
		if (strcasecmp(s, level_names[i]) == 0) {
			*level = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

const char *
config_loglevel_name(enum log_level level)
{
	return level_names[level];
}

static int
parse_bool(const char *s, bool *b)
{
	if (strcasecmp(s, "true") == 0 || strcmp(s, "1") == 0 ||
	    strcasecmp(s, "yes") == 0 || strcasecmp(s, "t") == 0) {
		*b = true;
		return 0;
	}
	if (strcasecmp(s, "false") == 0 || strcmp(s, "0") == 0 ||
	    strcasecmp(s, "no") == 0 || strcasecmp(s, "f") == 0) {
		*b = false;
		return 0;
	}
	return -1;
}

static int
parse_number(const char *s, unsigned long long max, unsigned long long *out)
{
	char			*end;
	unsigned long long	 v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return -1;
	*out = v;
	return 0;
}

/* "127.0.0.1", "[::1]" or "localhost"; brackets only around IPv6. */
static int
check_address(const char *a)
{
	size_t	 n = strlen(a);

	if (n == 0 || n > 255)
		return -1;
	if (a[0] == '[')
		return (n > 2 && a[n - 1] == ']' &&
		    strchr(a + 1, '[') == NULL) ? 0 : -1;
	return strpbrk(a, "[] /") == NULL ? 0 : -1;
}

static int
set_passenv(struct config *c, const char *list, char *err, size_t errlen)
{
	char	*s, *name, *save = NULL;
	size_t	 n = 0;

	free(c->passenv_buf);
	if ((c->passenv_buf = strdup(list)) == NULL)
		return fail(err, errlen, "out of memory");
	for (s = c->passenv_buf; (name = strtok_r(s, ",", &save)) != NULL;
	    s = NULL) {
		if (strchr(name, '=') != NULL)
			return fail(err, errlen,
			    "--passenv: '%s' is not a variable name", name);
		if (n == CONFIG_MAX_PASSENV)
			return fail(err, errlen, "--passenv: more than %d names",
			    CONFIG_MAX_PASSENV);
		c->passenv[n++] = name;
	}
	c->passenv[n] = NULL;
	return 0;
}

static int
set_proxies(struct config *c, const char *list, char *err, size_t errlen)
{
	unsigned char	 addr[16];
	char		*s, *a, *save = NULL;
	size_t		 n = 0;

	free(c->proxies_buf);
	if ((c->proxies_buf = strdup(list)) == NULL)
		return fail(err, errlen, "out of memory");
	for (s = c->proxies_buf; (a = strtok_r(s, ",", &save)) != NULL;
	    s = NULL) {
		if (inet_pton(AF_INET, a, addr) != 1 &&
		    inet_pton(AF_INET6, a, addr) != 1)
			return fail(err, errlen, "--trusted-proxy: '%s' is not "
			    "an IP address", a);
		if (n == CONFIG_MAX_PROXIES)
			return fail(err, errlen, "--trusted-proxy: more than %d "
			    "addresses", CONFIG_MAX_PROXIES);
		c->proxies[n++] = a;
	}
	c->proxies[n] = NULL;
	return 0;
}

static bool
is_directory(const char *path)
{
	struct stat	 st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* "host[:port]" entries, or with a scheme: "https://host[:port]". */
static int
set_origins(struct config *c, char *err, size_t errlen)
{
	char	*s, *o, *save = NULL;
	size_t	 n = 0;

	if ((c->origins_buf = strdup(c->origin)) == NULL)
		return fail(err, errlen, "out of memory");
	for (s = c->origins_buf; (o = strtok_r(s, ", ", &save)) != NULL;
	    s = NULL) {
		if (n == CONFIG_MAX_HEADERS)
			return fail(err, errlen, "--origin: more than %d "
			    "entries", CONFIG_MAX_HEADERS);
		c->origins[n++] = o;
	}
	c->origins[n] = NULL;
	if (n == 0)
		return fail(err, errlen, "--origin: no origins listed");
	return 0;
}

/* "Name: value" with a token for a name and no line breaks. */
static bool
header_line_ok(const char *v)
{
	const char	*colon = strchr(v, ':'), *p;

	if (colon == NULL || colon == v || strpbrk(v, "\r\n") != NULL)
		return false;
	for (p = v; p < colon; p++) {
		if ((unsigned char)*p <= 32 || (unsigned char)*p >= 127 ||
		    strchr("()<>@,;:\\\"/[]?={}", *p) != NULL)
			return false;
	}
	return true;
}

/* A header name: an RFC 9110 token. */
static bool
token_ok(const char *v)
{
	if (*v == '\0')
		return false;
	for (; *v != '\0'; v++) {
		if ((unsigned char)*v <= 32 || (unsigned char)*v >= 127 ||
		    strchr("()<>@,;:\\\"/[]?={}", *v) != NULL)
			return false;
	}
	return true;
}

/* What goes between the quotes of realm="...": no quote, no control. */
static bool
realm_ok(const char *v)
{
	if (*v == '\0' || strlen(v) > 100)
		return false;
	for (; *v != '\0'; v++) {
		if ((unsigned char)*v < 32 || (unsigned char)*v == 127 ||
		    *v == '"' || *v == '\\')
			return false;
	}
	return true;
}

static int
apply_flag(struct config *c, const struct flag *f, const char *v, char *err,
    size_t errlen)
{
	struct url		 u;
	unsigned long long	 n;
	bool			 b = true;

	if (f->kind == FLAG_BOOL && v != NULL && parse_bool(v, &b) != 0)
		return fail(err, errlen, "--%s: '%s' is not true or false",
		    f->name, v);
	switch (f->id) {
	case F_PORT:
		if (parse_number(v, 65535, &n) != 0)
			return fail(err, errlen,
			    "--port: '%s' is not a port number (0-65535)", v);
		c->port = (int)n;
		c->port_given = true;
		break;
	case F_ADDRESS:
		if (check_address(v) != 0)
			return fail(err, errlen, "--address: '%s' is not an "
			    "address (IPv6 goes in brackets: [::1])", v);
		if (c->naddresses == CONFIG_MAX_ADDRESSES)
			return fail(err, errlen, "--address: more than %d given",
			    CONFIG_MAX_ADDRESSES);
		c->addresses[c->naddresses++] = (char *)v;
		break;
	case F_BINARY:
		c->binary = b;
		break;
	case F_PASSENV:
		c->passenv_given = true;
		return set_passenv(c, v, err, errlen);
	case F_CLOSEMS:
		if (parse_number(v, 3600000, &n) != 0)
			return fail(err, errlen, "--closems: '%s' is not a number "
			    "of milliseconds (0-3600000)", v);
		c->closems = (unsigned)n;
		break;
	case F_PINGMS:
		if (parse_number(v, 3600000, &n) != 0)
			return fail(err, errlen, "--pingms: '%s' is not a number "
			    "of milliseconds (0-3600000)", v);
		c->ping_ms = (unsigned)n;
		break;
	case F_MAXFRAMESIZE:
		if (parse_number(v, 1ULL << 30, &n) != 0 || n == 0)
			return fail(err, errlen, "--maxframesize: '%s' is not a "
			    "size in bytes (1-1073741824)", v);
		c->max_message = (size_t)n;
		break;
	case F_LOGLEVEL:
		if (config_parse_loglevel(v, &c->loglevel) != 0)
			return fail(err, errlen, "--loglevel: '%s' is not one of "
			    "debug, trace, access, info, error, fatal", v);
		c->loglevel_given = true;
		break;
	case F_HELP:
		if (b)
			c->action = ACTION_HELP;
		break;
	case F_VERSION:
		if (b && c->action == ACTION_SERVE)
			c->action = ACTION_VERSION;
		break;
	case F_LICENSE:
		if (b && c->action == ACTION_SERVE)
			c->action = ACTION_LICENSE;
		break;
	case F_UNIXSOCKET:
		if (*v == '\0' || strlen(v) >= 108)
			return fail(err, errlen, "--unixsocket: '%s' is not a "
			    "socket path (1-107 bytes)", v);
		c->unixsocket = v;
		break;
	case F_UID:
	case F_GID:
		if (*v == '\0' || strchr(v, ':') != NULL)
			return fail(err, errlen, "--%s: '%s' is not a %s name "
			    "or number", f->name, v, f->id == F_UID ? "user" :
			    "group");
		if (f->id == F_UID)
			c->uid = v;
		else
			c->gid = v;
		break;
	case F_TRUSTED_PROXY:
		return set_proxies(c, v, err, errlen);
	case F_QUEUESIZE:
		if (parse_number(v, 1ULL << 30, &n) != 0 || n < 65536)
			return fail(err, errlen, "--queuesize: '%s' is not a "
			    "size in bytes (65536-1073741824)", v);
		c->queue_limit = (size_t)n;
		break;
	case F_CONNECT:
		if (url_parse(v, &u) != 0)
			return fail(err, errlen, "--connect: '%s' is not a "
			    "ws:// or wss:// URL", v);
		c->connect_url = v;
		break;
	case F_HEADER:
	case F_HEADER_WS:
	case F_HEADER_HTTP:
		if (!header_line_ok(v))
			return fail(err, errlen, "--%s: '%s' is not "
			    "'Name: value'", f->name, v);
		if (c->nheaders == CONFIG_MAX_HEADERS)
			return fail(err, errlen, "--%s: more than %d headers",
			    f->name, CONFIG_MAX_HEADERS);
		c->header_kinds[c->nheaders] = f->id == F_HEADER ? HEADER_ALL :
		    f->id == F_HEADER_WS ? HEADER_WS : HEADER_HTTP;
		c->headers[c->nheaders++] = v;
		break;
	case F_DIR:
	case F_STATICDIR:
	case F_CGIDIR:
		if (!is_directory(v))
			return fail(err, errlen, "--%s: '%s' is not a directory",
			    f->name, v);
		*(f->id == F_DIR ? &c->dir : f->id == F_STATICDIR ?
		    &c->staticdir : &c->cgidir) = v;
		break;
	case F_DEVCONSOLE:
		c->devconsole = b;
		break;
	case F_MAXFORKS:
		if (parse_number(v, 1000000, &n) != 0)
			return fail(err, errlen, "--maxforks: '%s' is not a "
			    "number (0 for no limit)", v);
		c->maxforks = (unsigned)n;
		break;
	case F_SAMEORIGIN:
		c->sameorigin = b;
		break;
	case F_REDIRPORT:
		if (parse_number(v, 65535, &n) != 0 || n == 0)
			return fail(err, errlen, "--redirport: '%s' is not a "
			    "port number (1-65535)", v);
		c->redirport = (int)n;
		break;
	case F_REVERSELOOKUP:
		c->reverselookup = b;
		break;
	case F_PASSSTDERR:
		c->passstderr = b;
		break;
	case F_DEFLATE:
		c->deflate = b;
		break;
	case F_SSL:
		c->ssl = b;
		break;
	case F_ORIGIN:
		if (*v == '\0' || strpbrk(v, "\r\n") != NULL)
			return fail(err, errlen, "--origin: '%s' is not an "
			    "origin", v);
		c->origin = v;
		break;
	case F_PROTOCOL:
		if (*v == '\0' || strpbrk(v, " ,;\t\r\n\"") != NULL)
			return fail(err, errlen, "--protocol: '%s' is not a "
			    "subprotocol name", v);
		if (c->nprotocols == CONFIG_MAX_PROTOCOLS)
			return fail(err, errlen, "--protocol: more than %d "
			    "given", CONFIG_MAX_PROTOCOLS);
		c->protocols[c->nprotocols++] = v;
		break;
	case F_SSLCA:
	case F_SSLCERT:
	case F_SSLKEY:
		if (access(v, R_OK) != 0)
			return fail(err, errlen, "--%s: '%s': %s", f->name, v,
			    strerror(errno));
		*(f->id == F_SSLCA ? &c->sslca : f->id == F_SSLCERT ?
		    &c->sslcert : &c->sslkey) = v;
		break;
	case F_INSECURE:
		c->insecure = b;
		break;
	case F_CONNECT_TIMEOUT:
		if (parse_number(v, 3600, &n) != 0 || n == 0)
			return fail(err, errlen, "--connect-timeout: '%s' is "
			    "not a number of seconds (1-3600)", v);
		c->connect_timeout = (unsigned)n;
		c->connect_timeout_given = true;
		break;
	case F_BASIC_AUTH:
	case F_PASSWORD_FILE:
		/* Read at start-up, where what is wrong is said by line. */
		if (*v == '\0')
			return fail(err, errlen, "--%s needs a file name",
			    f->name);
		*(f->id == F_BASIC_AUTH ? &c->basic_auth :
		    &c->password_file) = v;
		break;
	case F_AUTH_REALM:
		if (!realm_ok(v))
			/* Not echoed: it may hold a line break. */
			return fail(err, errlen, "--auth-realm: not a realm "
			    "(1-100 bytes, no quotes, backslashes or control "
			    "bytes)");
		c->auth_realm = v;
		break;
	case F_AUTH_HEADER:
		if (!token_ok(v) || strcasecmp(v, "Authorization") == 0)
			return fail(err, errlen, "--auth-header: '%s' is not "
			    "a header name (nor Authorization)", v);
		c->auth_header = v;
		break;
	case F_METRICS:
		if (*v != '/' || strchr(v, '?') != NULL || strchr(v, ' '))
			return fail(err, errlen, "--metrics: '%s' is not a URL "
			    "path (it starts with /)", v);
		c->metrics_path = v;
		break;
	}
	return 0;
}

static const struct flag *
find_flag(const char *name, size_t len)
{
	size_t	 i;

	for (i = 0; i < sizeof flags / sizeof flags[0]; i++) {
		if (strlen(flags[i].name) == len &&
		    strncmp(flags[i].name, name, len) == 0)
			return &flags[i];
	}
	return NULL;
}

static void
set_defaults(struct config *c)
{
	memset(c, 0, sizeof *c);
	c->action = ACTION_SERVE;
	c->port = 80;
	c->closems = 1000;
	c->max_message = 16 * 1024 * 1024;
	c->queue_limit = 256 * 1024;
	c->loglevel = LL_ACCESS;
	c->connect_timeout = 10;
}

/* Flags that mean one thing to a client and are not (yet) server flags. */
static int
check_server_flags(struct config *c, char **command, char *err, size_t errlen)
{
	size_t	 i;

	if (command == NULL && c->dir == NULL)
		return fail(err, errlen, "no COMMAND given (see --help)");
	if (command != NULL && c->dir != NULL)
		return fail(err, errlen, "--dir picks the command from the URL: "
		    "give --dir or a COMMAND, not both");
	c->command = command;
	if (c->devconsole && (c->staticdir != NULL || c->cgidir != NULL))
		return fail(err, errlen, "--devconsole cannot be combined with "
		    "--staticdir or --cgidir");
	if (c->passstderr && c->binary)
		return fail(err, errlen, "--passstderr sends JSON lines: it "
		    "cannot be combined with --binary");
	if (c->insecure || c->connect_timeout_given)
		return fail(err, errlen, "--insecure and --connect-timeout are "
		    "client options: use them with --connect");
	if (c->ssl && (c->sslcert == NULL || c->sslkey == NULL))
		return fail(err, errlen, "--ssl needs --sslcert and --sslkey");
	if (!c->ssl && (c->sslcert != NULL || c->sslkey != NULL ||
	    c->sslca != NULL))
		return fail(err, errlen, "--sslcert, --sslkey and --sslca need "
		    "--ssl");
	if (c->auth_realm != NULL && c->basic_auth == NULL)
		return fail(err, errlen, "--auth-realm needs --basic-auth");
	if (c->auth_header != NULL && c->proxies[0] == NULL)
		return fail(err, errlen, "--auth-header needs --trusted-proxy: "
		    "only a proxy's word is taken");
	if (c->password_file != NULL)
		return fail(err, errlen, "--password-file is a client option: "
		    "use it with --connect");
	if (c->redirport != 0 && c->redirport == c->port)
		return fail(err, errlen, "--redirport must differ from --port");
	if (c->origin != NULL && set_origins(c, err, errlen) != 0)
		return -1;
	for (i = 0; i < c->nheaders; i++) {
		if (strncasecmp(c->headers[i], "content-length:", 15) == 0 ||
		    strncasecmp(c->headers[i], "connection:", 11) == 0)
			return fail(err, errlen, "--header: '%s' would break "
			    "the response", c->headers[i]);
	}
	return 0;
}

static int
check_client_flags(struct config *c, char *err, size_t errlen)
{
	if (c->passenv_given)
		return fail(err, errlen, "--passenv is a server option: a "
		    "client's command runs with wsbridge's own environment");
	if (c->naddresses > 0 || c->port_given || c->unixsocket != NULL ||
	    c->uid != NULL || c->gid != NULL || c->proxies[0] != NULL ||
	    c->metrics_path != NULL)
		return fail(err, errlen, "--connect is a client: --port, "
		    "--address, --unixsocket, --uid, --gid, --trusted-proxy "
		    "and --metrics are server options");
	if (c->basic_auth != NULL || c->auth_realm != NULL ||
	    c->auth_header != NULL)
		return fail(err, errlen, "--connect is a client: --basic-auth, "
		    "--auth-realm and --auth-header are server options (a "
		    "client's user goes in the URL)");
	if (c->dir != NULL || c->staticdir != NULL || c->cgidir != NULL ||
	    c->devconsole || c->maxforks > 0 || c->sameorigin ||
	    c->redirport != 0 || c->reverselookup || c->passstderr ||
	    c->deflate || c->ssl)
		return fail(err, errlen, "--connect is a client: --dir, "
		    "--staticdir, --cgidir, --devconsole, --maxforks, "
		    "--sameorigin, --redirport, --reverselookup, --passstderr, "
		    "--deflate and --ssl are server options");
	for (size_t i = 0; i < c->nheaders; i++) {
		if (c->header_kinds[i] != HEADER_ALL)
			return fail(err, errlen, "--header-ws and --header-http "
			    "are server options; a client sends --header");
	}
	if ((c->sslcert == NULL) != (c->sslkey == NULL))
		return fail(err, errlen, "--sslcert and --sslkey go together");
	/* In a pipeline, only trouble belongs on stderr. */
	if (!c->loglevel_given)
		c->loglevel = LL_ERROR;
	return 0;
}

/*
 * Parses argv. Returns 0 and fills c, or -1 with one line in err. The
 * strings c points to live in argv, which outlives the config.
 */
int
config_parse(struct config *c, int argc, char **argv, char *err, size_t errlen)
{
	const struct flag	*f;
	const char		*arg, *name, *eq, *value;
	int			 i;

	set_defaults(c);
	if (set_passenv(c, "PATH,LD_LIBRARY_PATH", err, errlen) != 0)
		return -1;
	for (i = 1; i < argc; i++) {
		arg = argv[i];
		if (strcmp(arg, "--") == 0) {
			i++;
			break;
		}
		if (arg[0] != '-' || arg[1] == '\0')
			break;
		name = arg + (arg[1] == '-' ? 2 : 1);
		eq = strchr(name, '=');
		f = find_flag(name, eq ? (size_t)(eq - name) : strlen(name));
		if (f == NULL)
			return fail(err, errlen, "unknown option '%.*s' "
			    "(see --help)", eq ? (int)(eq - arg) : (int)strlen(arg),
			    arg);
		value = eq ? eq + 1 : NULL;
		if (f->kind == FLAG_VALUE && value == NULL) {
			if (i + 1 >= argc)
				return fail(err, errlen, "--%s needs a value",
				    f->name);
			value = argv[++i];
		}
		if (apply_flag(c, f, value, err, errlen) != 0)
			return -1;
	}
	if (c->action != ACTION_SERVE)
		return 0;
	if (c->connect_url == NULL)
		return check_server_flags(c, i >= argc ? NULL : &argv[i], err,
		    errlen);
	/* A client bridges our own stdin and stdout unless given a command. */
	c->command = i < argc ? &argv[i] : NULL;
	return check_client_flags(c, err, errlen);
}

/*
 * Finds the command the way execvp would, once at start-up, so a typo is
 * reported before anything listens rather than at every connection.
 */
int
config_resolve_command(struct config *c, const char *path_env, char *err,
    size_t errlen)
{
	const char	*cmd = c->command[0], *p, *end;
	char		 buf[PATH_MAX];
	struct stat	 st;
	int		 saw_file = 0;

	if (strchr(cmd, '/') != NULL) {
		if (stat(cmd, &st) != 0)
			return fail(err, errlen, "command '%s': %s", cmd,
			    strerror(errno));
		if (!S_ISREG(st.st_mode) || access(cmd, X_OK) != 0)
			return fail(err, errlen, "command '%s': not an "
			    "executable file", cmd);
		return (c->command_path = strdup(cmd)) ? 0 :
		    fail(err, errlen, "out of memory");
	}
	if (path_env == NULL || *path_env == '\0')
		path_env = "/usr/local/bin:/usr/bin:/bin";
	for (p = path_env; ; p = end + 1) {
		end = strchr(p, ':');
		if (end == NULL)
			end = p + strlen(p);
		/* An empty PATH entry means the current directory. */
		if (end == p)
			snprintf(buf, sizeof buf, "./%s", cmd);
		else
			snprintf(buf, sizeof buf, "%.*s/%s", (int)(end - p), p,
			    cmd);
		if (stat(buf, &st) == 0 && S_ISREG(st.st_mode)) {
			if (access(buf, X_OK) == 0)
				return (c->command_path = strdup(buf)) ? 0 :
				    fail(err, errlen, "out of memory");
			saw_file = 1;
		}
		if (*end == '\0')
			break;
	}
	return fail(err, errlen, "command '%s': %s", cmd, saw_file ?
	    "not executable" : "not found in PATH");
}

/* The URL as logs and messages may show it: no user information. */
static int
set_connect_shown(struct config *c)
{
	const char	*host = strstr(c->connect_url, "://") + 3;
	const char	*end = host + strcspn(host, "/?#"), *at;

	at = memrchr(host, '@', (size_t)(end - host));
	if (asprintf(&c->connect_shown, "%.*s%s",
	    (int)(host - c->connect_url), c->connect_url,
	    at != NULL ? at + 1 : host) == -1) {
		c->connect_shown = NULL;
		return -1;
	}
	return 0;
}

/*
 * A client's Basic credentials: the user from --connect's URL, the
 * password from the URL, else --password-file's first line (file_pw,
 * read by the caller), else $WSBRIDGE_PASSWORD (env_pw). They become one
 * more request header, which net.c sends with the --header ones.
 */
int
config_client_credentials(struct config *c, const char *env_pw,
    const char *file_pw, char *err, size_t errlen)
{
	struct url	 u;
	const char	*pw;
	char		 value[8 + (AUTH_USER_MAX + AUTH_PASS_MAX + 4) / 3 * 4];
	size_t		 i;
	int		 rc = -1;

	if (url_parse(c->connect_url, &u) != 0 || set_connect_shown(c) != 0)
		return fail(err, errlen, "--connect: '%s' is not a ws:// or "
		    "wss:// URL", c->connect_url);
	if (u.user[0] == '\0') {
		if (c->password_file != NULL)
			return fail(err, errlen, "--password-file needs a user "
			    "in the URL (ws://user@host/)");
		return 0;
	}
	for (i = 0; i < c->nheaders; i++) {
		if (strncasecmp(c->headers[i], "authorization:", 14) == 0)
			return fail(err, errlen, "--header: Authorization is "
			    "made from the URL's user: give one of them");
	}
	if (u.has_pass && file_pw != NULL) {
		rc = fail(err, errlen, "--connect's URL has a password: "
		    "--password-file is one too many");
		goto out;
	}
	pw = u.has_pass ? u.pass : file_pw != NULL ? file_pw : env_pw;
	if (pw == NULL) {
		rc = fail(err, errlen, "no password for user '%s': give "
		    "--password-file or set WSBRIDGE_PASSWORD", u.user);
		goto out;
	}
	if (strlen(pw) > AUTH_PASS_MAX ||
	    auth_basic_encode(u.user, pw, value, sizeof value) != 0) {
		rc = fail(err, errlen, "the password is longer than %d bytes",
		    AUTH_PASS_MAX);
		goto out;
	}
	if (c->nheaders == CONFIG_MAX_HEADERS) {
		rc = fail(err, errlen, "--header: more than %d headers with "
		    "the Authorization one", CONFIG_MAX_HEADERS - 1);
		goto out;
	}
	if (asprintf(&c->auth_line, "Authorization: %s", value) == -1) {
		c->auth_line = NULL;
		rc = fail(err, errlen, "out of memory");
		goto out;
	}
	c->header_kinds[c->nheaders] = HEADER_ALL;
	c->headers[c->nheaders++] = c->auth_line;
	rc = 0;
out:
	explicit_bzero(&u, sizeof u);
	explicit_bzero(value, sizeof value);
	return rc;
}

void
config_free(struct config *c)
{
	if (c->auth_line != NULL)
		explicit_bzero(c->auth_line, strlen(c->auth_line));
	free(c->auth_line);
	free(c->connect_shown);
	c->auth_line = NULL;
	c->connect_shown = NULL;
	free(c->passenv_buf);
	free(c->proxies_buf);
	free(c->origins_buf);
	free(c->command_path);
	c->passenv_buf = NULL;
	c->proxies_buf = NULL;
	c->origins_buf = NULL;
	c->command_path = NULL;
}
