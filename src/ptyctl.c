/*
 * --pty's control protocol (ptyctl.h). Pure: no I/O. Both parsers are
 * strict on purpose: a client that gets the form wrong hears so at once
 * (1007) rather than finding its terminal the wrong size later.
 */
#include <stdbool.h>
#include <string.h>

#include "ptyctl.h"

/* Digits only, no leading zero, 1..PTY_SIZE_MAX; -1 otherwise. */
static int
size_value(const char *s, size_t len, unsigned *out)
{
	unsigned	 v = 0;
	size_t		 i;

	if (len == 0 || len > 4 || s[0] == '0')
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > PTY_SIZE_MAX)
		return -1;
	*out = v;
	return 0;
}

/*
 * The window size a request target asks for: cols=N and rows=M in its
 * query, each 1..1000; a value that is absent or anything else leaves the
 * default (80 columns, 24 rows). The first of a repeated name counts.
 */
void
ptyctl_query_size(const char *target, struct ptysize *ws)
{
	const char	*q, *end, *eq;
	size_t		 len;
	bool		 cols_seen = false, rows_seen = false;

	ws->cols = PTY_DEFAULT_COLS;
	ws->rows = PTY_DEFAULT_ROWS;
	if (target == NULL || (q = strchr(target, '?')) == NULL)
		return;
	for (q++; *q != '\0'; q = *end == '\0' ? end : end + 1) {
		len = strcspn(q, "&#");
		end = q + len;
		if ((eq = memchr(q, '=', len)) != NULL) {
			if (eq - q == 4 && memcmp(q, "cols", 4) == 0 &&
			    !cols_seen) {
				cols_seen = true;
				(void)size_value(eq + 1, (size_t)(end - eq - 1),
				    &ws->cols);
			} else if (eq - q == 4 && memcmp(q, "rows", 4) == 0 &&
			    !rows_seen) {
				rows_seen = true;
				(void)size_value(eq + 1, (size_t)(end - eq - 1),
				    &ws->rows);
			}
		}
		if (*end == '#')
			break;
	}
}

/* A tiny JSON reader for one flat object; nothing is copied. */
struct reader {
	const char	*p, *end;
};

static void
skip_space(struct reader *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' ||
	    *r->p == '\n' || *r->p == '\r'))
		r->p++;
}

static bool
take_char(struct reader *r, char c)
{
	skip_space(r);
	if (r->p == r->end || *r->p != c)
		return false;
	r->p++;
	return true;
}

/*
 * A string without escapes or control characters (no name or value of
 * the protocol needs one): its bytes between the quotes.
 */
static bool
take_string(struct reader *r, const char **s, size_t *len)
{
	const char	*start;

	if (!take_char(r, '"'))
		return false;
	start = r->p;
	while (r->p < r->end && *r->p != '"') {
		if (*r->p == '\\' || (unsigned char)*r->p < 0x20)
			return false;
		r->p++;
	}
	if (r->p == r->end)
		return false;
	*s = start;
	*len = (size_t)(r->p - start);
	r->p++;
	return true;
}

/* A JSON number that is a size: an integer 1..1000, nothing else. */
static bool
take_size(struct reader *r, unsigned *v)
{
	const char	*start;

	skip_space(r);
	start = r->p;
	while (r->p < r->end && ((*r->p >= '0' && *r->p <= '9') ||
	    *r->p == '-' || *r->p == '+' || *r->p == '.' || *r->p == 'e' ||
	    *r->p == 'E'))
		r->p++;
	return size_value(start, (size_t)(r->p - start), v) == 0;
}

static bool
is_name(const char *s, size_t len, const char *name)
{
	return strlen(name) == len && memcmp(s, name, len) == 0;
}

/*
 * One control message: exactly the members "type" (the string "resize"),
 * "cols" and "rows" (integers 1..1000), each once, in any order, with JSON
 * whitespace anywhere between tokens and nothing after the object.
 * Returns 0 with the size, or -1 for anything else.
 */
int
ptyctl_parse(const char *msg, size_t len, struct ptysize *ws)
{
	struct reader	 r = { msg, msg + len };
	struct ptysize	 got = { 0, 0 };
	const char	*name, *val;
	size_t		 nlen, vlen;
	bool		 type_seen = false;

	if (len > PTYCTL_MSG_MAX || !take_char(&r, '{'))
		return -1;
	do {
		if (!take_string(&r, &name, &nlen) || !take_char(&r, ':'))
			return -1;
		if (is_name(name, nlen, "type") && !type_seen) {
			if (!take_string(&r, &val, &vlen) ||
			    !is_name(val, vlen, "resize"))
				return -1;
			type_seen = true;
		} else if (is_name(name, nlen, "cols") && got.cols == 0) {
			if (!take_size(&r, &got.cols))
				return -1;
		} else if (is_name(name, nlen, "rows") && got.rows == 0) {
			if (!take_size(&r, &got.rows))
				return -1;
		} else
			return -1;	/* unknown, or a second time */
	} while (take_char(&r, ','));
	if (!take_char(&r, '}'))
		return -1;
	skip_space(&r);
	if (r.p != r.end || !type_seen || got.cols == 0 || got.rows == 0)
		return -1;
	*ws = got;
	return 0;
}
