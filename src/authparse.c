/*
 * What an htpasswd file and a Basic header may hold. The rules are strict
 * on purpose: a hash in a scheme we do not take (plain text, $apr1$, DES)
 * must stop the server at start-up rather than lock everyone out, or worse,
 * let a plain-text "hash" be compared as text. User names are limited to
 * printable bytes without spaces or quotes, so the log can show them as
 * they are.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "authparse.h"

/* Printable, no space, no ':' (the separator), no quote or backslash. */
bool
auth_user_ok(const char *u, size_t n)
{
	size_t	 i;

	if (n == 0 || n > AUTH_USER_MAX)
		return false;
	for (i = 0; i < n; i++) {
		if ((unsigned char)u[i] <= 0x20 || (unsigned char)u[i] == 0x7f ||
		    u[i] == ':' || u[i] == '"' || u[i] == '\\')
			return false;
	}
	return true;
}

static bool
crypt_chars(const char *s, const char *extra)
{
	for (; *s != '\0'; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '.' || *s == '/' ||
		    strchr(extra, *s) != NULL))
			return false;
	}
	return true;
}

/*
 * bcrypt ($2y$/$2b$, as htpasswd -B writes), yescrypt ($y$) and
 * sha512crypt ($6$, with or without rounds=), each in its own shape.
 */
bool
auth_hash_ok(const char *h)
{
	size_t	 n = strlen(h);

	if (n >= AUTH_HASH_MAX)
		return false;
	if (strncmp(h, "$2y$", 4) == 0 || strncmp(h, "$2b$", 4) == 0)
		/* $2y$NN$ then 22 salt and 31 hash characters. */
		return n == 60 && h[4] >= '0' && h[4] <= '3' &&
		    h[5] >= '0' && h[5] <= '9' && h[6] == '$' &&
		    (h[4] - '0') * 10 + (h[5] - '0') >= 4 &&
		    (h[4] - '0') * 10 + (h[5] - '0') <= 31 &&
		    crypt_chars(h + 7, "");
	if (strncmp(h, "$y$", 3) == 0)
		/* $y$PARAMS$SALT$HASH */
		return n > 10 && crypt_chars(h + 3, "$") &&
		    strchr(h + 3, '$') != NULL &&
		    strchr(strchr(h + 3, '$') + 1, '$') != NULL &&
		    strrchr(h, '$')[1] != '\0';
	if (strncmp(h, "$6$", 3) == 0)
		/* $6$[rounds=N$]SALT$HASH, the hash 86 characters. */
		return n > 3 + 86 + 1 && crypt_chars(h + 3, "$=") &&
		    strrchr(h, '$') - h > 3 && strlen(strrchr(h, '$') + 1) == 86;
	return false;
}

static int
line_error(char *err, size_t errlen, size_t line, const char *what)
{
	snprintf(err, errlen, "line %zu: %s", line, what);
	return -1;
}

/* One line, NUL-terminated in place; comments and blanks are skipped. */
static int
parse_line(struct htpasswd *h, char *s, size_t line, char *err, size_t errlen)
{
	char	*colon, *hash;
	size_t	 i;

	s += strspn(s, " \t");
	if (*s == '\0' || *s == '#')
		return 0;
	if ((colon = strchr(s, ':')) == NULL)
		return line_error(err, errlen, line, "not user:hash");
	*colon = '\0';
	hash = colon + 1;
	/* htpasswd may add ":comment" fields after the hash; we do not. */
	if (!auth_user_ok(s, strlen(s)))
		return line_error(err, errlen, line, "the user name is empty, "
		    "too long, or has spaces, quotes or control bytes");
	if (!auth_hash_ok(hash))
		return line_error(err, errlen, line, "the hash is not bcrypt "
		    "($2y$, $2b$), yescrypt ($y$) or sha512crypt ($6$)");
	for (i = 0; i < h->n; i++) {
		if (strcmp(h->v[i].user, s) == 0)
			return line_error(err, errlen, line, "the user is listed "
			    "twice");
	}
	if (h->n == HTPASSWD_MAX_USERS)
		return line_error(err, errlen, line, "too many users");
	h->v[h->n].user = s;
	h->v[h->n].hash = hash;
	h->n++;
	return 0;
}

/*
 * Parses the whole file. Returns 0, or -1 with "line N: why" in err (the
 * line's text is not repeated: it holds a hash).
 */
int
htpasswd_parse(struct htpasswd *h, const char *text, size_t len, char *err,
    size_t errlen)
{
	char	*s, *end, *next;
	size_t	 lines = 1, line = 0, i;

	/*
	 * Field by field: after a memset of the whole struct, clang's analyzer
	 * loses that n is 0 and reports a NULL user in parse_line's loop.
	 */
	h->v = NULL;
	h->n = 0;
	h->buf = NULL;
	if (memchr(text, '\0', len) != NULL) {
		snprintf(err, errlen, "a NUL byte in the file");
		return -1;
	}
	for (i = 0; i < len; i++)
		lines += text[i] == '\n';
	if ((h->buf = malloc(len + 1)) == NULL ||
	    (h->v = calloc(lines, sizeof *h->v)) == NULL) {
		snprintf(err, errlen, "out of memory");
		htpasswd_free(h);
		return -1;
	}
	memcpy(h->buf, text, len);
	h->buf[len] = '\0';
	for (s = h->buf; s != NULL; s = next) {
		line++;
		if ((end = strchr(s, '\n')) != NULL) {
			*end = '\0';
			next = end + 1;
		} else {
			end = s + strlen(s);
			next = NULL;
		}
		if (end > s && end[-1] == '\r')
			end[-1] = '\0';		/* a file written on Windows */
		if (parse_line(h, s, line, err, errlen) != 0) {
			htpasswd_free(h);
			return -1;
		}
	}
	return 0;
}

const char *
htpasswd_lookup(const struct htpasswd *h, const char *user)
{
	size_t	 i;

	for (i = 0; i < h->n; i++) {
		if (strcmp(h->v[i].user, user) == 0)
			return h->v[i].hash;
	}
	return NULL;
}

void
htpasswd_free(struct htpasswd *h)
{
	free(h->v);
	free(h->buf);
	memset(h, 0, sizeof *h);
}

static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Strict base64 (RFC 4648 with padding); the decoded length, or -1. */
static long
b64_decode(const char *in, size_t n, unsigned char *out, size_t outlen)
{
	size_t	 i, o = 0, pad = 0;
	int	 v[4], k;

	if (n == 0 || n % 4 != 0)
		return -1;
	if (in[n - 1] == '=')
		pad = in[n - 2] == '=' ? 2 : 1;
	if ((n / 4) * 3 - pad > outlen)
		return -1;
	for (i = 0; i < n; i += 4) {
		for (k = 0; k < 4; k++) {
			v[k] = b64_value((unsigned char)in[i + k]);
			if (v[k] < 0 && !(i + 4 == n && k >= 4 - (int)pad))
				return -1;
		}
		out[o++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		if (i + 4 < n || pad < 2)
			out[o++] = (unsigned char)((v[1] & 15) << 4 | v[2] >> 2);
		if (i + 4 < n || pad < 1)
			out[o++] = (unsigned char)((v[2] & 3) << 6 | v[3]);
	}
	return (long)o;
}

/*
 * "Basic <base64 of user:password>" (the scheme in any case, RFC 7617).
 * Returns 0 with both NUL-terminated, -1 for anything else; a password
 * with a NUL or a control byte in the user name is refused, not cut.
 */
int
auth_basic_parse(const char *value, char *user, size_t ulen, char *pass,
    size_t plen)
{
	unsigned char	 raw[AUTH_USER_MAX + 1 + AUTH_PASS_MAX];
	const char	*tok;
	unsigned char	*colon;
	size_t		 n, u;
	long		 got;

	if (strncasecmp(value, "Basic", 5) != 0 ||
	    (value[5] != ' ' && value[5] != '\t'))
		return -1;
	tok = value + 5 + strspn(value + 5, " \t");
	n = strcspn(tok, " \t");
	if (tok[n + strspn(tok + n, " \t")] != '\0')
		return -1;
	if ((got = b64_decode(tok, n, raw, sizeof raw)) < 0 ||
	    (colon = memchr(raw, ':', (size_t)got)) == NULL)
		return -1;
	u = (size_t)(colon - raw);
	n = (size_t)got - u - 1;
	if (!auth_user_ok((const char *)raw, u) || u >= ulen || n >= plen ||
	    memchr(colon + 1, '\0', n) != NULL) {
		explicit_bzero(raw, sizeof raw);
		return -1;
	}
	memcpy(user, raw, u);
	user[u] = '\0';
	memcpy(pass, colon + 1, n);
	pass[n] = '\0';
	explicit_bzero(raw, sizeof raw);
	return 0;
}

/* The header's value for a client: "Basic " and base64 of user:password. */
int
auth_basic_encode(const char *user, const char *pass, char *out,
    size_t outlen)
{
	static const char	 b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t			 ul = strlen(user), pl = strlen(pass);
	size_t			 n = ul + 1 + pl, i, o = 6;
	unsigned char		 c[3];
	size_t			 k;

	if (6 + (n + 2) / 3 * 4 + 1 > outlen)
		return -1;
	memcpy(out, "Basic ", 6);
	for (i = 0; i < n; i += 3) {
		for (k = 0; k < 3; k++) {
			size_t	 j = i + k;

			c[k] = j >= n ? 0 : (unsigned char)(j < ul ? user[j] :
			    j == ul ? ':' : pass[j - ul - 1]);
		}
		out[o++] = b64[c[0] >> 2];
		out[o++] = b64[(c[0] & 3) << 4 | c[1] >> 4];
		out[o++] = i + 1 < n ? b64[(c[1] & 15) << 2 | c[2] >> 6] : '=';
		out[o++] = i + 2 < n ? b64[c[2] & 63] : '=';
	}
	out[o] = '\0';
	return 0;
}
