/*
 * framing.c's line splitter and UTF-8 checker.
 *
 * framing_next_line: the first two bytes give max (1..65536: --maxframesize
 * is at least 1) and eof; the rest is split into lines as session.c does.
 * Each line: msglen <= max, msglen <= consumed <= len, no '\n' inside it;
 * and there is progress whenever len > max + 1, or at eof with bytes left.
 *
 * utf8: the same bytes fed to utf8_check_feed in pieces whose sizes come
 * from the input must agree with utf8_valid on the whole, and both with an
 * independent RFC 3629 decoder.
 */
#include <stdbool.h>
#include <string.h>

#include "framing.h"
#include "fuzz.h"

/* RFC 3629 section 4, table by table. */
static bool
reference_utf8(const unsigned char *s, size_t n)
{
	size_t	 i = 0, k, need;
	unsigned char	 lo, hi;

	while (i < n) {
		unsigned char c = s[i];

		lo = 0x80;
		hi = 0xbf;
		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf)
			need = 1;
		else if (c == 0xe0) {
			need = 2;
			lo = 0xa0;
		} else if (c == 0xed) {
			need = 2;
			hi = 0x9f;
		} else if (c >= 0xe1 && c <= 0xef)
			need = 2;
		else if (c == 0xf0) {
			need = 3;
			lo = 0x90;
		} else if (c == 0xf4) {
			need = 3;
			hi = 0x8f;
		} else if (c >= 0xf1 && c <= 0xf3)
			need = 3;
		else
			return false;
		if (n - i - 1 < need)
			return false;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return false;
		for (k = 2; k <= need; k++) {
			if (s[i + k] < 0x80 || s[i + k] > 0xbf)
				return false;
		}
		i += need + 1;
	}
	return true;
}

static void
lines(const char *buf, size_t len, size_t max, bool eof)
{
	size_t	 off = 0, msglen, consumed, left;
	bool	 got;

	for (;;) {
		left = len - off;
		msglen = consumed = (size_t)-1;
		got = framing_next_line(buf + off, left, max, eof, &msglen,
		    &consumed);
		if (!got) {
			CHECK(left <= max + 1);
			CHECK(!eof || left == 0);
			break;
		}
		CHECK(msglen <= consumed && consumed <= left);
		CHECK(msglen <= max);
		CHECK(consumed > 0);
		CHECK(memchr(buf + off, '\n', msglen) == NULL);
		CHECK(consumed == msglen || buf[off + consumed - 1] == '\n');
		CHECK(consumed - msglen <= 2);
		off += consumed;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct utf8_check	 u;
	const uint8_t		*p;
	char			*buf;
	size_t			 max, i, n, left;
	bool			 eof, ok, whole;

	if (size < 3)
		return 0;
	max = ((size_t)data[0] << 8 | data[1]) % 65536 + 1;
	if (data[0] & 0x80)
		max = data[1] % 8 + 1;	/* small ones split more often */
	eof = data[2] & 1;
	data += 3;
	size -= 3;

	if ((buf = malloc(size == 0 ? 1 : size)) == NULL)
		return 0;
	memcpy(buf, data, size);
	lines(buf, size, max, eof);

	whole = utf8_valid(buf, size);
	CHECK(whole == reference_utf8((const unsigned char *)buf, size));
	utf8_check_init(&u);
	ok = true;
	/* Piece sizes from the bytes themselves, 0 included. */
	for (p = data, left = size, i = 0; ok && left > 0; i++) {
		n = data[i % size] % 8;
		if (n == 0 && (i & 1))
			n = 1;		/* empty pieces, but never forever */
		if (n > left)
			n = left;
		ok = utf8_check_feed(&u, p, n);
		p += n;
		left -= n;
	}
	CHECK(whole == (ok && utf8_check_done(&u)));
	free(buf);
	return 0;
}
