/*
 * Flags spelled as websocketd spells them: --opt=value, --opt value, and the
 * single-dash forms Go's flag package accepts, so existing command lines keep
 * working. Parsing is pure (no I/O but the checks that a file exists) so it
 * can be unit-tested; errors come back as one line of text for main to
 * print. What each flag is, its default and its mode are rows of
 * options_table (options-table.c); this file walks argv with it and checks
 * what makes sense together.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "authparse.h"
#include "config.h"
#include "http.h"
#include "options.h"
#include "ptyctl.h"

static int
set_defaults(struct config *c, char *err, size_t errlen)
{
	memset(c, 0, sizeof *c);
	c->action = ACTION_SERVE;
	return options_defaults(c, err, errlen);
}

/* "host[:port]" entries, or with a scheme: "https://host[:port]". */
static int
set_origins(struct config *c, char *err, size_t errlen)
{
	char	*s, *o, *save = NULL;
	size_t	 n = 0;

	if ((c->origins_buf = strdup(c->origin)) == NULL)
		return options_error(err, errlen, "out of memory");
	for (s = c->origins_buf; (o = strtok_r(s, ", ", &save)) != NULL;
	    s = NULL) {
		if (n == CONFIG_MAX_HEADERS)
			return options_error(err, errlen, "--origin: more than %d "
			    "entries", CONFIG_MAX_HEADERS);
		c->origins[n++] = o;
	}
	c->origins[n] = NULL;
	if (n == 0)
		return options_error(err, errlen, "--origin: no origins listed");
	return 0;
}

/* Options of the other mode, if used, are refused: they would do nothing. */
static int
check_mode(const struct config *c, enum option_mode mode, char *err,
    size_t errlen)
{
	const struct option_entry	*o;

	for (o = options_table; o->name != NULL; o++) {
		if ((o->mode & mode) == 0 && options_used(c, o))
			return options_refuse(o, err, errlen);
	}
	return 0;
}

/*
 * --pty: a terminal's output is bytes, and the wsbridge.pty subprotocol
 * (control messages, ptyctl.h) is served beside any --protocol.
 */
static int
add_pty_protocol(struct config *c, char *err, size_t errlen)
{
	size_t	 i;

	c->binary = true;
	for (i = 0; i < c->nprotocols; i++)
		if (strcasecmp(c->protocols[i], PTYCTL_SUBPROTOCOL) == 0)
			return 0;
	if (c->nprotocols == CONFIG_MAX_PROTOCOLS)
		return options_error(err, errlen, "--pty serves the %s "
		    "subprotocol: too many --protocol", PTYCTL_SUBPROTOCOL);
	c->protocols[c->nprotocols++] = PTYCTL_SUBPROTOCOL;
	c->protocols[c->nprotocols] = NULL;
	return 0;
}

/* The server's flags that need, or exclude, one another. */
static int
check_server_flags(struct config *c, char *err, size_t errlen)
{
	size_t	 i;

	if (c->devconsole && (c->staticdir != NULL || c->cgidir != NULL))
		return options_error(err, errlen, "--devconsole cannot be combined with "
		    "--staticdir or --cgidir");
	if (c->pty && (c->passstderr || c->unbuffer))
		return options_error(err, errlen, "--pty gives the command a "
		    "terminal on stdin, stdout and stderr: it cannot be "
		    "combined with --%s", c->passstderr ? "passstderr" :
		    "unbuffer");
	if (c->pty && add_pty_protocol(c, err, errlen) != 0)
		return -1;
	if (c->passstderr && c->binary)
		return options_error(err, errlen, "--passstderr sends JSON lines: it "
		    "cannot be combined with --binary");
	if (c->ssl && (c->sslcert == NULL || c->sslkey == NULL))
		return options_error(err, errlen, "--ssl needs --sslcert and --sslkey");
	if (!c->ssl && (c->sslcert != NULL || c->sslkey != NULL ||
	    c->sslca != NULL))
		return options_error(err, errlen, "--sslcert, --sslkey and --sslca need "
		    "--ssl");
	if (c->auth_realm != NULL && c->basic_auth == NULL)
		return options_error(err, errlen, "--auth-realm needs --basic-auth");
	if (c->auth_header != NULL && c->proxies[0] == NULL)
		return options_error(err, errlen, "--auth-header needs --trusted-proxy: "
		    "only a proxy's word is taken");
	if (c->redirport != 0 && c->redirport == c->port)
		return options_error(err, errlen, "--redirport must differ from --port");
	if (c->origin != NULL && set_origins(c, err, errlen) != 0)
		return -1;
	for (i = 0; i < c->nheaders; i++) {
		if (strncasecmp(c->headers[i], "content-length:", 15) == 0 ||
		    strncasecmp(c->headers[i], "connection:", 11) == 0)
			return options_error(err, errlen, "--header: '%s' would break "
			    "the response", c->headers[i]);
	}
	return 0;
}

static int
check_server(struct config *c, char **command, char *err, size_t errlen)
{
	if (command == NULL && c->dir == NULL)
		return options_error(err, errlen, "no COMMAND given (see --help)");
	if (command != NULL && c->dir != NULL)
		return options_error(err, errlen, "--dir picks the command from the URL: "
		    "give --dir or a COMMAND, not both");
	c->command = command;
	if (check_mode(c, OPTION_SERVER, err, errlen) != 0)
		return -1;
	return check_server_flags(c, err, errlen);
}

/* A client bridges our own stdin and stdout unless given a command. */
static int
check_client(struct config *c, char **command, char *err, size_t errlen)
{
	c->command = command;
	if (check_mode(c, OPTION_CLIENT, err, errlen) != 0)
		return -1;
	if ((c->sslcert == NULL) != (c->sslkey == NULL))
		return options_error(err, errlen, "--sslcert and --sslkey go together");
	if (c->pty && c->command != NULL)
		return options_error(err, errlen, "--pty with --connect makes our "
		    "own terminal the local end: no COMMAND");
	if (c->pty)
		c->binary = true;	/* keys and screens are bytes */
	/* In a pipeline, only trouble belongs on stderr. */
	if (!options_given(c, "loglevel"))
		c->loglevel = LL_ERROR;
	return 0;
}

/* One argument: "--name", "-name" or either with "=value" (then v is set). */
static int
parse_flag(struct config *c, int argc, char **argv, int *i, char *err,
    size_t errlen)
{
	const struct option_entry	*o;
	const char			*arg = argv[*i], *name, *eq, *v;
	size_t				 len;

	name = arg + (arg[1] == '-' ? 2 : 1);
	eq = strchr(name, '=');
	len = eq != NULL ? (size_t)(eq - name) : strlen(name);
	if ((o = options_find(name, len)) == NULL)
		/* Up to the '=': the value may be a secret. */
		return options_error(err, errlen, "unknown option '%.*s' (see --help)",
		    (int)(name - arg + len), arg);
	v = eq != NULL ? eq + 1 : NULL;
	if (o->kind != OPTION_FLAG && v == NULL) {
		if (*i + 1 >= argc)
			return options_error(err, errlen, "--%s needs a value", o->name);
		v = argv[++*i];
	}
	return options_apply(c, o, v, err, errlen);
}

/*
 * Parses argv. Returns 0 and fills c, or -1 with one line in err. The
 * strings c points to live in argv, which outlives the config.
 */
int
config_parse(struct config *c, int argc, char **argv, char *err, size_t errlen)
{
	char	**command;
	int	  i;

	if (set_defaults(c, err, errlen) != 0)
		return -1;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		}
		if (argv[i][0] != '-' || argv[i][1] == '\0')
			break;
		if (parse_flag(c, argc, argv, &i, err, errlen) != 0)
			return -1;
	}
	/* Read by listener.c and auth.c: was --port given, even as 80? */
	c->port_given = options_given(c, "port");
	if (c->action != ACTION_SERVE)
		return 0;
	command = i < argc ? &argv[i] : NULL;
	if (c->connect_url == NULL)
		return check_server(c, command, err, errlen);
	return check_client(c, command, err, errlen);
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
			return options_error(err, errlen, "command '%s': %s", cmd,
			    strerror(errno));
		if (!S_ISREG(st.st_mode) || access(cmd, X_OK) != 0)
			return options_error(err, errlen, "command '%s': not an "
			    "executable file", cmd);
		return (c->command_path = strdup(cmd)) ? 0 :
		    options_error(err, errlen, "out of memory");
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
				    options_error(err, errlen, "out of memory");
			saw_file = 1;
		}
		if (*end == '\0')
			break;
	}
	return options_error(err, errlen, "command '%s': %s", cmd, saw_file ?
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
		return options_error(err, errlen, "--connect: '%s' is not a ws:// or "
		    "wss:// URL", c->connect_url);
	if (u.user[0] == '\0') {
		if (c->password_file != NULL)
			return options_error(err, errlen, "--password-file needs a user "
			    "in the URL (ws://user@host/)");
		return 0;
	}
	for (i = 0; i < c->nheaders; i++) {
		if (strncasecmp(c->headers[i], "authorization:", 14) == 0)
			return options_error(err, errlen, "--header: Authorization is "
			    "made from the URL's user: give one of them");
	}
	if (u.has_pass && file_pw != NULL) {
		rc = options_error(err, errlen, "--connect's URL has a password: "
		    "--password-file is one too many");
		goto out;
	}
	pw = u.has_pass ? u.pass : file_pw != NULL ? file_pw : env_pw;
	if (pw == NULL) {
		rc = options_error(err, errlen, "no password for user '%s': give "
		    "--password-file or set WSBRIDGE_PASSWORD", u.user);
		goto out;
	}
	if (strlen(pw) > AUTH_PASS_MAX ||
	    auth_basic_encode(u.user, pw, value, sizeof value) != 0) {
		rc = options_error(err, errlen, "the password is longer than %d bytes",
		    AUTH_PASS_MAX);
		goto out;
	}
	if (c->nheaders == CONFIG_MAX_HEADERS) {
		rc = options_error(err, errlen, "--header: more than %d headers with "
		    "the Authorization one", CONFIG_MAX_HEADERS - 1);
		goto out;
	}
	if (asprintf(&c->auth_line, "Authorization: %s", value) == -1) {
		c->auth_line = NULL;
		rc = options_error(err, errlen, "out of memory");
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
