/*
 * config.c: command-line parsing (long, single-dash, "=value" and separate
 * value forms, booleans, ranges, "--" and the first word of COMMAND), the
 * one-line error messages, and the PATH search of config_resolve_command.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/config.h"
#include "../../src/options.h"
#include "unit.h"

/* argv/argc for config_parse from a list of words after "wsbridge". */
#define ARGV(...)	((char *[]){ "wsbridge", __VA_ARGS__, NULL })
#define ARGC(...)	((int)(sizeof((char *[]){ "wsbridge", __VA_ARGS__ }) / \
			    sizeof(char *)))
#define PARSE(c, err, ...) \
	config_parse((c), ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), (err), \
	    sizeof(err))

/*
 * The words must fail with one line of text that starts with prefix: the
 * flag's name, or what is wrong.
 */
#define CHECK_FAILS(prefix, ...) do {					\
	struct config	 fc_;						\
	char		 fe_[512];					\
									\
	memset(fe_, 0, sizeof fe_);					\
	CHECK_EQ_INT(PARSE(&fc_, fe_, __VA_ARGS__), -1);		\
	CHECK_PREFIX(fe_, (prefix));					\
	CHECK(strchr(fe_, '\n') == NULL);				\
	config_free(&fc_);						\
} while (0)

/* The words parse, then the statement s is run with c set. */
#define WITH_PARSE(c, s, ...) do {					\
	struct config	 c;						\
	char		 pe_[512] = "";					\
									\
	if (CHECK_EQ_INT(PARSE(&c, pe_, __VA_ARGS__), 0)) {		\
		s;							\
	} else								\
		fprintf(stderr, "  error: %s\n", pe_);			\
	config_free(&c);						\
} while (0)

static void
test_defaults(void)
{
	struct config	 c;
	char		 err[256] = "";

	CHECK_EQ_INT(PARSE(&c, err, "cat"), 0);
	CHECK_STR(err, "");
	CHECK_EQ_INT(c.action, ACTION_SERVE);
	CHECK_EQ_INT(c.port, 80);
	CHECK_EQ_INT(c.naddresses, 0);
	CHECK(c.addresses[0] == NULL);
	CHECK_EQ_INT(c.binary, 0);
	CHECK_STR(c.passenv[0], "PATH");
	CHECK_STR(c.passenv[1], "LD_LIBRARY_PATH");
	CHECK(c.passenv[2] == NULL);
	CHECK_EQ_INT(c.closems, 1000);
	CHECK_EQ_INT(c.max_message, 16777216);
	CHECK_EQ_INT(c.queue_limit, 256 * 1024);
	CHECK_EQ_INT(c.loglevel, LL_ACCESS);
	CHECK(c.command != NULL);
	CHECK_STR(c.command[0], "cat");
	CHECK(c.command[1] == NULL);
	CHECK(c.command_path == NULL);
	config_free(&c);
	/* config_free twice is harmless. */
	config_free(&c);
}

static void
test_value_forms(void)
{
	/* --opt=value, --opt value, -opt=value, -opt value. */
	WITH_PARSE(c, CHECK_EQ_INT(c.port, 8080), "--port=8080", "cat");
	WITH_PARSE(c, CHECK_EQ_INT(c.port, 8080), "--port", "8080", "cat");
	WITH_PARSE(c, CHECK_EQ_INT(c.port, 8080), "-port=8080", "cat");
	WITH_PARSE(c, CHECK_EQ_INT(c.port, 8080), "-port", "8080", "cat");
	/* The separate value is taken whatever it looks like. */
	WITH_PARSE(c, CHECK_STR(c.passenv[0], "-x"), "--passenv", "-x", "cat");
	WITH_PARSE(c, CHECK_STR(c.passenv[0], "--"), "--passenv", "--", "cat");
	/* The last of a repeated flag wins. */
	WITH_PARSE(c, CHECK_EQ_INT(c.port, 2), "--port=1", "--port=2", "cat");
	WITH_PARSE(c, CHECK_EQ_INT(c.closems, 5),
	    "--closems=9", "-closems", "5", "cat");
	/* A value that itself has '='. */
	WITH_PARSE(c, CHECK_EQ_INT(c.loglevel, LL_INFO),
	    "--loglevel=info", "cat");
	/* Every flag together. */
	WITH_PARSE(c, {
		CHECK_EQ_INT(c.action, ACTION_SERVE);
		CHECK_EQ_INT(c.port, 0);
		CHECK_EQ_INT(c.naddresses, 2);
		CHECK_STR(c.addresses[0], "127.0.0.1");
		CHECK_STR(c.addresses[1], "[::1]");
		CHECK(c.addresses[2] == NULL);
		CHECK_EQ_INT(c.binary, 1);
		CHECK_STR(c.passenv[0], "HOME");
		CHECK(c.passenv[1] == NULL);
		CHECK_EQ_INT(c.closems, 0);
		CHECK_EQ_INT(c.max_message, 1024);
		CHECK_EQ_INT(c.loglevel, LL_DEBUG);
		CHECK_STR(c.command[0], "/bin/echo");
		CHECK_STR(c.command[1], "hi");
		CHECK(c.command[2] == NULL);
	}, "--port=0", "-address", "127.0.0.1", "--address=[::1]",
	    "-binary", "--passenv", "HOME", "-closems=0",
	    "--maxframesize", "1024", "--loglevel=debug", "/bin/echo", "hi");
}

static void
test_port(void)
{
	WITH_PARSE(c, CHECK_EQ_INT(c.port, 0), "--port=0", "cat");
	WITH_PARSE(c, CHECK_EQ_INT(c.port, 1), "--port=1", "cat");
	WITH_PARSE(c, CHECK_EQ_INT(c.port, 65535), "--port=65535", "cat");
	WITH_PARSE(c, CHECK_EQ_INT(c.port, 80), "--port=080", "cat");

	CHECK_FAILS("--port", "--port=65536", "cat");
	CHECK_FAILS("--port", "--port=-1", "cat");
	CHECK_FAILS("--port", "--port=+80", "cat");
	CHECK_FAILS("--port", "--port= 80", "cat");
	CHECK_FAILS("--port", "--port=80 ", "cat");
	CHECK_FAILS("--port", "--port=80x", "cat");
	CHECK_FAILS("--port", "--port=0x50", "cat");
	CHECK_FAILS("--port", "--port=http", "cat");
	CHECK_FAILS("--port", "--port=", "cat");
	CHECK_FAILS("--port", "--port=1e3", "cat");
	CHECK_FAILS("--port", "--port=99999999999999999999999999", "cat");
	CHECK_FAILS("--port", "--port=18446744073709551616", "cat");
	CHECK_FAILS("--port", "-port=x", "cat");
	/* "--port cat": cat is the value, and not a number. */
	CHECK_FAILS("--port", "--port", "cat");
	/* No value at all. */
	CHECK_FAILS("--port", "--port");
	CHECK_FAILS("--port", "-port");
	{
		struct config	 c;
		char		 err[256];

		CHECK_EQ_INT(PARSE(&c, err, "--port=99999", "cat"), -1);
		CHECK_CONTAINS(err, "99999");	/* names the bad value */
		config_free(&c);
		CHECK_EQ_INT(PARSE(&c, err, "--port"), -1);
		CHECK_CONTAINS(err, "needs a value");
		config_free(&c);
	}
}

static void
test_address(void)
{
	char	 buf[CONFIG_MAX_ADDRESSES + 1][16];
	char	*argv[2 * (CONFIG_MAX_ADDRESSES + 1) + 3];
	struct config	 cfg;
	char	 err[256];
	int	 i, argc;

	WITH_PARSE(c, {
		CHECK_EQ_INT(c.naddresses, 1);
		CHECK_STR(c.addresses[0], "127.0.0.1");
	}, "--address=127.0.0.1", "cat");
	WITH_PARSE(c, CHECK_STR(c.addresses[0], "[::1]"),
	    "--address=[::1]", "cat");
	WITH_PARSE(c, CHECK_STR(c.addresses[0], "[::]"),
	    "--address=[::]", "cat");
	WITH_PARSE(c, CHECK_STR(c.addresses[0], "[fe80::1%eth0]"),
	    "--address=[fe80::1%eth0]", "cat");
	WITH_PARSE(c, CHECK_STR(c.addresses[0], "localhost"),
	    "--address", "localhost", "cat");
	WITH_PARSE(c, CHECK_STR(c.addresses[0], "0.0.0.0"),
	    "-address=0.0.0.0", "cat");
	/* Repeatable, in order. */
	WITH_PARSE(c, {
		CHECK_EQ_INT(c.naddresses, 3);
		CHECK_STR(c.addresses[0], "127.0.0.1");
		CHECK_STR(c.addresses[1], "[::1]");
		CHECK_STR(c.addresses[2], "localhost");
		CHECK(c.addresses[3] == NULL);
	}, "--address=127.0.0.1", "--address", "[::1]",
	    "-address=localhost", "cat");

	CHECK_FAILS("--address", "--address=", "cat");
	CHECK_FAILS("--address", "--address=[::1", "cat");
	CHECK_FAILS("--address", "--address=::1]", "cat");
	CHECK_FAILS("--address", "--address=[]", "cat");
	CHECK_FAILS("--address", "--address=[::1]:80", "cat");
	CHECK_FAILS("--address", "--address=[[::1]", "cat");
	CHECK_FAILS("--address", "--address=a b", "cat");
	CHECK_FAILS("--address", "--address=a/b", "cat");
	CHECK_FAILS("--address", "--address=127.0.0.1[", "cat");
	CHECK_FAILS("--address", "--address");
	{
		char	 longname[300];

		memset(longname, 'a', sizeof longname - 1);
		longname[sizeof longname - 1] = '\0';
		CHECK_FAILS("--address", "--address", longname, "cat");
	}

	/* CONFIG_MAX_ADDRESSES is fine, one more is not. */
	argc = 0;
	argv[argc++] = "wsbridge";
	for (i = 0; i < CONFIG_MAX_ADDRESSES; i++) {
		snprintf(buf[i], sizeof buf[i], "127.0.0.%d", i + 1);
		argv[argc++] = "--address";
		argv[argc++] = buf[i];
	}
	argv[argc++] = "cat";
	argv[argc] = NULL;
	if (CHECK_EQ_INT(config_parse(&cfg, argc, argv, err, sizeof err), 0)) {
		CHECK_EQ_INT(cfg.naddresses, CONFIG_MAX_ADDRESSES);
		CHECK_STR(cfg.addresses[CONFIG_MAX_ADDRESSES - 1], "127.0.0.16");
		CHECK(cfg.addresses[CONFIG_MAX_ADDRESSES] == NULL);
	}
	config_free(&cfg);
	argc--;
	snprintf(buf[i], sizeof buf[i], "127.0.0.%d", i + 1);
	argv[argc++] = "--address";
	argv[argc++] = buf[i];
	argv[argc++] = "cat";
	argv[argc] = NULL;
	CHECK_EQ_INT(config_parse(&cfg, argc, argv, err, sizeof err), -1);
	CHECK_PREFIX(err, "--address");
	config_free(&cfg);
}

static void
test_binary(void)
{
	/* Not const: config_parse takes argv as main gets it. */
	static char *const yes[] = {
		"--binary", "-binary", "--binary=true", "--binary=TRUE",
		"--binary=True", "--binary=1", "--binary=yes", "--binary=YES",
		"--binary=t", "--binary=T", "-binary=true",
	};
	static char *const no[] = {
		"--binary=false", "--binary=FALSE", "--binary=0",
		"--binary=no", "--binary=No", "--binary=f", "--binary=F",
		"-binary=false",
	};
	size_t	 i;

	for (i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		UNIT_CTX("%s", yes[i]);
		WITH_PARSE(c, CHECK_EQ_INT(c.binary, 1), yes[i], "cat");
	}
	for (i = 0; i < sizeof no / sizeof no[0]; i++) {
		UNIT_CTX("%s", no[i]);
		WITH_PARSE(c, CHECK_EQ_INT(c.binary, 0), no[i], "cat");
		/* false after true turns it back off */
		WITH_PARSE(c, CHECK_EQ_INT(c.binary, 0), "--binary",
		    no[i], "cat");
	}
	UNIT_CTX_CLEAR();
	/* A boolean never takes the next word: "false" is the command. */
	WITH_PARSE(c, {
		CHECK_EQ_INT(c.binary, 1);
		CHECK_STR(c.command[0], "false");
	}, "--binary", "false");
	WITH_PARSE(c, {
		CHECK_EQ_INT(c.binary, 1);
		CHECK_STR(c.command[0], "cat");
	}, "--binary", "cat");

	CHECK_FAILS("--binary", "--binary=maybe", "cat");
	CHECK_FAILS("--binary", "--binary=", "cat");
	CHECK_FAILS("--binary", "--binary=2", "cat");
	CHECK_FAILS("--binary", "--binary=truex", "cat");
	CHECK_FAILS("--binary", "--binary= true", "cat");
	CHECK_FAILS("--binary", "-binary=on", "cat");
}

static void
test_passenv(void)
{
	char	 list[64 * 4 + 8], *p;
	int	 i;

	WITH_PARSE(c, {
		CHECK_STR(c.passenv[0], "A");
		CHECK_STR(c.passenv[1], "B_2");
		CHECK_STR(c.passenv[2], "c");
		CHECK(c.passenv[3] == NULL);
	}, "--passenv=A,B_2,c", "cat");
	/* Empty: nothing at all passes, not even PATH. */
	WITH_PARSE(c, CHECK(c.passenv[0] == NULL), "--passenv=", "cat");
	WITH_PARSE(c, CHECK(c.passenv[0] == NULL), "--passenv", "", "cat");
	WITH_PARSE(c, CHECK(c.passenv[0] == NULL), "--passenv=,,,", "cat");
	/* Empty items are skipped. */
	WITH_PARSE(c, {
		CHECK_STR(c.passenv[0], "A");
		CHECK_STR(c.passenv[1], "B");
		CHECK(c.passenv[2] == NULL);
	}, "--passenv=,A,,B,", "cat");
	/* The last --passenv replaces the list. */
	WITH_PARSE(c, {
		CHECK_STR(c.passenv[0], "Y");
		CHECK(c.passenv[1] == NULL);
	}, "--passenv=X,Z", "--passenv", "Y", "cat");

	CHECK_FAILS("--passenv", "--passenv=A=1", "cat");
	CHECK_FAILS("--passenv", "--passenv=PATH,X=", "cat");
	CHECK_FAILS("--passenv", "--passenv");

	/* CONFIG_MAX_PASSENV names are fine, one more is not. */
	p = list;
	for (i = 0; i < CONFIG_MAX_PASSENV; i++)
		p += sprintf(p, "%sV%d", i ? "," : "", i);
	WITH_PARSE(c, {
		CHECK_STR(c.passenv[CONFIG_MAX_PASSENV - 1], "V63");
		CHECK(c.passenv[CONFIG_MAX_PASSENV] == NULL);
	}, "--passenv", list, "cat");
	sprintf(p, ",V%d", i);
	CHECK_FAILS("--passenv", "--passenv", list, "cat");
}

static void
test_numbers(void)
{
	WITH_PARSE(c, CHECK_EQ_INT(c.closems, 0), "--closems=0", "cat");
	WITH_PARSE(c, CHECK_EQ_INT(c.closems, 3600000), "--closems=3600000",
	    "cat");
	WITH_PARSE(c, CHECK_EQ_INT(c.closems, 250), "-closems", "250", "cat");
	CHECK_FAILS("--closems", "--closems=3600001", "cat");
	CHECK_FAILS("--closems", "--closems=-5", "cat");
	CHECK_FAILS("--closems", "--closems=1.5", "cat");
	CHECK_FAILS("--closems", "--closems=1s", "cat");
	CHECK_FAILS("--closems", "--closems=", "cat");
	CHECK_FAILS("--closems", "--closems=4294967296", "cat");
	CHECK_FAILS("--closems", "--closems");

	WITH_PARSE(c, CHECK_EQ_INT(c.max_message, 1), "--maxframesize=1",
	    "cat");
	WITH_PARSE(c, CHECK_EQ_INT(c.max_message, 1073741824),
	    "--maxframesize=1073741824", "cat");
	WITH_PARSE(c, CHECK_EQ_INT(c.max_message, 65536),
	    "-maxframesize", "65536", "cat");
	CHECK_FAILS("--maxframesize", "--maxframesize=0", "cat");
	CHECK_FAILS("--maxframesize", "--maxframesize=1073741825", "cat");
	CHECK_FAILS("--maxframesize", "--maxframesize=1k", "cat");
	CHECK_FAILS("--maxframesize", "--maxframesize=-1", "cat");
	CHECK_FAILS("--maxframesize", "--maxframesize=", "cat");
	CHECK_FAILS("--maxframesize", "--maxframesize");
	/* The queue always holds at least one longest line. */
	WITH_PARSE(c, CHECK(c.queue_limit >= 64 * 1024),
	    "--maxframesize=1", "cat");
}

static void
test_loglevel(void)
{
	static const struct {
		const char	*name;
		enum log_level	 level;
	} levels[] = {
		{ "debug", LL_DEBUG }, { "trace", LL_TRACE },
		{ "access", LL_ACCESS }, { "info", LL_INFO },
		{ "error", LL_ERROR }, { "fatal", LL_FATAL },
	};
	enum log_level	 l;
	char		 upper[16], arg[32];
	size_t		 i, j;

	/* The order of verbosity. */
	CHECK(LL_DEBUG < LL_TRACE && LL_TRACE < LL_ACCESS &&
	    LL_ACCESS < LL_INFO && LL_INFO < LL_ERROR && LL_ERROR < LL_FATAL);
	for (i = 0; i < sizeof levels / sizeof levels[0]; i++) {
		UNIT_CTX("%s", levels[i].name);
		l = (enum log_level)-1;
		CHECK_EQ_INT(config_parse_loglevel(levels[i].name, &l), 0);
		CHECK_EQ_INT(l, levels[i].level);
		CHECK_STR(config_loglevel_name(levels[i].level),
		    levels[i].name);
		for (j = 0; levels[i].name[j] != '\0'; j++)
			upper[j] = (char)(levels[i].name[j] - 'a' + 'A');
		upper[j] = '\0';
		l = (enum log_level)-1;
		CHECK_EQ_INT(config_parse_loglevel(upper, &l), 0);
		CHECK_EQ_INT(l, levels[i].level);
		snprintf(arg, sizeof arg, "--loglevel=%s", levels[i].name);
		WITH_PARSE(c, CHECK_EQ_INT(c.loglevel, levels[i].level), arg,
		    "cat");
	}
	UNIT_CTX_CLEAR();
	l = LL_INFO;
	CHECK_EQ_INT(config_parse_loglevel("verbose", &l), -1);
	CHECK_EQ_INT(config_parse_loglevel("", &l), -1);
	CHECK_EQ_INT(config_parse_loglevel("inf", &l), -1);
	CHECK_EQ_INT(config_parse_loglevel("information", &l), -1);
	CHECK_EQ_INT(l, LL_INFO);	/* untouched on failure */

	CHECK_FAILS("--loglevel", "--loglevel=verbose", "cat");
	CHECK_FAILS("--loglevel", "--loglevel=", "cat");
	CHECK_FAILS("--loglevel", "--loglevel=3", "cat");
	CHECK_FAILS("--loglevel", "--loglevel");
}

static void
test_actions(void)
{
	/* help/version/license need no command. */
	WITH_PARSE(c, CHECK_EQ_INT(c.action, ACTION_HELP), "--help");
	WITH_PARSE(c, CHECK_EQ_INT(c.action, ACTION_HELP), "-help");
	WITH_PARSE(c, CHECK_EQ_INT(c.action, ACTION_VERSION), "--version");
	WITH_PARSE(c, CHECK_EQ_INT(c.action, ACTION_LICENSE), "--license");
	WITH_PARSE(c, CHECK_EQ_INT(c.action, ACTION_HELP), "--help=true");
	WITH_PARSE(c, CHECK_EQ_INT(c.action, ACTION_HELP), "--help", "cat");
	/* =false is no request at all. */
	WITH_PARSE(c, CHECK_EQ_INT(c.action, ACTION_SERVE), "--help=false",
	    "cat");
	WITH_PARSE(c, CHECK_EQ_INT(c.action, ACTION_SERVE),
	    "--version=0", "--license=no", "cat");
	CHECK_FAILS("no COMMAND", "--help=false");
	/* help beats the others, in either order; else the first wins. */
	WITH_PARSE(c, CHECK_EQ_INT(c.action, ACTION_HELP), "--version",
	    "--help");
	WITH_PARSE(c, CHECK_EQ_INT(c.action, ACTION_HELP), "--help",
	    "--version");
	WITH_PARSE(c, CHECK_EQ_INT(c.action, ACTION_HELP), "--license",
	    "--help");
	WITH_PARSE(c, CHECK_EQ_INT(c.action, ACTION_VERSION), "--version",
	    "--license");
	WITH_PARSE(c, CHECK_EQ_INT(c.action, ACTION_LICENSE), "--license",
	    "--version");
	/* Bad flags are still errors next to --help. */
	CHECK_FAILS("--help", "--help=maybe");
	CHECK_FAILS("--port", "--help", "--port=x");
	CHECK_FAILS("unknown option", "--help", "--nope");

}

/* --help, as main prints it; the caller frees it. */
static char *
usage_text(void)
{
	FILE	*fp;
	char	*text = NULL;
	size_t	 len = 0;

	if ((fp = open_memstream(&text, &len)) == NULL)
		return NULL;
	options_usage(fp);
	fclose(fp);
	return text;
}

/* A file of the source tree: make check exports srcdir. */
static char *
source_file(const char *name)
{
	const char	*srcdir = getenv("srcdir");
	char		 path[PATH_MAX], *text = NULL;
	size_t		 cap = 0;
	FILE		*fp;
	ssize_t		 n;

	snprintf(path, sizeof path, "%s/%s", srcdir ? srcdir : ".", name);
	if ((fp = fopen(path, "r")) == NULL) {
		fprintf(stderr, "%s: %s (run from the build dir or set "
		    "srcdir)\n", path, strerror(errno));
		return NULL;
	}
	n = getdelim(&text, &cap, '\0', fp);
	fclose(fp);
	if (n <= 0) {
		free(text);
		return NULL;
	}
	return text;
}

/* "--name" followed by something that cannot continue a flag's name. */
static bool
names_flag(const char *text, const char *prefix, const char *name)
{
	char		 needle[64];
	const char	*p;
	size_t		 n;

	n = (size_t)snprintf(needle, sizeof needle, "%s%s", prefix, name);
	for (p = text; (p = strstr(p, needle)) != NULL; p += n) {
		if (p[n] != '-' && (p[n] < 'a' || p[n] > 'z'))
			return true;
	}
	return false;
}

/* Rows the parser, --help and the mode checks rely on. */
static void
test_table_rows(void)
{
	const struct option_entry	*o, *p;
	size_t				 n = 0;

	for (o = options_table; o->name != NULL; o++, n++) {
		UNIT_CTX("--%s", o->name);
		CHECK(o->name[0] >= 'a' && o->name[0] <= 'z');
		CHECK(strspn(o->name, "abcdefghijklmnopqrstuvwxyz-") ==
		    strlen(o->name));
		for (p = options_table; p < o; p++)
			CHECK(strcmp(p->name, o->name) != 0);
		CHECK(o->mode == OPTION_SERVER || o->mode == OPTION_CLIENT ||
		    o->mode == OPTION_BOTH);
		CHECK(o->help != NULL || o->client_help != NULL);
		/* No help of its own: it shares the line of the row above. */
		if (o->help != NULL)
			CHECK(o->help[0] != '\0');
		else
			CHECK(o > options_table && o[-1].group == o->group);
		/* The client section lists client rows with their own help. */
		if (o->group == OPTION_GROUP_CLIENT)
			CHECK(o->mode == OPTION_CLIENT && o->help != NULL);
		/*
		 * A main row that means something else to a client (--pty)
		 * has a line of its own under "Client mode", client_help;
		 * the others are only named in the note on shared ones.
		 */
		if (o->mode == OPTION_CLIENT)
			CHECK(o->group != OPTION_GROUP_MAIN);
		if (o->kind == OPTION_CUSTOM)
			CHECK(o->parse != NULL);
		/* The sizes options.c knows how to store. */
		if (o->kind == OPTION_NUMBER || o->kind == OPTION_CHOICE)
			CHECK(o->size == sizeof(unsigned) ||
			    o->size == sizeof(size_t));
		if (o->kind == OPTION_FLAG && o->parse == NULL)
			CHECK_EQ_INT(o->size, sizeof(bool));
		if (o->kind == OPTION_STRING)
			CHECK_EQ_INT(o->size, sizeof(const char *));
		if (o->kind == OPTION_CHOICE)
			CHECK(o->choices != NULL && o->size > 0);
		if (o->kind == OPTION_NUMBER) {
			CHECK(o->what != NULL && o->size > 0);
			CHECK(o->minimum <= o->maximum);
			/* 0 as the default means off (no --redirport). */
			CHECK(o->default_number == 0 ||
			    (o->default_number >= o->minimum &&
			    o->default_number <= o->maximum));
		}
		if (o->kind == OPTION_FLAG || o->kind == OPTION_CUSTOM)
			CHECK(o->arg == NULL || o->kind == OPTION_CUSTOM ||
			    strcmp(o->arg, "[=BOOL]") == 0);
		else
			CHECK(o->arg != NULL && o->arg[0] == '=');
	}
	UNIT_CTX_CLEAR();
	/* One bit each in struct config's "given". */
	CHECK(n <= sizeof(((struct config *)NULL)->given) * 8);
	CHECK(options_find("port", 4) != NULL);
	CHECK(options_find("port=1", 4) != NULL);
	CHECK(options_find("por", 3) == NULL);
	CHECK(options_find("", 0) == NULL);
}

/* --help and the man page name every flag of the table. */
static void
test_table_documented(void)
{
	const struct option_entry	*o;
	char				*usage = usage_text(), *man;
	const char			*note, *start;

	man = source_file("man/wsbridge.1");
	if (!CHECK(usage != NULL) || !CHECK(man != NULL))
		goto out;
	CHECK_PREFIX(usage, "Usage: wsbridge");
	for (o = options_table; o->name != NULL; o++) {
		UNIT_CTX("--%s", o->name);
		CHECK(names_flag(usage, "  --", o->name) ||
		    names_flag(usage, " --", o->name));
		/* mdoc spells --port as "Fl -port". */
		CHECK(names_flag(man, "Fl -", o->name));
	}
	UNIT_CTX_CLEAR();
	/* A row with a client line of its own is not "shared" as well. */
	note = strstr(usage, "apply to client mode too");
	start = note != NULL ? memrchr(usage, '(', (size_t)(note - usage)) :
	    NULL;
	if (CHECK(start != NULL)) {
		CHECK(memmem(start, (size_t)(note - start), "--binary", 8) !=
		    NULL);
		CHECK(memmem(start, (size_t)(note - start), "--pty", 5) ==
		    NULL);
	}
out:
	free(usage);
	free(man);
}

/*
 * The other mode's flags are refused only when they would do something,
 * one message naming the group, as before the table.
 */
static void
test_modes(void)
{
	CHECK_FAILS("--connect is a client: --port, --address, --unixsocket, "
	    "--uid, --gid, --trusted-proxy and --metrics are server options",
	    "--connect=ws://h/", "--port=80");
	CHECK_FAILS("--connect is a client: --dir, --staticdir, --cgidir, "
	    "--devconsole, --maxforks, --sameorigin, --redirport, "
	    "--reverselookup, --passstderr, --deflate and --ssl are server "
	    "options", "--connect=ws://h/", "--maxforks=3");
	CHECK_FAILS("--connect is a client: --passenv is a server option",
	    "--connect=ws://h/", "--passenv=HOME");
	CHECK_FAILS("--connect is a client: --header-ws and --header-http",
	    "--connect=ws://h/", "--header-http=X: y");
	CHECK_FAILS("--connect is a client: --dir", "--connect=ws://h/",
	    "--ssl");
	CHECK_FAILS("--insecure and --connect-timeout are client options: "
	    "use them with --connect", "--connect-timeout=10", "cat");
	CHECK_FAILS("--insecure and --connect-timeout are client options",
	    "--insecure", "cat");
	/* Turned off, or an empty list: nothing to refuse. */
	WITH_PARSE(c, CHECK_EQ_INT(c.maxforks, 0), "--connect=ws://h/",
	    "--maxforks=0", "--ssl=false", "--devconsole=no");
	WITH_PARSE(c, CHECK(c.proxies[0] == NULL), "--connect=ws://h/",
	    "--trusted-proxy=1.2.3.4", "--trusted-proxy=");
	WITH_PARSE(c, CHECK(!c.insecure), "--insecure=false", "cat");
	CHECK_FAILS("--eof-wait is a client option: use it with --connect",
	    "--eof-wait=500", "cat");
	WITH_PARSE(c, CHECK_EQ_INT(c.eof_wait_ms, 2000), "--connect=ws://h/");
	WITH_PARSE(c, CHECK_EQ_INT(c.eof_wait_ms, 0), "--connect=ws://h/",
	    "--eof-wait=0");
	CHECK_FAILS("--eof-wait: '-1' is not a number of milliseconds",
	    "--connect=ws://h/", "--eof-wait=-1");
	/* --pty: a client without COMMAND, always in bytes. */
	WITH_PARSE(c, CHECK(c.pty && c.binary && c.command == NULL),
	    "--connect=ws://h/", "--pty");
	WITH_PARSE(c, CHECK(!c.pty && !c.binary), "--connect=ws://h/",
	    "--pty=false");
	CHECK_FAILS("--pty with --connect makes our own terminal the local "
	    "end: no COMMAND", "--connect=ws://h/", "--pty", "cat");
	/* Both modes. */
	WITH_PARSE(c, CHECK_EQ_INT(c.loglevel, LL_ERROR), "--connect=ws://h/",
	    "--binary", "--closems=5", "--protocol=p", "--header=A: b");
	WITH_PARSE(c, CHECK_EQ_INT(c.loglevel, LL_INFO), "--connect=ws://h/",
	    "--loglevel=info");
	WITH_PARSE(c, CHECK(c.port_given), "--port=80", "cat");
	WITH_PARSE(c, CHECK(!c.port_given), "cat");
}

static void
test_unknown_and_command(void)
{
	struct config	 cfg;
	char		 err[256];

	CHECK_FAILS("unknown option", "--nope", "cat");
	CHECK_FAILS("unknown option", "-x", "cat");
	CHECK_FAILS("unknown option", "---port=1", "cat");
	CHECK_FAILS("unknown option", "--Port=1", "cat");
	CHECK_FAILS("unknown option", "--por=1", "cat");
	CHECK_FAILS("unknown option", "--portx=1", "cat");
	CHECK_FAILS("unknown option", "--=1", "cat");
	CHECK_FAILS("unknown option", "-5", "cat");
	/* The message names the flag, without its value. */
	CHECK_EQ_INT(PARSE(&cfg, err, "--nope=secret", "cat"), -1);
	CHECK_CONTAINS(err, "'--nope'");
	CHECK(strstr(err, "secret") == NULL);
	config_free(&cfg);
	CHECK_EQ_INT(PARSE(&cfg, err, "-nope", "cat"), -1);
	CHECK_CONTAINS(err, "'-nope'");
	config_free(&cfg);

	/* No command. */
	{
		char	*argv[] = { "wsbridge", NULL };

		CHECK_EQ_INT(config_parse(&cfg, 1, argv, err, sizeof err), -1);
		CHECK_PREFIX(err, "no COMMAND");
		config_free(&cfg);
	}
	CHECK_FAILS("no COMMAND", "--port=1");
	CHECK_FAILS("no COMMAND", "--binary");
	CHECK_FAILS("no COMMAND", "--");
	CHECK_FAILS("no COMMAND", "--port=1", "--");

	/* The first non-option word starts COMMAND; the rest is its own. */
	WITH_PARSE(c, {
		CHECK_EQ_INT(c.port, 80);
		CHECK_EQ_INT(c.binary, 0);
		CHECK_STR(c.command[0], "cat");
		CHECK_STR(c.command[1], "--port=1");
		CHECK_STR(c.command[2], "-binary");
		CHECK_STR(c.command[3], "--");
		CHECK_STR(c.command[4], "--nope");
		CHECK(c.command[5] == NULL);
	}, "cat", "--port=1", "-binary", "--", "--nope");
	/* "--" ends options: what follows is COMMAND even if it looks like one. */
	WITH_PARSE(c, {
		CHECK_EQ_INT(c.port, 80);
		CHECK_STR(c.command[0], "--port=1");
		CHECK(c.command[1] == NULL);
	}, "--", "--port=1");
	WITH_PARSE(c, {
		CHECK_EQ_INT(c.port, 9);
		CHECK_STR(c.command[0], "cat");
		CHECK_STR(c.command[1], "-n");
		CHECK(c.command[2] == NULL);
	}, "--port=9", "--", "cat", "-n");
	WITH_PARSE(c, CHECK_STR(c.command[0], "--"), "--", "--");
	/* A lone "-" is a word, not a flag. */
	WITH_PARSE(c, {
		CHECK_STR(c.command[0], "-");
		CHECK_STR(c.command[1], "x");
	}, "-", "x");
	/* COMMAND points into argv: no copy is needed. */
	{
		char	*argv[] = { "wsbridge", "--port=1", "cat", "a", NULL };

		if (CHECK_EQ_INT(config_parse(&cfg, 4, argv, err, sizeof err),
		    0))
			CHECK(cfg.command == &argv[2]);
		config_free(&cfg);
	}
	/* argc is honoured even if argv goes on. */
	{
		char	*argv[] = { "wsbridge", "--port=1", "cat", NULL };

		CHECK_EQ_INT(config_parse(&cfg, 2, argv, err, sizeof err), -1);
		CHECK_PREFIX(err, "no COMMAND");
		config_free(&cfg);
	}
}

static void
test_error_buffer(void)
{
	struct config	 c;
	char		 err[16];

	/* A small buffer: cut, terminated, nothing written past it. */
	memset(err, 'Z', sizeof err);
	CHECK_EQ_INT(config_parse(&c, 3, ARGV("--port=banana", "cat"), err,
	    8), -1);
	CHECK_STR(err, "--port:");
	CHECK_EQ_INT(err[8], 'Z');
	config_free(&c);
	/* The struct can be parsed into again after a failure. */
	CHECK_EQ_INT(PARSE(&c, err, "--port=1", "cat"), 0);
	CHECK_EQ_INT(c.port, 1);
	config_free(&c);
}

/* ------------------------------------------------------------------ */
/* config_resolve_command */

static char	 tmpdir[256];

static int
make_file(const char *dir, const char *name, mode_t mode)
{
	char	 path[PATH_MAX];
	int	 fd;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1)
		return -1;
	if (write(fd, "#!/bin/sh\nexit 0\n", 17) != 17) {
		close(fd);
		return -1;
	}
	if (fchmod(fd, mode) == -1) {
		close(fd);
		return -1;
	}
	return close(fd);
}

static int
resolve(const char *cmd, const char *path_env, char *err, size_t errlen,
    char *found, size_t foundlen)
{
	struct config	 c;
	char		 cmdbuf[PATH_MAX], *argv[2];
	int		 rc;

	memset(&c, 0, sizeof c);
	snprintf(cmdbuf, sizeof cmdbuf, "%s", cmd);
	argv[0] = cmdbuf;
	argv[1] = NULL;
	c.command = argv;
	err[0] = '\0';
	found[0] = '\0';
	rc = config_resolve_command(&c, path_env, err, errlen);
	if (c.command_path != NULL)
		snprintf(found, foundlen, "%s", c.command_path);
	if (rc != 0 && c.command_path != NULL)
		snprintf(err, errlen, "(failure left command_path set)");
	config_free(&c);
	return rc;
}

static void
test_resolve(void)
{
	char	 d1[300], d2[300], path[1024];
	char	 want[PATH_MAX], err[512], found[PATH_MAX];
	const char *tmp = getenv("TMPDIR");

	snprintf(tmpdir, sizeof tmpdir, "%s/wsbunit.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (!CHECK(mkdtemp(tmpdir) != NULL))
		return;
	snprintf(d1, sizeof d1, "%s/d1", tmpdir);
	snprintf(d2, sizeof d2, "%s/d2", tmpdir);
	CHECK_EQ_INT(mkdir(d1, 0700), 0);
	CHECK_EQ_INT(mkdir(d2, 0700), 0);
	CHECK_EQ_INT(make_file(d1, "wsbu-exec", 0755), 0);
	CHECK_EQ_INT(make_file(d2, "wsbu-exec", 0755), 0);
	CHECK_EQ_INT(make_file(d1, "wsbu-plain", 0644), 0);
	CHECK_EQ_INT(make_file(d1, "wsbu-later", 0644), 0);
	CHECK_EQ_INT(make_file(d2, "wsbu-later", 0700), 0);
	CHECK_EQ_INT(mkdir(strcat(strcpy(want, d1), "/wsbu-dir"), 0755), 0);

	/* Found in PATH: the first directory that has it. */
	snprintf(path, sizeof path, "%s:%s", d1, d2);
	CHECK_EQ_INT(resolve("wsbu-exec", path, err, sizeof err, found,
	    sizeof found), 0);
	snprintf(want, sizeof want, "%s/wsbu-exec", d1);
	CHECK_STR(found, want);
	snprintf(path, sizeof path, "%s:%s", d2, d1);
	CHECK_EQ_INT(resolve("wsbu-exec", path, err, sizeof err, found,
	    sizeof found), 0);
	snprintf(want, sizeof want, "%s/wsbu-exec", d2);
	CHECK_STR(found, want);
	/* A non-executable file early in PATH does not hide a later one. */
	snprintf(path, sizeof path, "%s:%s", d1, d2);
	CHECK_EQ_INT(resolve("wsbu-later", path, err, sizeof err, found,
	    sizeof found), 0);
	snprintf(want, sizeof want, "%s/wsbu-later", d2);
	CHECK_STR(found, want);
	/* Missing directories in PATH are skipped. */
	snprintf(path, sizeof path, "/nonexistent/wsbu:%s", d2);
	CHECK_EQ_INT(resolve("wsbu-exec", path, err, sizeof err, found,
	    sizeof found), 0);
	snprintf(want, sizeof want, "%s/wsbu-exec", d2);
	CHECK_STR(found, want);

	/* Not found. */
	snprintf(path, sizeof path, "%s:%s", d1, d2);
	CHECK_EQ_INT(resolve("wsbu-none", path, err, sizeof err, found,
	    sizeof found), -1);
	CHECK_STR(err, "command 'wsbu-none': not found in PATH");
	CHECK_STR(found, "");
	/* A directory of that name is not a command. */
	CHECK_EQ_INT(resolve("wsbu-dir", path, err, sizeof err, found,
	    sizeof found), -1);
	CHECK_STR(err, "command 'wsbu-dir': not found in PATH");
	/* Found, but nowhere executable. */
	CHECK_EQ_INT(resolve("wsbu-plain", path, err, sizeof err, found,
	    sizeof found), -1);
	CHECK_STR(err, "command 'wsbu-plain': not executable");
	CHECK(strchr(err, '\n') == NULL);

	/* With a slash: used as is, no PATH search. */
	snprintf(want, sizeof want, "%s/wsbu-exec", d2);
	CHECK_EQ_INT(resolve(want, "/nonexistent", err, sizeof err, found,
	    sizeof found), 0);
	CHECK_STR(found, want);
	snprintf(want, sizeof want, "%s/wsbu-plain", d1);
	CHECK_EQ_INT(resolve(want, d1, err, sizeof err, found, sizeof found),
	    -1);
	CHECK_PREFIX(err, "command '");
	CHECK_CONTAINS(err, "not an executable file");
	CHECK_EQ_INT(resolve(d1, d1, err, sizeof err, found, sizeof found),
	    -1);
	CHECK_CONTAINS(err, "not an executable file");
	snprintf(want, sizeof want, "%s/wsbu-none", d1);
	CHECK_EQ_INT(resolve(want, d1, err, sizeof err, found, sizeof found),
	    -1);
	CHECK_PREFIX(err, "command '");
	CHECK_CONTAINS(err, strerror(ENOENT));
	/* "d1/wsbu-exec" relative to PATH entries is not searched. */
	CHECK_EQ_INT(resolve("d1/wsbu-exec", tmpdir, err, sizeof err, found,
	    sizeof found), -1);

	/* No PATH, or an empty one: the default search finds sh. */
	CHECK_EQ_INT(resolve("sh", NULL, err, sizeof err, found,
	    sizeof found), 0);
	CHECK(strlen(found) > 3 &&
	    strcmp(found + strlen(found) - 3, "/sh") == 0);
	CHECK(access(found, X_OK) == 0);
	CHECK_EQ_INT(resolve("sh", "", err, sizeof err, found, sizeof found),
	    0);
	CHECK(access(found, X_OK) == 0);
	/* ... but a PATH that is set is all that is searched. */
	CHECK_EQ_INT(resolve("sh", d1, err, sizeof err, found, sizeof found),
	    -1);
	CHECK_STR(err, "command 'sh': not found in PATH");
}

/*
 * An empty PATH entry means the current directory, as for execvp and
 * the shell.
 */
static void
test_resolve_empty_path_entry(void)
{
	char	 d1[300], path[1024], err[512], found[PATH_MAX];
	int	 here;

	snprintf(d1, sizeof d1, "%s/d1", tmpdir);
	if ((here = open(".", O_RDONLY | O_DIRECTORY)) == -1)
		return;
	if (CHECK_EQ_INT(chdir(d1), 0)) {
		CHECK_EQ_INT(resolve("wsbu-exec", ":/nonexistent", err,
		    sizeof err, found, sizeof found), 0);
		CHECK_STR(found, "./wsbu-exec");
		snprintf(path, sizeof path, "/nonexistent:");
		CHECK_EQ_INT(resolve("wsbu-exec", path, err, sizeof err,
		    found, sizeof found), 0);
		CHECK_STR(found, "./wsbu-exec");
		CHECK_EQ_INT(resolve("wsbu-exec", "/nonexistent::/x", err,
		    sizeof err, found, sizeof found), 0);
		CHECK_STR(found, "./wsbu-exec");
	}
	CHECK_EQ_INT(fchdir(here), 0);
	close(here);
}

static void
remove_tmpdir(void)
{
	static const char *const files[] = {
		"d1/wsbu-exec", "d2/wsbu-exec", "d1/wsbu-plain",
		"d1/wsbu-later", "d2/wsbu-later",
	};
	char	 path[PATH_MAX + 32];
	size_t	 i;

	if (tmpdir[0] == '\0')
		return;
	for (i = 0; i < sizeof files / sizeof files[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", tmpdir, files[i]);
		unlink(path);
	}
	snprintf(path, sizeof path, "%s/d1/wsbu-dir", tmpdir);
	rmdir(path);
	snprintf(path, sizeof path, "%s/d1", tmpdir);
	rmdir(path);
	snprintf(path, sizeof path, "%s/d2", tmpdir);
	rmdir(path);
	CHECK_EQ_INT(rmdir(tmpdir), 0);
}

/* --pty: binary implied, its subprotocol served, two flags refused. */
static void
test_pty(void)
{
	WITH_PARSE(c, {
		CHECK(c.pty);
		CHECK(c.binary);
		CHECK_EQ_INT((int)c.nprotocols, 1);
		CHECK_STR(c.protocols[0], "wsbridge.pty");
		CHECK(c.protocols[1] == NULL);
	}, "--pty", "bash");
	WITH_PARSE(c, {
		CHECK(c.binary);
		CHECK_EQ_INT((int)c.nprotocols, 2);
		CHECK_STR(c.protocols[0], "chat");
		CHECK_STR(c.protocols[1], "wsbridge.pty");
	}, "--pty", "--binary", "--protocol=chat", "bash");
	/* Served once, whoever named it. */
	WITH_PARSE(c, {
		CHECK_EQ_INT((int)c.nprotocols, 1);
	}, "--pty", "--protocol=WSBridge.pty", "bash");
	WITH_PARSE(c, {
		CHECK(!c.pty);
		CHECK(!c.binary);
		CHECK_EQ_INT((int)c.nprotocols, 0);
	}, "--pty=false", "bash");
	CHECK_FAILS("--pty gives the command a terminal", "--pty",
	    "--passstderr", "bash");
	CHECK_FAILS("--pty gives the command a terminal", "--unbuffer",
	    "--pty", "bash");
}

/* --basic-auth, --auth-realm, --auth-header, --password-file. */
static void
test_auth_flags(void)
{
	WITH_PARSE(c, {
		CHECK_STR(c.basic_auth, "/etc/wsb.htpasswd");
		CHECK(c.auth_realm == NULL);
		CHECK(c.auth_header == NULL);
	}, "--basic-auth=/etc/wsb.htpasswd", "cat");
	WITH_PARSE(c, {
		CHECK_STR(c.basic_auth, "pw");
		CHECK_STR(c.auth_realm, "My shell");
	}, "--basic-auth", "pw", "-auth-realm=My shell", "cat");
	WITH_PARSE(c, {
		CHECK_STR(c.auth_header, "X-Forwarded-User");
		CHECK_STR(c.proxies[0], "127.0.0.1");
		CHECK(c.basic_auth == NULL);
	}, "--trusted-proxy=127.0.0.1", "--auth-header=X-Forwarded-User",
	    "cat");
	WITH_PARSE(c, {
		CHECK_STR(c.auth_header, "X-Auth-Request-User");
		CHECK_STR(c.basic_auth, "pw");
	}, "--auth-header=X-Auth-Request-User", "--basic-auth=pw",
	    "--trusted-proxy=::1", "cat");
	WITH_PARSE(c, {
		CHECK_STR(c.password_file, "/run/pw");
	}, "--connect=ws://u@h/", "--password-file=/run/pw");

	CHECK_FAILS("--basic-auth needs a file name", "--basic-auth=", "cat");
	CHECK_FAILS("--basic-auth needs a value", "--basic-auth");
	CHECK_FAILS("--auth-realm needs --basic-auth", "--auth-realm=x", "cat");
	CHECK_FAILS("--auth-realm: not a realm", "--basic-auth=pw",
	    "--auth-realm=a\"b", "cat");
	CHECK_FAILS("--auth-realm: not a realm", "--basic-auth=pw",
	    "--auth-realm=a\\b", "cat");
	CHECK_FAILS("--auth-realm: not a realm", "--basic-auth=pw",
	    "--auth-realm=", "cat");
	CHECK_FAILS("--auth-realm: not a realm", "--basic-auth=pw",
	    "--auth-realm=a\nb", "cat");
	CHECK_FAILS("--auth-header needs --trusted-proxy",
	    "--auth-header=X-Forwarded-User", "cat");
	CHECK_FAILS("--auth-header: 'X User'", "--trusted-proxy=127.0.0.1",
	    "--auth-header=X User", "cat");
	CHECK_FAILS("--auth-header: 'X:U'", "--trusted-proxy=127.0.0.1",
	    "--auth-header=X:U", "cat");
	CHECK_FAILS("--auth-header: ''", "--trusted-proxy=127.0.0.1",
	    "--auth-header=", "cat");
	CHECK_FAILS("--auth-header: 'authorization'",
	    "--trusted-proxy=127.0.0.1", "--auth-header=authorization", "cat");
	/* Each in its own mode. */
	CHECK_FAILS("--password-file is a client option",
	    "--password-file=pw", "cat");
	CHECK_FAILS("--connect is a client: --basic-auth",
	    "--connect=ws://h/", "--basic-auth=pw");
	CHECK_FAILS("--connect is a client: --basic-auth",
	    "--connect=ws://h/", "--auth-realm=r");
	CHECK_FAILS("--connect is a client: --basic-auth",
	    "--connect=ws://h/", "--auth-header=X-User");
}

int
main(void)
{
	test_defaults();
	test_value_forms();
	test_port();
	test_address();
	test_binary();
	test_passenv();
	test_numbers();
	test_loglevel();
	test_actions();
	test_unknown_and_command();
	test_error_buffer();
	test_resolve();
	test_resolve_empty_path_entry();
	test_auth_flags();
	test_pty();
	test_table_rows();
	test_table_documented();
	test_modes();
	remove_tmpdir();
	return unit_done();
}
