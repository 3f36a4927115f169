/*
 * http.c's http_path_length and http_path_decode, against the contract
 * above http_path_decode: a decoded path has no NUL, no encoded '/', no "."
 * or ".." segment (decoded or not) and no backslash. The first input byte
 * picks the output buffer's size, which is allocated exactly so a write
 * past it is ASan's to see; an independent decoder must agree byte for byte.
 * http_path_has_dots and http_target_ok must agree with independent
 * readings of their comments, and a path that decodes has no dots.
 */
#include <stdbool.h>
#include <string.h>

#include "http.h"
#include "fuzz.h"

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes without any checks; -1 only for a malformed escape. */
static long
reference(const char *p, size_t plen, char *out)
{
	size_t	 i, o = 0;

	for (i = 0; i < plen; i++) {
		if (p[i] != '%') {
			out[o++] = p[i];
			continue;
		}
		if (plen - i < 3 || hexval((unsigned char)p[i + 1]) < 0 ||
		    hexval((unsigned char)p[i + 2]) < 0)
			return -1;
		out[o++] = (char)(hexval((unsigned char)p[i + 1]) << 4 |
		    hexval((unsigned char)p[i + 2]));
		i += 2;
	}
	return (long)o;
}

static bool
has_dot_segment(const char *s, size_t n)
{
	size_t	 i, start;

	for (i = 0; i < n; i = start) {
		start = i + 1;
		while (start < n && s[start] != '/')
			start++;
		/* The segment is s[i + 1 .. start), after the '/' at i. */
		if ((start - i - 1 == 1 && s[i + 1] == '.') ||
		    (start - i - 1 == 2 && s[i + 1] == '.' && s[i + 2] == '.'))
			return true;
	}
	return false;
}

static bool
has_encoded(const char *p, size_t plen, const char *enc)
{
	size_t	 i;

	for (i = 0; i + 3 <= plen; i++) {
		if (p[i] == '%' && hexval((unsigned char)p[i + 1]) ==
		    hexval((unsigned char)enc[0]) && hexval((unsigned char)p[i +
		    2]) == hexval((unsigned char)enc[1]))
			return true;
	}
	return false;
}

/* http_target_ok's rule: every '%' starts two hex digits, not "00". */
static bool
reference_target_ok(const char *t)
{
	size_t	 i, n = strlen(t);

	for (i = 0; i < n; i++) {
		if (t[i] != '%')
			continue;
		if (n - i < 3 || hexval((unsigned char)t[i + 1]) < 0 ||
		    hexval((unsigned char)t[i + 2]) < 0)
			return false;
		if (t[i + 1] == '0' && t[i + 2] == '0')
			return false;
		i += 2;
	}
	return true;
}

/*
 * http_path_has_dots' rule: decode what decodes (a malformed escape
 * stays as it is), split on '/' decoded or not, look for "." and "..".
 */
static bool
reference_has_dots(const char *p, size_t plen)
{
	size_t	 i, seg = 0, dots = 0;
	char	 c;

	for (i = 0; i <= plen; i++) {
		c = i == plen ? '/' : p[i];
		if (c == '%' && plen - i >= 3 &&
		    hexval((unsigned char)p[i + 1]) >= 0 &&
		    hexval((unsigned char)p[i + 2]) >= 0) {
			c = (char)(hexval((unsigned char)p[i + 1]) << 4 |
			    hexval((unsigned char)p[i + 2]));
			i += 2;
		}
		if (c != '/') {
			seg++;
			if (c == '.')
				dots++;
			continue;
		}
		if (seg > 0 && seg == dots && dots <= 2)
			return true;
		seg = dots = 0;
	}
	return false;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*target, *out, *ref;
	size_t	 outlen, plen, n;
	long	 rlen;
	int	 rc;
	bool	 dots;

	if (size < 1)
		return 0;
	/* Small sizes test the bound; 0 means a roomy one. */
	outlen = data[0] == 0 ? 8192 : data[0];
	data++;
	size--;
	if ((target = malloc(size + 1)) == NULL)
		return 0;
	memcpy(target, data, size);
	target[size] = '\0';		/* a target is always a C string */

	plen = http_path_length(target);
	CHECK(plen <= strlen(target));
	CHECK(memchr(target, '?', plen) == NULL);
	CHECK(target[plen] == '\0' || target[plen] == '?');

	out = malloc(outlen);
	ref = malloc(plen + 1);
	if (out == NULL || ref == NULL)
		goto done;
	memset(out, 0x55, outlen);
	rc = http_path_decode(target, out, outlen);
	CHECK(rc == 0 || rc == -1);
	rlen = reference(target, plen, ref);
	dots = http_path_has_dots(target);
	CHECK(dots == reference_has_dots(target, plen));
	CHECK(http_target_ok(target) == reference_target_ok(target));
	/* What decodes safely has no dot segment by the other reading. */
	CHECK(rc != 0 || !dots);
	if (rc == 0) {
		/* NUL-terminated inside the buffer, no NUL before the end. */
		CHECK(memchr(out, '\0', outlen) != NULL);
		n = strlen(out);
		CHECK(n < outlen);
		CHECK(rlen >= 0 && (size_t)rlen == n);
		CHECK(memcmp(out, ref, n) == 0);
		CHECK(n > 0 && out[0] == '/');
		CHECK(strchr(out, '\\') == NULL);
		CHECK(!has_dot_segment(out, n));
		CHECK(!has_dot_segment(target, plen));
		CHECK(!has_encoded(target, plen, "2f"));
		CHECK(!has_encoded(target, plen, "00"));
		CHECK(!has_encoded(target, plen, "5c"));
	} else if (rlen >= 0 && plen > 0 && target[0] == '/' &&
	    (size_t)rlen + 1 <= outlen &&
	    memchr(ref, '\0', (size_t)rlen) == NULL &&
	    !has_encoded(target, plen, "2f") &&
	    memchr(ref, '\\', (size_t)rlen) == NULL &&
	    !has_dot_segment(ref, (size_t)rlen)) {
		/* Refused although nothing in the contract forbids it. */
		CHECK(!"a safe path was refused");
	}
done:
	free(ref);
	free(out);
	free(target);
	return 0;
}
