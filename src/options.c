/*
 * What the options table drives: finding a flag, reading a value of each
 * kind into struct config, the defaults, which flags the command line used
 * (for the mode checks), and the --help text. The rows are in
 * options-table.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "options.h"

#define USAGE_LEFT	22	/* the "--flag=ARG" column of --help */
#define USAGE_WIDTH	72	/* where a wrapped paragraph breaks */

int
options_error(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* Truncates: the buffers are sized for what the table holds. */
static void
append(char *buf, const char *s, size_t len)
{
	size_t	 used = strlen(buf);

	if (used + 1 < len)
		snprintf(buf + used, len - used, "%s", s);
}

const struct option_entry *
options_find(const char *name, size_t len)
{
	const struct option_entry	*o;

	for (o = options_table; o->name != NULL; o++) {
		if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
			return o;
	}
	return NULL;
}

static unsigned long long
given_bit(const struct option_entry *o)
{
	return 1ULL << (o - options_table);
}

static void *
field(struct config *c, const struct option_entry *o)
{
	return (char *)c + o->offset;
}

static const void *
const_field(const struct config *c, const struct option_entry *o)
{
	return (const char *)c + o->offset;
}

/* Number fields are unsigned, int or size_t; the range fits any of them. */
static void
store_number(struct config *c, const struct option_entry *o,
    unsigned long long v)
{
	unsigned	 u = (unsigned)v;
	size_t		 z = (size_t)v;

	if (o->size == sizeof u)
		memcpy(field(c, o), &u, sizeof u);
	else
		memcpy(field(c, o), &z, sizeof z);
}

static unsigned long long
load_number(const struct config *c, const struct option_entry *o)
{
	unsigned	 u;
	size_t		 z;

	if (o->size == sizeof u) {
		memcpy(&u, const_field(c, o), sizeof u);
		return u;
	}
	memcpy(&z, const_field(c, o), sizeof z);
	return z;
}

/* As Go's strconv.ParseBool, which websocketd's flags use. */
int
options_bool(const struct option_entry *o, const char *v, bool *b,
    char *err, size_t errlen)
{
	if (v == NULL || strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0 ||
	    strcasecmp(v, "yes") == 0 || strcasecmp(v, "t") == 0) {
		*b = true;
		return 0;
	}
	if (strcasecmp(v, "false") == 0 || strcmp(v, "0") == 0 ||
	    strcasecmp(v, "no") == 0 || strcasecmp(v, "f") == 0) {
		*b = false;
		return 0;
	}
	return options_error(err, errlen, "--%s: '%s' is not true or false",
	    o->name, v);
}

static int
apply_number(struct config *c, const struct option_entry *o, const char *v,
    char *err, size_t errlen)
{
	char			*end = NULL;
	unsigned long long	 n = 0;

	/* Digits only: strtoull alone would take " 1", "+1" and "-1". */
	if (*v >= '0' && *v <= '9') {
		errno = 0;
		n = strtoull(v, &end, 10);
	}
	if (end == NULL || errno != 0 || *end != '\0' || n < o->minimum ||
	    n > o->maximum)
		return options_error(err, errlen, "--%s: '%s' is not %s "
		    "(%llu-%llu)", o->name, v, o->what, o->minimum, o->maximum);
	store_number(c, o, n);
	return 0;
}

static int
apply_choice(struct config *c, const struct option_entry *o, const char *v,
    char *err, size_t errlen)
{
	char	 list[256] = "";
	size_t	 i;

	for (i = 0; o->choices[i] != NULL; i++) {
		if (strcasecmp(v, o->choices[i]) == 0) {
			store_number(c, o, i);
			return 0;
		}
	}
	for (i = 0; o->choices[i] != NULL; i++) {
		if (i > 0)
			append(list, ", ", sizeof list);
		append(list, o->choices[i], sizeof list);
	}
	return options_error(err, errlen, "--%s: '%s' is not one of %s",
	    o->name, v, list);
}

static int
apply_value(struct config *c, const struct option_entry *o, const char *v,
    char *err, size_t errlen)
{
	bool	 b = false;	/* options_bool sets it unless it fails */

	if (o->parse != NULL)
		return o->parse(c, o, v, err, errlen);
	switch (o->kind) {
	case OPTION_FLAG:
		if (options_bool(o, v, &b, err, errlen) != 0)
			return -1;
		*(bool *)field(c, o) = b;
		return 0;
	case OPTION_NUMBER:
		return apply_number(c, o, v, err, errlen);
	case OPTION_CHOICE:
		return apply_choice(c, o, v, err, errlen);
	case OPTION_STRING:
		if (o->check != NULL && o->check(o, v, err, errlen) != 0)
			return -1;
		*(const char **)field(c, o) = v;
		return 0;
	case OPTION_CUSTOM:
		break;
	}
	return options_error(err, errlen, "--%s: no parser", o->name);
}

/*
 * Stores one flag's value (NULL for a bare FLAG) and notes that the
 * command line gave it. The strings kept point into argv.
 */
int
options_apply(struct config *c, const struct option_entry *o, const char *v,
    char *err, size_t errlen)
{
	/* Before parsing: a parser may forget the flag again. */
	c->given |= given_bit(o);
	return apply_value(c, o, v, err, errlen);
}

void
options_forget(struct config *c, const struct option_entry *o)
{
	c->given &= ~given_bit(o);
}

/* The defaults of c, zeroed by the caller; nothing counts as given. */
int
options_defaults(struct config *c, char *err, size_t errlen)
{
	const struct option_entry	*o;

	for (o = options_table; o->name != NULL; o++) {
		if (o->kind == OPTION_NUMBER || o->kind == OPTION_CHOICE)
			store_number(c, o, o->default_number);
		else if (o->default_string != NULL &&
		    apply_value(c, o, o->default_string, err, errlen) != 0)
			return -1;
	}
	return 0;
}

bool
options_given(const struct config *c, const char *name)
{
	const struct option_entry	*o = options_find(name, strlen(name));

	return o != NULL && (c->given & given_bit(o)) != 0;
}

/*
 * Whether the command line asked for what the option does: given, and not
 * turned off (--ssl=false, or a number whose default 0 means off, such as
 * --maxforks=0). The mode checks refuse only options that are used.
 */
bool
options_used(const struct config *c, const struct option_entry *o)
{
	if ((c->given & given_bit(o)) == 0)
		return false;
	if (o->kind == OPTION_FLAG && o->parse == NULL)
		return *(const bool *)const_field(c, o);
	if (o->kind == OPTION_NUMBER && o->default_number == 0)
		return load_number(c, o) != 0;
	return true;
}

/* Why a group of flags has no meaning in the other mode, if it needs saying. */
static const char *
refusal_reason(enum option_refusal r)
{
	switch (r) {
	case REFUSE_ENV:
		return " (a client's command runs with wsbridge's own "
		    "environment)";
	case REFUSE_AUTH:
		return " (a client's user goes in the URL)";
	case REFUSE_HEADER_KIND:
		return " (a client sends --header)";
	default:
		return "";
	}
}

/* Whether row p is one of "like"'s: same refusal group, or itself. */
static bool
same_refusal(const struct option_entry *p, const struct option_entry *like)
{
	return p == like ||
	    (like->refusal != REFUSE_ALONE && p->refusal == like->refusal);
}

/* A main option that means the same to a client. */
static bool
shared_with_client(const struct option_entry *p,
    const struct option_entry *like)
{
	(void)like;
	return p->group == OPTION_GROUP_MAIN && p->mode == OPTION_BOTH &&
	    p->client_help == NULL;
}

/*
 * Appends "--a", "--a and --b" or "--a, --b and --c" to buf: the rows
 * pick() takes, in table order. Returns how many.
 */
static size_t
join_names(char *buf, size_t len,
    bool (*pick)(const struct option_entry *, const struct option_entry *),
    const struct option_entry *like)
{
	const struct option_entry	*p;
	size_t				 n = 0, total = 0;

	for (p = options_table; p->name != NULL; p++)
		total += pick(p, like);
	for (p = options_table; p->name != NULL; p++) {
		if (!pick(p, like))
			continue;
		if (n > 0)
			append(buf, n + 1 == total ? " and " : ", ", len);
		append(buf, "--", len);
		append(buf, p->name, len);
		n++;
	}
	return total;
}

/* The error for o, used in the mode it does not belong to. */
int
options_refuse(const struct option_entry *o, char *err, size_t errlen)
{
	char	 list[512] = "";
	size_t	 n = join_names(list, sizeof list, same_refusal, o);

	if (o->mode == OPTION_CLIENT)
		return options_error(err, errlen, "%s %s with --connect", list,
		    n == 1 ? "is a client option: use it" :
		    "are client options: use them");
	return options_error(err, errlen, "--connect is a client: %s %s%s",
	    list, n == 1 ? "is a server option" : "are server options",
	    refusal_reason(o->refusal));
}

/* "  --flag=ARG   first line", then the others under it. */
static void
usage_entry(FILE *fp, const char *left, const char *help)
{
	const char	*line = help, *nl;
	int		 indent = 0;

	if (strlen(left) > USAGE_LEFT) {
		fprintf(fp, "  %s\n", left);
		indent = USAGE_LEFT + 3;
	} else
		fprintf(fp, "  %-*s ", USAGE_LEFT, left);
	for (;;) {
		nl = strchr(line, '\n');
		fprintf(fp, "%*s%.*s\n", indent, "",
		    nl != NULL ? (int)(nl - line) : (int)strlen(line), line);
		if (nl == NULL)
			break;
		line = nl + 1;
		indent = USAGE_LEFT + 3;
	}
}

static void
usage_left(char *buf, size_t len, const struct option_entry *o,
    const char *arg)
{
	if (buf[0] != '\0')
		append(buf, " ", len);
	append(buf, "--", len);
	append(buf, o->name, len);
	if (arg != NULL)
		append(buf, arg, len);
}

/* A row without help of its own shares the line of the one above. */
static void
usage_group(FILE *fp, enum option_group g)
{
	const struct option_entry	*o, *p;
	char				 left[128];

	for (o = options_table; o->name != NULL; o++) {
		if (o->group != g || o->help == NULL)
			continue;
		left[0] = '\0';
		usage_left(left, sizeof left, o, o->arg);
		for (p = o + 1; p->name != NULL && p->group == g &&
		    p->help == NULL; p++)
			usage_left(left, sizeof left, p, p->arg);
		usage_entry(fp, left, o->help);
	}
}

/* The client's own flags, and the server's that mean something else. */
static void
usage_client(FILE *fp)
{
	const struct option_entry	*o;
	char				 left[128];

	for (o = options_table; o->name != NULL; o++) {
		left[0] = '\0';
		if (o->client_help != NULL) {
			usage_left(left, sizeof left, o, o->client_arg != NULL ?
			    o->client_arg : o->arg);
			usage_entry(fp, left, o->client_help);
		} else if (o->group == OPTION_GROUP_CLIENT) {
			usage_left(left, sizeof left, o, o->arg);
			usage_entry(fp, left, o->help);
		}
	}
}

static void
usage_wrapped(FILE *fp, const char *text)
{
	size_t	 col = 0, n;

	while (*text != '\0') {
		n = strcspn(text, " ");
		if (col > 0 && col + 1 + n > USAGE_WIDTH) {
			fputc('\n', fp);
			col = 0;
		}
		fputs(col == 0 ? "  " : " ", fp);
		col += col == 0 ? 2 : 1;
		fprintf(fp, "%.*s", (int)n, text);
		col += n;
		text += n;
		text += strspn(text, " ");
	}
	fputc('\n', fp);
}

/* The note under "Client mode" on the options it shares. */
static void
usage_client_shared(FILE *fp)
{
	char	 text[1024] = "(";

	join_names(text, sizeof text, shared_with_client, NULL);
	append(text, " apply to client mode too; a client logs errors only "
	    "unless --loglevel says otherwise)", sizeof text);
	usage_wrapped(fp, text);
}

void
options_usage(FILE *fp)
{
	fputs("Usage: wsbridge [OPTIONS] COMMAND [ARGS...]\n"
	    "       wsbridge --connect=URL [OPTIONS] [COMMAND [ARGS...]]\n"
	    "Serve COMMAND over WebSocket: each connection runs it, stdin and "
	    "stdout\n"
	    "wired to the socket. With --connect, be the client: bridge our "
	    "own stdin\n"
	    "and stdout (or COMMAND) to URL and exit with the remote "
	    "command's status.\n"
	    "\n"
	    "Options (--opt=value, --opt value, or -opt=value):\n", fp);
	usage_group(fp, OPTION_GROUP_MAIN);
	fputs("\nHTTP side (as websocketd):\n", fp);
	usage_group(fp, OPTION_GROUP_HTTP);
	fputs("\nClient mode:\n", fp);
	usage_client(fp);
	usage_client_shared(fp);
	fputs("\n", fp);
	usage_group(fp, OPTION_GROUP_INFO);
	fputs("\n"
	    "A child that exits closes its WebSocket with 1000 (exit 0), "
	    "4000+N (exit N)\n"
	    "or 4128+S (killed by signal S). See wsbridge(1).\n", fp);
}
