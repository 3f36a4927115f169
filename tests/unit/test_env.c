/*
 * env.c: the CGI environment of a child. Request
 * facts first and they win; HTTP_<NAME> for every header, first one wins;
 * of the server's own environment only the --passenv names.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/env.h"
#include "../../src/http.h"
#include "unit.h"

static const char *const fact_names[] = {
	"SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "SERVER_SOFTWARE",
	"GATEWAY_INTERFACE", "REMOTE_ADDR", "REMOTE_HOST", "REMOTE_PORT",
	"REQUEST_METHOD", "REQUEST_URI", "SCRIPT_NAME", "PATH_INFO",
	"PATH_TRANSLATED", "QUERY_STRING", "UNIQUE_ID", "AUTH_TYPE",
	"CONTENT_LENGTH", "CONTENT_TYPE", "REMOTE_IDENT", "REMOTE_USER",
};
#define NFACTS	(sizeof fact_names / sizeof fact_names[0])

/* The value of name in env, or NULL. */
static const char *
env_get(char **env, const char *name)
{
	size_t	 i, n = strlen(name);

	for (i = 0; env != NULL && env[i] != NULL; i++) {
		if (strncmp(env[i], name, n) == 0 && env[i][n] == '=')
			return env[i] + n + 1;
	}
	return NULL;
}

static size_t
env_count(char **env, const char *name)
{
	size_t	 i, n = strlen(name), c = 0;

	for (i = 0; env != NULL && env[i] != NULL; i++) {
		if (strncmp(env[i], name, n) == 0 && env[i][n] == '=')
			c++;
	}
	return c;
}

static size_t
env_len(char **env)
{
	size_t	 n = 0;

	while (env != NULL && env[n] != NULL)
		n++;
	return n;
}

/* Every entry is NAME=VALUE with a non-empty name, no name twice. */
static bool
env_well_formed(char **env)
{
	size_t	 i, j, n;
	char	*eq;

	for (i = 0; env[i] != NULL; i++) {
		if ((eq = strchr(env[i], '=')) == NULL || eq == env[i])
			return false;
		n = (size_t)(eq - env[i]) + 1;
		for (j = i + 1; env[j] != NULL; j++) {
			if (strncmp(env[i], env[j], n) == 0)
				return false;
		}
	}
	return true;
}

static void
default_facts(struct env_facts *f, const struct http_request *req)
{
	memset(f, 0, sizeof *f);
	f->req = req;
	f->remote_addr = "192.0.2.7";
	f->remote_host = "192.0.2.7";
	f->remote_port = 54321;
	f->server_addr = "127.0.0.1";
	f->server_port = 8080;
	f->unique_id = "00000000000000010000000000000002";
	f->software = "wsbridge/0.1.0";
	f->https = false;
}

/*
 * Builds the environment for a head with the facts of tmpl (NULL: the
 * defaults); NULL (and a failed check) if the head does not parse.
 */
static char **
build(const char *head, struct http_request *req,
    const struct env_facts *tmpl, char *const *passenv,
    char *const *environ_src)
{
	struct env_facts	 f;

	if (!CHECK_EQ_INT(http_parse_request(req, head, strlen(head)), 0))
		return NULL;
	if (tmpl != NULL)
		f = *tmpl;
	else
		default_facts(&f, NULL);
	f.req = req;
	return env_build(&f, passenv, environ_src);
}

static void
done(char **env, struct http_request *req)
{
	env_free(env);
	http_request_free(req);
}

static void
test_facts(void)
{
	struct http_request	 req;
	char			**env;
	size_t			 i;

	env = build("GET /chat/room?x=1&y=2 HTTP/1.1\r\n"
	    "Host: example.com:8080\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "\r\n", &req, NULL, NULL, NULL);
	if (!CHECK(env != NULL))
		return;
	CHECK(env_well_formed(env));
	for (i = 0; i < NFACTS; i++) {
		UNIT_CTX("%s", fact_names[i]);
		CHECK_EQ_INT(env_count(env, fact_names[i]), 1);
	}
	UNIT_CTX_CLEAR();
	CHECK_STR(env_get(env, "SERVER_NAME"), "example.com");
	CHECK_STR(env_get(env, "SERVER_PORT"), "8080");
	CHECK_STR(env_get(env, "SERVER_PROTOCOL"), "HTTP/1.1");
	CHECK_STR(env_get(env, "SERVER_SOFTWARE"), "wsbridge/0.1.0");
	CHECK_STR(env_get(env, "GATEWAY_INTERFACE"), "websocketd-CGI/0.1");
	CHECK_STR(env_get(env, "REMOTE_ADDR"), "192.0.2.7");
	CHECK_STR(env_get(env, "REMOTE_HOST"), "192.0.2.7");
	CHECK_STR(env_get(env, "REMOTE_PORT"), "54321");
	CHECK_STR(env_get(env, "REQUEST_METHOD"), "GET");
	CHECK_STR(env_get(env, "REQUEST_URI"), "/chat/room?x=1&y=2");
	CHECK_STR(env_get(env, "SCRIPT_NAME"), "/");
	CHECK_STR(env_get(env, "PATH_INFO"), "/chat/room");
	CHECK_STR(env_get(env, "PATH_TRANSLATED"), "/chat/room");
	CHECK_STR(env_get(env, "QUERY_STRING"), "x=1&y=2");
	CHECK_STR(env_get(env, "UNIQUE_ID"),
	    "00000000000000010000000000000002");
	CHECK_STR(env_get(env, "AUTH_TYPE"), "");
	CHECK_STR(env_get(env, "CONTENT_LENGTH"), "");
	CHECK_STR(env_get(env, "CONTENT_TYPE"), "");
	CHECK_STR(env_get(env, "REMOTE_IDENT"), "");
	CHECK_STR(env_get(env, "REMOTE_USER"), "");
	CHECK(env_get(env, "HTTPS") == NULL);
	CHECK_STR(env_get(env, "HTTP_HOST"), "example.com:8080");
	CHECK_STR(env_get(env, "HTTP_UPGRADE"), "websocket");
	CHECK_STR(env_get(env, "HTTP_CONNECTION"), "Upgrade");
	/* Exactly the facts and the three headers: nothing else. */
	CHECK_EQ_INT(env_len(env), NFACTS + 3);
	done(env, &req);
}

/* SERVER_NAME for a given Host header (NULL: none sent). */
static void
check_server_name(const char *host, const char *server_addr,
    const char *want)
{
	struct http_request	 req;
	struct env_facts	 f;
	char			 head[512];
	char			**env;

	if (host != NULL)
		snprintf(head, sizeof head,
		    "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", host);
	else
		snprintf(head, sizeof head, "GET / HTTP/1.1\r\n\r\n");
	default_facts(&f, NULL);
	f.server_addr = server_addr;
	UNIT_CTX("Host %s, server %s", host ? host : "(none)", server_addr);
	env = build(head, &req, &f, NULL, NULL);
	if (CHECK(env != NULL)) {
		CHECK_STR(env_get(env, "SERVER_NAME"), want);
		CHECK_EQ_INT(env_count(env, "SERVER_NAME"), 1);
		done(env, &req);
	}
	UNIT_CTX_CLEAR();
}

static void
test_server_name(void)
{
	check_server_name("example.com:8080", "127.0.0.1", "example.com");
	check_server_name("example.com", "127.0.0.1", "example.com");
	check_server_name("example.com:", "127.0.0.1", "example.com");
	check_server_name("10.1.2.3:80", "127.0.0.1", "10.1.2.3");
	check_server_name("[::1]:8080", "127.0.0.1", "[::1]");
	check_server_name("[::1]", "127.0.0.1", "[::1]");
	check_server_name("[2001:db8::1]:443", "::1", "[2001:db8::1]");
	check_server_name("[fe80::1%eth0]:9", "::1", "[fe80::1%eth0]");
	/* No Host, or an empty one: the listening address. */
	check_server_name(NULL, "127.0.0.1", "127.0.0.1");
	check_server_name(NULL, "::1", "::1");
	check_server_name(NULL, "0.0.0.0", "0.0.0.0");
	check_server_name("", "192.0.2.1", "192.0.2.1");
	check_server_name("   ", "192.0.2.1", "192.0.2.1");	/* trimmed */
}

/* PATH_INFO, PATH_TRANSLATED, QUERY_STRING and REQUEST_URI for a target. */
static void
check_target(const char *target, const char *path, const char *query)
{
	struct http_request	 req;
	char			 head[512];
	char			**env;

	snprintf(head, sizeof head, "GET %s HTTP/1.1\r\n\r\n", target);
	UNIT_CTX("target %s", target);
	env = build(head, &req, NULL, NULL, NULL);
	if (CHECK(env != NULL)) {
		CHECK_STR(env_get(env, "REQUEST_URI"), target);
		CHECK_STR(env_get(env, "PATH_INFO"), path);
		CHECK_STR(env_get(env, "PATH_TRANSLATED"), path);
		CHECK_STR(env_get(env, "QUERY_STRING"), query);
		CHECK_STR(env_get(env, "SCRIPT_NAME"), "/");
		done(env, &req);
	}
	UNIT_CTX_CLEAR();
}

static void
test_target_split(void)
{
	check_target("/", "/", "");
	check_target("/a/b", "/a/b", "");
	check_target("/a/b?", "/a/b", "");
	check_target("/?x=1", "/", "x=1");
	check_target("/a?b?c", "/a", "b?c");
	check_target("/a?x=1&y=&z", "/a", "x=1&y=&z");
	check_target("/p%20q?r=%3F", "/p%20q", "r=%3F");
	check_target("/a/", "/a/", "");
}

static void
test_https(void)
{
	struct http_request	 req;
	struct env_facts	 f;
	char			**env;

	default_facts(&f, NULL);
	f.https = true;
	env = build("GET / HTTP/1.1\r\n\r\n", &req, &f, NULL, NULL);
	if (CHECK(env != NULL)) {
		CHECK_STR(env_get(env, "HTTPS"), "on");
		CHECK_EQ_INT(env_count(env, "HTTPS"), 1);
		CHECK_EQ_INT(env_len(env), NFACTS + 1);
		done(env, &req);
	}
	env = build("GET / HTTP/1.1\r\n\r\n", &req, NULL, NULL, NULL);
	if (CHECK(env != NULL)) {
		CHECK(env_get(env, "HTTPS") == NULL);
		CHECK_EQ_INT(env_len(env), NFACTS);
		done(env, &req);
	}
}

static void
test_headers(void)
{
	struct http_request	 req;
	char			**env;

	env = build("GET / HTTP/1.1\r\n"
	    "X-Foo-Bar: baz\r\n"
	    "user-agent: test/1.0\r\n"
	    "Sec-WebSocket-Protocol: chat, superchat\r\n"
	    "X-Dup: first\r\n"
	    "x-dup: second\r\n"
	    "X-DUP: third\r\n"
	    "X_Dup: underscore\r\n"
	    "X-Empty:\r\n"
	    "x-mIxEd-CaSe9: v\r\n"
	    "\r\n", &req, NULL, NULL, NULL);
	if (!CHECK(env != NULL))
		return;
	CHECK(env_well_formed(env));
	CHECK_STR(env_get(env, "HTTP_X_FOO_BAR"), "baz");
	CHECK_STR(env_get(env, "HTTP_USER_AGENT"), "test/1.0");
	CHECK_STR(env_get(env, "HTTP_SEC_WEBSOCKET_PROTOCOL"),
	    "chat, superchat");
	/* First header wins, whatever the spelling. */
	CHECK_STR(env_get(env, "HTTP_X_DUP"), "first");
	CHECK_EQ_INT(env_count(env, "HTTP_X_DUP"), 1);
	CHECK_STR(env_get(env, "HTTP_X_EMPTY"), "");
	CHECK_STR(env_get(env, "HTTP_X_MIXED_CASE9"), "v");
	/* Never the raw spelling. */
	CHECK(env_get(env, "HTTP_X-FOO-BAR") == NULL);
	CHECK(env_get(env, "X-Foo-Bar") == NULL);
	CHECK(env_get(env, "HTTP_user_agent") == NULL);
	CHECK(env_get(env, "HTTP_HOST") == NULL);	/* none was sent */
	CHECK_EQ_INT(env_len(env), NFACTS + 6);
	done(env, &req);
}

static void
test_many_and_long_headers(void)
{
	struct http_request	 req;
	char			*head, name[32], want[32];
	char			**env;
	size_t			 o = 0, cap = 64 * 1024;
	int			 i, missing = 0;

	/* HTTP_HEADERS_MAX headers: the list grows well past its first size. */
	if (!CHECK((head = malloc(cap)) != NULL))
		return;
	o += (size_t)snprintf(head + o, cap - o, "GET / HTTP/1.1\r\n");
	for (i = 0; i < HTTP_HEADERS_MAX - 1; i++)
		o += (size_t)snprintf(head + o, cap - o, "X-H-%d: v%d\r\n", i,
		    i);
	/* and one long value */
	o += (size_t)snprintf(head + o, cap - o, "X-Long: ");
	memset(head + o, 'L', 10000);
	o += 10000;
	snprintf(head + o, cap - o, "\r\n\r\n");
	env = build(head, &req, NULL, NULL, NULL);
	free(head);
	if (!CHECK(env != NULL))
		return;
	CHECK(env_well_formed(env));
	CHECK_EQ_INT(env_len(env), NFACTS + HTTP_HEADERS_MAX);
	for (i = 0; i < HTTP_HEADERS_MAX - 1; i++) {
		snprintf(name, sizeof name, "HTTP_X_H_%d", i);
		snprintf(want, sizeof want, "v%d", i);
		if (env_get(env, name) == NULL ||
		    strcmp(env_get(env, name), want) != 0)
			missing++;
	}
	CHECK_EQ_INT(missing, 0);
	if (CHECK(env_get(env, "HTTP_X_LONG") != NULL)) {
		CHECK_EQ_INT(strlen(env_get(env, "HTTP_X_LONG")), 10000);
		CHECK_EQ_INT(strspn(env_get(env, "HTTP_X_LONG"), "L"), 10000);
	}
	/* Facts are all still there, once. */
	for (i = 0; i < (int)NFACTS; i++)
		CHECK_EQ_INT(env_count(env, fact_names[i]), 1);
	done(env, &req);
}

static void
test_passenv(void)
{
	struct http_request	 req;
	char			**env;
	char *const		 server_env[] = {
		"HOME=/root",
		"PATHEXT=.exe",
		"PATH=/usr/bin:/bin",
		"SECRET_TOKEN=hunter2",
		"LD_LIBRARY_PATH=/opt/lib",
		"REMOTE_ADDR=6.6.6.6",
		"SERVER_NAME=evil",
		"QUERY_STRING=evil",
		"HTTP_HOST=evil.example",
		"HTTP_X_ONLY_ENV=from-env",
		"EQ=a=b=c",
		"EMPTY=",
		"DUP=first",
		"DUP=second",
		NULL,
	};
	char *const	 defaults[] = { "PATH", "LD_LIBRARY_PATH", NULL };
	char *const	 missing[] = { "NOT_SET_ANYWHERE", "PAT", "PATH_", NULL };
	char *const	 overrides[] = {
		"REMOTE_ADDR", "SERVER_NAME", "QUERY_STRING", "HTTP_HOST",
		"HTTP_X_ONLY_ENV", NULL,
	};
	char *const	 odd[] = { "EQ", "EMPTY", "DUP", NULL };
	size_t		 i;

	/* The default list: PATH and LD_LIBRARY_PATH, nothing else. */
	env = build("GET / HTTP/1.1\r\n\r\n", &req, NULL, defaults, server_env);
	if (CHECK(env != NULL)) {
		CHECK(env_well_formed(env));
		CHECK_STR(env_get(env, "PATH"), "/usr/bin:/bin");
		CHECK_STR(env_get(env, "LD_LIBRARY_PATH"), "/opt/lib");
		CHECK(env_get(env, "HOME") == NULL);
		CHECK(env_get(env, "SECRET_TOKEN") == NULL);
		CHECK(env_get(env, "PATHEXT") == NULL);
		CHECK_STR(env_get(env, "REMOTE_ADDR"), "192.0.2.7");
		CHECK_EQ_INT(env_len(env), NFACTS + 2);
		done(env, &req);
	}

	/* Names that are not set (or only prefixes of set ones) add nothing. */
	env = build("GET / HTTP/1.1\r\n\r\n", &req, NULL, missing, server_env);
	if (CHECK(env != NULL)) {
		for (i = 0; missing[i] != NULL; i++) {
			UNIT_CTX("%s", missing[i]);
			CHECK_EQ_INT(env_count(env, missing[i]), 0);
		}
		UNIT_CTX_CLEAR();
		CHECK_EQ_INT(env_len(env), NFACTS);
		done(env, &req);
	}

	/* Request facts and headers win over passed variables. */
	env = build("GET /?q=real HTTP/1.1\r\nHost: real.example\r\n\r\n",
	    &req, NULL, overrides, server_env);
	if (CHECK(env != NULL)) {
		CHECK(env_well_formed(env));
		CHECK_STR(env_get(env, "REMOTE_ADDR"), "192.0.2.7");
		CHECK_EQ_INT(env_count(env, "REMOTE_ADDR"), 1);
		CHECK_STR(env_get(env, "SERVER_NAME"), "real.example");
		CHECK_STR(env_get(env, "QUERY_STRING"), "q=real");
		CHECK_STR(env_get(env, "HTTP_HOST"), "real.example");
		CHECK_EQ_INT(env_count(env, "HTTP_HOST"), 1);
		/* A name no request fact uses does pass through. */
		CHECK_STR(env_get(env, "HTTP_X_ONLY_ENV"), "from-env");
		CHECK_EQ_INT(env_len(env), NFACTS + 2);
		done(env, &req);
	}

	/* Values with '=', empty values, a name twice in the source. */
	env = build("GET / HTTP/1.1\r\n\r\n", &req, NULL, odd, server_env);
	if (CHECK(env != NULL)) {
		CHECK_STR(env_get(env, "EQ"), "a=b=c");
		CHECK_STR(env_get(env, "EMPTY"), "");
		CHECK_STR(env_get(env, "DUP"), "first");
		CHECK_EQ_INT(env_count(env, "DUP"), 1);
		CHECK_EQ_INT(env_len(env), NFACTS + 3);
		done(env, &req);
	}

	/* The same name listed twice is added once. */
	{
		char *const	 twice[] = { "PATH", "PATH", NULL };

		env = build("GET / HTTP/1.1\r\n\r\n", &req, NULL, twice,
		    server_env);
		if (CHECK(env != NULL)) {
			CHECK_EQ_INT(env_count(env, "PATH"), 1);
			CHECK_EQ_INT(env_len(env), NFACTS + 1);
			done(env, &req);
		}
	}

	/* No list, an empty list, no source environment. */
	{
		char *const	 empty[] = { NULL };

		env = build("GET / HTTP/1.1\r\n\r\n", &req, NULL, NULL,
		    server_env);
		if (CHECK(env != NULL)) {
			CHECK_EQ_INT(env_len(env), NFACTS);
			done(env, &req);
		}
		env = build("GET / HTTP/1.1\r\n\r\n", &req, NULL, empty,
		    server_env);
		if (CHECK(env != NULL)) {
			CHECK_EQ_INT(env_len(env), NFACTS);
			done(env, &req);
		}
		env = build("GET / HTTP/1.1\r\n\r\n", &req, NULL, defaults,
		    NULL);
		if (CHECK(env != NULL)) {
			CHECK(env_get(env, "PATH") == NULL);
			CHECK_EQ_INT(env_len(env), NFACTS);
			done(env, &req);
		}
	}
}

/* The environment belongs to the caller: the request may go first. */
/* --pty: TERM=xterm-256color, unless --passenv passes the server's. */
static void
test_pty_term(void)
{
	struct http_request	 req;
	struct env_facts	 f;
	char			**env;
	char *const		 server_env[] = { "TERM=vt100", "PATH=/bin",
				     NULL };
	char *const		 path_only[] = { "PATH", NULL };
	char *const		 with_term[] = { "PATH", "TERM", NULL };
	char *const		 no_term_env[] = { "PATH=/bin", NULL };

	default_facts(&f, NULL);
	env = build("GET / HTTP/1.1\r\n\r\n", &req, &f, path_only,
	    server_env);
	if (CHECK(env != NULL))
		CHECK(env_get(env, "TERM") == NULL);	/* no terminal */
	done(env, &req);
	f.pty = true;
	env = build("GET / HTTP/1.1\r\nTerm: x\r\n\r\n", &req, &f,
	    path_only, server_env);
	if (CHECK(env != NULL)) {
		CHECK(env_well_formed(env));
		CHECK_STR(env_get(env, "TERM"), "xterm-256color");
		CHECK_STR(env_get(env, "HTTP_TERM"), "x");
	}
	done(env, &req);
	env = build("GET / HTTP/1.1\r\n\r\n", &req, &f, with_term,
	    server_env);
	if (CHECK(env != NULL)) {
		CHECK(env_well_formed(env));
		CHECK_STR(env_get(env, "TERM"), "vt100");
	}
	done(env, &req);
	/* Named but not set in the server: the default still. */
	env = build("GET / HTTP/1.1\r\n\r\n", &req, &f, with_term,
	    no_term_env);
	if (CHECK(env != NULL))
		CHECK_STR(env_get(env, "TERM"), "xterm-256color");
	done(env, &req);
}

static void
test_ownership(void)
{
	struct http_request	 req;
	struct env_facts	 f;
	char			**env;
	char			 addr[] = "198.51.100.9";
	char			 var[] = "PATH=/x";
	char *const		 src[] = { var, NULL };
	char *const		 names[] = { "PATH", NULL };

	default_facts(&f, NULL);
	f.remote_addr = addr;
	env = build("GET /own?q HTTP/1.1\r\nX-A: b\r\n\r\n", &req, &f, names,
	    src);
	if (!CHECK(env != NULL))
		return;
	http_request_free(&req);
	memset(addr, 'X', sizeof addr - 1);
	memset(var, 'Y', sizeof var - 1);
	CHECK_STR(env_get(env, "REMOTE_ADDR"), "198.51.100.9");
	CHECK_STR(env_get(env, "PATH"), "/x");
	CHECK_STR(env_get(env, "REQUEST_URI"), "/own?q");
	CHECK_STR(env_get(env, "HTTP_X_A"), "b");
	env_free(env);
	env_free(NULL);		/* harmless */
}

int
main(void)
{
	test_facts();
	test_server_name();
	test_target_split();
	test_https();
	test_headers();
	test_many_and_long_headers();
	test_passenv();
	test_ownership();
	test_pty_term();
	return unit_done();
}
