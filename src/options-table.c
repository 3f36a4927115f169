/*
 * The table of command-line options (options.h says what a row holds), and
 * the checks and parsers its rows point to. Adding a flag is a row here, a
 * field in struct config and, for a value no generic kind fits, a function
 * above the table.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "http.h"
#include "options.h"

/* The field of struct config a row stores into. */
#define FIELD(f)	.offset = offsetof(struct config, f), \
			.size = sizeof(((struct config *)NULL)->f)

static const char *const log_levels[] = {
	"debug", "trace", "access", "info", "error", "fatal", NULL,
};

int
config_parse_loglevel(const char *s, enum log_level *level)
{
	size_t	 i;

	for (i = 0; log_levels[i] != NULL; i++) {
		if (strcasecmp(s, log_levels[i]) == 0) {
			*level = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

const char *
config_loglevel_name(enum log_level level)
{
	return log_levels[level];
}

/* The common message: "--uid: 'a:b' is not a user name or number". */
static int
not_a(const struct option_entry *o, const char *v, char *err, size_t errlen)
{
	return options_error(err, errlen, "--%s: '%s' is not %s", o->name, v,
	    o->what);
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

/* "127.0.0.1", "[::1]" or "localhost"; brackets only around IPv6. */
static bool
address_ok(const char *a)
{
	size_t	 n = strlen(a);

	if (n == 0 || n > 255)
		return false;
	if (a[0] == '[')
		return n > 2 && a[n - 1] == ']' && strchr(a + 1, '[') == NULL;
	return strpbrk(a, "[] /") == NULL;
}

/* A sockaddr_un's sun_path holds 107 bytes and the NUL. */
static int
check_socket_path(const struct option_entry *o, const char *v, char *err,
    size_t errlen)
{
	return *v == '\0' || strlen(v) >= 108 ? not_a(o, v, err, errlen) : 0;
}

/* Looked up after binding; ':' would read as user:group elsewhere. */
static int
check_account(const struct option_entry *o, const char *v, char *err,
    size_t errlen)
{
	return *v == '\0' || strchr(v, ':') != NULL ?
	    not_a(o, v, err, errlen) : 0;
}

static int
check_url_path(const struct option_entry *o, const char *v, char *err,
    size_t errlen)
{
	return *v != '/' || strpbrk(v, "? ") != NULL ?
	    not_a(o, v, err, errlen) : 0;
}

static int
check_ws_url(const struct option_entry *o, const char *v, char *err,
    size_t errlen)
{
	struct url	 u;

	return url_parse(v, &u) != 0 ? not_a(o, v, err, errlen) : 0;
}

/* Split into a list later, for a server only: a client sends it as is. */
static int
check_origin(const struct option_entry *o, const char *v, char *err,
    size_t errlen)
{
	return *v == '\0' || strpbrk(v, "\r\n") != NULL ?
	    not_a(o, v, err, errlen) : 0;
}

/* What goes between the quotes of realm="...": no quote, no control. */
static int
check_realm(const struct option_entry *o, const char *v, char *err,
    size_t errlen)
{
	const char	*p;

	for (p = v; *p != '\0'; p++) {
		if ((unsigned char)*p < 32 || (unsigned char)*p == 127 ||
		    *p == '"' || *p == '\\')
			break;
	}
	if (*v != '\0' && *p == '\0' && strlen(v) <= 100)
		return 0;
	/* Not echoed: it may hold a line break. */
	return options_error(err, errlen, "--%s: not a realm (1-100 bytes, no "
	    "quotes, backslashes or control bytes)", o->name);
}

static int
check_header_name(const struct option_entry *o, const char *v, char *err,
    size_t errlen)
{
	return !token_ok(v) || strcasecmp(v, "Authorization") == 0 ?
	    not_a(o, v, err, errlen) : 0;
}

/* Read at start-up, where what is wrong is said by line. */
static int
check_file_name(const struct option_entry *o, const char *v, char *err,
    size_t errlen)
{
	if (*v == '\0')
		return options_error(err, errlen, "--%s needs a file name",
		    o->name);
	return 0;
}

static int
check_readable(const struct option_entry *o, const char *v, char *err,
    size_t errlen)
{
	if (access(v, R_OK) != 0)
		return options_error(err, errlen, "--%s: '%s': %s", o->name, v,
		    strerror(errno));
	return 0;
}

static int
check_directory(const struct option_entry *o, const char *v, char *err,
    size_t errlen)
{
	struct stat	 st;

	return stat(v, &st) != 0 || !S_ISDIR(st.st_mode) ?
	    not_a(o, v, err, errlen) : 0;
}

static int
parse_address(struct config *c, const struct option_entry *o, const char *v,
    char *err, size_t errlen)
{
	if (!address_ok(v))
		return options_error(err, errlen, "--%s: '%s' is not an "
		    "address (IPv6 goes in brackets: [::1])", o->name, v);
	if (c->naddresses == CONFIG_MAX_ADDRESSES)
		return options_error(err, errlen, "--%s: more than %d given",
		    o->name, CONFIG_MAX_ADDRESSES);
	c->addresses[c->naddresses++] = v;
	return 0;
}

/* A later --passenv replaces the list, the default's too. */
static int
parse_passenv(struct config *c, const struct option_entry *o, const char *v,
    char *err, size_t errlen)
{
	char	*s, *name, *save = NULL;
	size_t	 n = 0;

	free(c->passenv_buf);
	if ((c->passenv_buf = strdup(v)) == NULL)
		return options_error(err, errlen, "out of memory");
	for (s = c->passenv_buf; (name = strtok_r(s, ",", &save)) != NULL;
	    s = NULL) {
		if (strchr(name, '=') != NULL)
			return options_error(err, errlen,
			    "--%s: '%s' is not a variable name", o->name, name);
		if (n == CONFIG_MAX_PASSENV)
			return options_error(err, errlen, "--%s: more than %d "
			    "names", o->name, CONFIG_MAX_PASSENV);
		c->passenv[n++] = name;
	}
	c->passenv[n] = NULL;
	return 0;
}

static int
parse_proxies(struct config *c, const struct option_entry *o, const char *v,
    char *err, size_t errlen)
{
	unsigned char	 addr[16];
	char		*s, *a, *save = NULL;
	size_t		 n = 0;

	free(c->proxies_buf);
	if ((c->proxies_buf = strdup(v)) == NULL)
		return options_error(err, errlen, "out of memory");
	for (s = c->proxies_buf; (a = strtok_r(s, ",", &save)) != NULL;
	    s = NULL) {
		if (inet_pton(AF_INET, a, addr) != 1 &&
		    inet_pton(AF_INET6, a, addr) != 1)
			return options_error(err, errlen, "--%s: '%s' is not "
			    "an IP address", o->name, a);
		if (n == CONFIG_MAX_PROXIES)
			return options_error(err, errlen, "--%s: more than %d "
			    "addresses", o->name, CONFIG_MAX_PROXIES);
		c->proxies[n++] = a;
	}
	c->proxies[n] = NULL;
	/* An empty list trusts no one: as if the flag were not given. */
	if (n == 0)
		options_forget(c, o);
	return 0;
}

/* --header, --header-ws and --header-http fill one list, each kind marked. */
static int
parse_header(struct config *c, const struct option_entry *o, const char *v,
    char *err, size_t errlen)
{
	if (!header_line_ok(v))
		return options_error(err, errlen, "--%s: '%s' is not "
		    "'Name: value'", o->name, v);
	if (c->nheaders == CONFIG_MAX_HEADERS)
		return options_error(err, errlen, "--%s: more than %d headers",
		    o->name, CONFIG_MAX_HEADERS);
	if (strcmp(o->name, "header-ws") == 0)
		c->header_kinds[c->nheaders] = HEADER_WS;
	else if (strcmp(o->name, "header-http") == 0)
		c->header_kinds[c->nheaders] = HEADER_HTTP;
	else
		c->header_kinds[c->nheaders] = HEADER_ALL;
	c->headers[c->nheaders++] = v;
	return 0;
}

static int
parse_protocol(struct config *c, const struct option_entry *o, const char *v,
    char *err, size_t errlen)
{
	if (*v == '\0' || strpbrk(v, " ,;\t\r\n\"") != NULL)
		return options_error(err, errlen, "--%s: '%s' is not a "
		    "subprotocol name", o->name, v);
	if (c->nprotocols == CONFIG_MAX_PROTOCOLS)
		return options_error(err, errlen, "--%s: more than %d given",
		    o->name, CONFIG_MAX_PROTOCOLS);
	c->protocols[c->nprotocols++] = v;
	return 0;
}

/* --help wins over --version and --license; of those, the first given. */
static int
parse_action(struct config *c, const struct option_entry *o, const char *v,
    char *err, size_t errlen)
{
	bool	 b;

	if (options_bool(o, v, &b, err, errlen) != 0)
		return -1;
	if (!b)
		return 0;
	if (strcmp(o->name, "help") == 0)
		c->action = ACTION_HELP;
	else if (c->action == ACTION_SERVE)
		c->action = strcmp(o->name, "version") == 0 ? ACTION_VERSION :
		    ACTION_LICENSE;
	return 0;
}

/*
 * In --help order: the main options, the HTTP side, the client's own, then
 * the informational ones. --connect comes first: it picks the mode, and
 * the client section of --help lists rows in table order.
 */
const struct option_entry options_table[] = {
	{ .name = "connect", .kind = OPTION_STRING, .mode = OPTION_CLIENT,
	  .group = OPTION_GROUP_CLIENT, FIELD(connect_url),
	  .check = check_ws_url, .what = "a ws:// or wss:// URL",
	  .arg = "=URL",
	  .help = "ws://HOST[:PORT]/PATH or wss://... to connect to" },

	{ .name = "port", .kind = OPTION_NUMBER, .mode = OPTION_SERVER,
	  .group = OPTION_GROUP_MAIN, .refusal = REFUSE_LISTEN, FIELD(port),
	  .minimum = 0, .maximum = 65535, .default_number = 80,
	  .what = "a port number", .arg = "=PORT",
	  .help = "TCP port to listen on (default 80; 0 picks a free one)" },
	{ .name = "address", .kind = OPTION_CUSTOM, .mode = OPTION_SERVER,
	  .group = OPTION_GROUP_MAIN, .refusal = REFUSE_LISTEN,
	  .parse = parse_address, .arg = "=ADDR",
	  .help = "address to bind, repeatable; IPv6 in brackets [::1]\n"
	  "(default: every interface)" },
	{ .name = "binary", .kind = OPTION_FLAG, .mode = OPTION_BOTH,
	  .group = OPTION_GROUP_MAIN, FIELD(binary), .arg = "[=BOOL]",
	  .help = "raw bytes both ways instead of one message per line" },
	{ .name = "unbuffer", .kind = OPTION_FLAG, .mode = OPTION_SERVER,
	  .group = OPTION_GROUP_MAIN, .refusal = REFUSE_ALONE,
	  FIELD(unbuffer), .arg = "[=BOOL]",
	  .help = "the command's stdout is a terminal (in raw mode), so\n"
	  "that it writes each line at once instead of buffering" },
	{ .name = "pty", .kind = OPTION_FLAG, .mode = OPTION_BOTH,
	  .group = OPTION_GROUP_MAIN, .refusal = REFUSE_ALONE, FIELD(pty),
	  .arg = "[=BOOL]",
	  .help = "run the command on a terminal of its own (bash, vim):\n"
	  "bytes both ways, resized by ?cols=N&rows=M or by the\n"
	  "wsbridge.pty subprotocol's messages (implies --binary)",
	  .client_help = "a terminal client: our terminal in raw mode, its\n"
	  "size sent, keys as they are, the remote status (needs\n"
	  "a --pty server; implies --binary)" },
	{ .name = "passenv", .kind = OPTION_CUSTOM, .mode = OPTION_SERVER,
	  .group = OPTION_GROUP_MAIN, .refusal = REFUSE_ENV,
	  .parse = parse_passenv, .default_string = "PATH,LD_LIBRARY_PATH",
	  .arg = "=VAR[,VAR...]",
	  .help = "server environment variables the child may see\n"
	  "(default PATH,LD_LIBRARY_PATH)" },
	{ .name = "closems", .kind = OPTION_NUMBER, .mode = OPTION_BOTH,
	  .group = OPTION_GROUP_MAIN, FIELD(closems),
	  .minimum = 0, .maximum = 3600000, .default_number = 1000,
	  .what = "a number of milliseconds", .arg = "=MS",
	  .help = "grace after the child's stdin closes before SIGTERM,\n"
	  "and again before SIGKILL (default 1000)" },
	{ .name = "pingms", .kind = OPTION_NUMBER, .mode = OPTION_BOTH,
	  .group = OPTION_GROUP_MAIN, FIELD(ping_ms),
	  .minimum = 0, .maximum = 3600000, .default_number = 0,
	  .what = "a number of milliseconds", .arg = "=MS",
	  .help = "ping an idle client every MS ms (whole seconds);\n"
	  "one silent for two intervals is dropped (default 0: off)" },
	{ .name = "queuesize", .kind = OPTION_NUMBER, .mode = OPTION_BOTH,
	  .group = OPTION_GROUP_MAIN, FIELD(queue_limit),
	  .minimum = 65536, .maximum = 1ULL << 30, .default_number = 256 * 1024,
	  .what = "a size in bytes", .arg = "=BYTES",
	  .help = "bytes queued each way per session before reading\n"
	  "stops (default 262144, at least 65536)" },
	{ .name = "maxframesize", .kind = OPTION_NUMBER, .mode = OPTION_BOTH,
	  .group = OPTION_GROUP_MAIN, FIELD(max_message),
	  .minimum = 1, .maximum = 1ULL << 30,
	  .default_number = 16 * 1024 * 1024,
	  .what = "a size in bytes", .arg = "=BYTES",
	  .help = "largest message accepted (close 1009 beyond), and\n"
	  "longest line sent before it is split (default 16 MiB)" },
	{ .name = "unixsocket", .kind = OPTION_STRING, .mode = OPTION_SERVER,
	  .group = OPTION_GROUP_MAIN, .refusal = REFUSE_LISTEN,
	  FIELD(unixsocket), .check = check_socket_path,
	  .what = "a socket path (1-107 bytes)", .arg = "=PATH",
	  .help = "also listen on a unix-domain socket (REMOTE_ADDR is\n"
	  "unix-socket)" },
	{ .name = "uid", .kind = OPTION_STRING, .mode = OPTION_SERVER,
	  .group = OPTION_GROUP_MAIN, .refusal = REFUSE_LISTEN, FIELD(uid),
	  .check = check_account, .what = "a user name or number",
	  .arg = "=USER",
	  .help = "after binding, run as USER (name or number)" },
	{ .name = "gid", .kind = OPTION_STRING, .mode = OPTION_SERVER,
	  .group = OPTION_GROUP_MAIN, .refusal = REFUSE_LISTEN, FIELD(gid),
	  .check = check_account, .what = "a group name or number",
	  .arg = "=GROUP",
	  .help = "after binding, run as GROUP (default: USER's group)" },
	{ .name = "trusted-proxy", .kind = OPTION_CUSTOM, .mode = OPTION_SERVER,
	  .group = OPTION_GROUP_MAIN, .refusal = REFUSE_LISTEN,
	  .parse = parse_proxies, .arg = "=ADDR[,ADDR...]",
	  .help = "take REMOTE_ADDR from X-Forwarded-For when the peer\n"
	  "is one of these proxies" },
	{ .name = "metrics", .kind = OPTION_STRING, .mode = OPTION_SERVER,
	  .group = OPTION_GROUP_MAIN, .refusal = REFUSE_LISTEN,
	  FIELD(metrics_path), .check = check_url_path,
	  .what = "a URL path (it starts with /)", .arg = "=PATH",
	  .help = "serve Prometheus metrics over HTTP GET at PATH" },
	{ .name = "basic-auth", .kind = OPTION_STRING, .mode = OPTION_SERVER,
	  .group = OPTION_GROUP_MAIN, .refusal = REFUSE_AUTH,
	  FIELD(basic_auth), .check = check_file_name, .arg = "=FILE",
	  .help = "every request needs a user and password from FILE\n"
	  "(user:hash lines: bcrypt, yescrypt or sha512crypt)" },
	{ .name = "auth-realm", .kind = OPTION_STRING, .mode = OPTION_SERVER,
	  .group = OPTION_GROUP_MAIN, .refusal = REFUSE_AUTH,
	  FIELD(auth_realm), .check = check_realm, .arg = "=NAME",
	  .help = "the realm a browser shows (default: COMMAND's name)" },
	{ .name = "auth-header", .kind = OPTION_STRING, .mode = OPTION_SERVER,
	  .group = OPTION_GROUP_MAIN, .refusal = REFUSE_AUTH,
	  FIELD(auth_header), .check = check_header_name,
	  .what = "a header name (nor Authorization)", .arg = "=NAME",
	  .help = "take the user from header NAME, set by a\n"
	  "--trusted-proxy (refused from anyone else)" },
	{ .name = "loglevel", .kind = OPTION_CHOICE, .mode = OPTION_BOTH,
	  .group = OPTION_GROUP_MAIN, FIELD(loglevel), .choices = log_levels,
	  .default_number = LL_ACCESS, .arg = "=LEVEL",
	  .help = "debug, trace, access, info, error or fatal\n"
	  "(default access)" },

	{ .name = "dir", .kind = OPTION_STRING, .mode = OPTION_SERVER,
	  .group = OPTION_GROUP_HTTP, .refusal = REFUSE_HTTP, FIELD(dir),
	  .check = check_directory, .what = "a directory", .arg = "=DIR",
	  .help = "the URL path picks a script in DIR to run (no COMMAND)" },
	{ .name = "staticdir", .kind = OPTION_STRING, .mode = OPTION_SERVER,
	  .group = OPTION_GROUP_HTTP, .refusal = REFUSE_HTTP,
	  FIELD(staticdir), .check = check_directory, .what = "a directory",
	  .arg = "=DIR", .help = "serve the files in DIR over plain HTTP" },
	{ .name = "cgidir", .kind = OPTION_STRING, .mode = OPTION_SERVER,
	  .group = OPTION_GROUP_HTTP, .refusal = REFUSE_HTTP, FIELD(cgidir),
	  .check = check_directory, .what = "a directory", .arg = "=DIR",
	  .help = "run CGI scripts in DIR over plain HTTP" },
	{ .name = "devconsole", .kind = OPTION_FLAG, .mode = OPTION_SERVER,
	  .group = OPTION_GROUP_HTTP, .refusal = REFUSE_HTTP,
	  FIELD(devconsole),
	  .help = "a page to talk to the endpoint from a browser" },
	{ .name = "maxforks", .kind = OPTION_NUMBER, .mode = OPTION_SERVER,
	  .group = OPTION_GROUP_HTTP, .refusal = REFUSE_HTTP, FIELD(maxforks),
	  .minimum = 0, .maximum = 1000000, .default_number = 0,
	  .what = "a number", .arg = "=N",
	  .help = "at most N children at once; then HTTP 429 (default 0:\n"
	  "no limit)" },
	{ .name = "origin", .kind = OPTION_STRING, .mode = OPTION_BOTH,
	  .group = OPTION_GROUP_HTTP, FIELD(origin), .check = check_origin,
	  .what = "an origin", .arg = "=HOST[:PORT][,...]",
	  .help = "only upgrade requests from these origins (else 403)",
	  .client_arg = "=ORIGIN", .client_help = "send this Origin header" },
	{ .name = "sameorigin", .kind = OPTION_FLAG, .mode = OPTION_SERVER,
	  .group = OPTION_GROUP_HTTP, .refusal = REFUSE_HTTP,
	  FIELD(sameorigin),
	  .help = "only upgrade requests whose Origin is the Host" },
	{ .name = "header", .kind = OPTION_CUSTOM, .mode = OPTION_BOTH,
	  .group = OPTION_GROUP_HTTP, .parse = parse_header,
	  .arg = "='NAME: VALUE'",
	  .help = "add to every response (client: to the request)",
	  .client_help = "add a request header, repeatable" },
	{ .name = "header-ws", .kind = OPTION_CUSTOM, .mode = OPTION_SERVER,
	  .group = OPTION_GROUP_HTTP, .refusal = REFUSE_HEADER_KIND,
	  .parse = parse_header, .arg = "='NAME: VALUE'",
	  .help = "add to WebSocket upgrade responses only" },
	{ .name = "header-http", .kind = OPTION_CUSTOM, .mode = OPTION_SERVER,
	  .group = OPTION_GROUP_HTTP, .refusal = REFUSE_HEADER_KIND,
	  .parse = parse_header, .arg = "='NAME: VALUE'",
	  .help = "add to plain HTTP responses only" },
	{ .name = "redirport", .kind = OPTION_NUMBER, .mode = OPTION_SERVER,
	  .group = OPTION_GROUP_HTTP, .refusal = REFUSE_HTTP, FIELD(redirport),
	  .minimum = 1, .maximum = 65535, .what = "a port number",
	  .arg = "=PORT",
	  .help = "also listen on PORT and redirect HTTP to --port" },
	{ .name = "reverselookup", .kind = OPTION_FLAG, .mode = OPTION_SERVER,
	  .group = OPTION_GROUP_HTTP, .refusal = REFUSE_HTTP,
	  FIELD(reverselookup),
	  .help = "REMOTE_HOST from a reverse DNS lookup" },
	{ .name = "passstderr", .kind = OPTION_FLAG, .mode = OPTION_SERVER,
	  .group = OPTION_GROUP_HTTP, .refusal = REFUSE_HTTP,
	  FIELD(passstderr),
	  .help = "send stdout and stderr as JSON lines\n"
	  "{\"stream\":\"stdout\",\"data\":\"...\"} (not with --binary)" },
	{ .name = "protocol", .kind = OPTION_CUSTOM, .mode = OPTION_BOTH,
	  .group = OPTION_GROUP_HTTP, .parse = parse_protocol,
	  .arg = "=NAME",
	  .help = "serve this subprotocol, repeatable; an upgrade that\n"
	  "offers only others gets 400 (client: offer it)",
	  .client_help = "offer this subprotocol, repeatable" },
	{ .name = "deflate", .kind = OPTION_FLAG, .mode = OPTION_SERVER,
	  .group = OPTION_GROUP_HTTP, .refusal = REFUSE_HTTP, FIELD(deflate),
	  .help = "offer permessage-deflate compression" },
	{ .name = "ssl", .kind = OPTION_FLAG, .mode = OPTION_SERVER,
	  .group = OPTION_GROUP_HTTP, .refusal = REFUSE_HTTP, FIELD(ssl),
	  .help = "TLS on the listening sockets (with --sslcert, --sslkey)" },
	{ .name = "sslcert", .kind = OPTION_STRING, .mode = OPTION_BOTH,
	  .group = OPTION_GROUP_HTTP, FIELD(sslcert), .check = check_readable,
	  .arg = "=FILE", .help = "the server's certificate and key (PEM)",
	  .client_help = "client certificate for wss:// (PEM)" },
	{ .name = "sslkey", .kind = OPTION_STRING, .mode = OPTION_BOTH,
	  .group = OPTION_GROUP_HTTP, FIELD(sslkey), .check = check_readable,
	  .arg = "=FILE", .help = NULL,	/* on --sslcert's line */
	  .client_help = "its private key (PEM)" },
	{ .name = "sslca", .kind = OPTION_STRING, .mode = OPTION_BOTH,
	  .group = OPTION_GROUP_HTTP, FIELD(sslca), .check = check_readable,
	  .arg = "=FILE",
	  .help = "require client certificates signed by these CAs",
	  .client_help = "trust the CAs in FILE for wss:// (PEM)" },

	{ .name = "insecure", .kind = OPTION_FLAG, .mode = OPTION_CLIENT,
	  .group = OPTION_GROUP_CLIENT, .refusal = REFUSE_CLIENT_NET,
	  FIELD(insecure), .help = "do not verify the server's certificate" },
	{ .name = "connect-timeout", .kind = OPTION_NUMBER,
	  .mode = OPTION_CLIENT, .group = OPTION_GROUP_CLIENT,
	  .refusal = REFUSE_CLIENT_NET, FIELD(connect_timeout),
	  .minimum = 1, .maximum = 3600, .default_number = 10,
	  .what = "a number of seconds", .arg = "=SECS",
	  .help = "give up connecting after SECS (default 10)" },
	{ .name = "eof-wait", .kind = OPTION_NUMBER, .mode = OPTION_CLIENT,
	  .group = OPTION_GROUP_CLIENT, FIELD(eof_wait_ms),
	  .minimum = 0, .maximum = 3600000, .default_number = 2000,
	  .what = "a number of milliseconds", .arg = "=MS",
	  .help = "after end of input, wait for a server without the\n"
	  "half-close (not wsbridge) to close, until it has been\n"
	  "silent for MS ms (default 2000; 0: close at once)" },
	{ .name = "password-file", .kind = OPTION_STRING, .mode = OPTION_CLIENT,
	  .group = OPTION_GROUP_CLIENT, FIELD(password_file),
	  .check = check_file_name, .arg = "=FILE",
	  .help = "the password for URL's user, from FILE's first line\n"
	  "(also: $WSBRIDGE_PASSWORD, or ws://USER:PASS@HOST)" },

	{ .name = "help", .kind = OPTION_FLAG, .mode = OPTION_BOTH,
	  .group = OPTION_GROUP_INFO, .parse = parse_action,
	  .help = "show this help and exit" },
	{ .name = "version", .kind = OPTION_FLAG, .mode = OPTION_BOTH,
	  .group = OPTION_GROUP_INFO, .parse = parse_action,
	  .help = "show the version and exit" },
	{ .name = "license", .kind = OPTION_FLAG, .mode = OPTION_BOTH,
	  .group = OPTION_GROUP_INFO, .parse = parse_action,
	  .help = "show the license and exit" },

	{ .name = NULL },
};

/* struct config keeps one bit per row in "given". */
_Static_assert(sizeof options_table / sizeof options_table[0] - 1 <=
    sizeof(((struct config *)NULL)->given) * 8, "too many options for given");
