/*
 * framing.c's framing_json_line (--passstderr). The output buffer has
 * exactly the documented size, 6 * len + 40 + strlen(stream), so a write
 * past it is ASan's to see. The output must be valid UTF-8, be
 * {"stream":"NAME","data":"..."}, hold no raw control byte, and its data
 * string must decode back to the input bytes (\u00XX standing for the byte
 * XX where the input was not UTF-8).
 */
#include <stdbool.h>
#include <string.h>

#include "framing.h"
#include "fuzz.h"

static const char *streams[] = { "stderr", "stdout", "", "x" };

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decodes the JSON string body in s[0..n) into out; its length or -1. */
static long
unescape(const char *s, size_t n, unsigned char *out)
{
	size_t	 i, o = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == '"')
			return -1;	/* unescaped quote inside */
		if (s[i] != '\\') {
			out[o++] = (unsigned char)s[i];
			continue;
		}
		if (++i == n)
			return -1;
		switch (s[i]) {
		case '"':
		case '\\':
			out[o++] = (unsigned char)s[i];
			break;
		case 'n':
			out[o++] = '\n';
			break;
		case 't':
			out[o++] = '\t';
			break;
		case 'u':
			if (n - i < 5 || s[i + 1] != '0' || s[i + 2] != '0' ||
			    hexval((unsigned char)s[i + 3]) < 0 ||
			    hexval((unsigned char)s[i + 4]) < 0)
				return -1;
			out[o++] = (unsigned char)(hexval((unsigned char)s[i +
			    3]) << 4 | hexval((unsigned char)s[i + 4]));
			i += 4;
			break;
		default:
			return -1;
		}
	}
	return (long)o;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*stream;
	char		*in, *out, prefix[64];
	unsigned char	*back;
	size_t		 cap, n, plen, i;
	long		 blen;

	if (size < 1)
		return 0;
	stream = streams[data[0] % (sizeof streams / sizeof streams[0])];
	data++;
	size--;
	cap = 6 * size + 40 + strlen(stream);
	in = malloc(size == 0 ? 1 : size);
	out = malloc(cap);
	back = malloc(cap);
	if (in == NULL || out == NULL || back == NULL)
		goto done;
	memcpy(in, data, size);

	n = framing_json_line(out, stream, in, size);
	CHECK(n <= cap);
	CHECK(utf8_valid(out, n));
	plen = (size_t)snprintf(prefix, sizeof prefix,
	    "{\"stream\":\"%s\",\"data\":\"", stream);
	CHECK(n >= plen + 2);
	CHECK(memcmp(out, prefix, plen) == 0);
	CHECK(out[n - 2] == '"' && out[n - 1] == '}');
	for (i = 0; i < n; i++)
		CHECK((unsigned char)out[i] >= 0x20 &&
		    (unsigned char)out[i] != 0x7f);
	blen = unescape(out + plen, n - plen - 2, back);
	CHECK(blen >= 0 && (size_t)blen == size);
	CHECK(memcmp(back, in, size) == 0);
done:
	free(back);
	free(in);
	free(out);
	return 0;
}
