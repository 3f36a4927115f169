/*
 * framing.c: UTF-8 validation (one-shot and across fragments), line
 * splitting for line mode, and the record header of the queue to the client.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/framing.h"
#include "unit.h"

/* Literal byte strings with their length (no terminating NUL). */
#define B(s)	(s), (sizeof(s) - 1)

/* ------------------------------------------------------------------ */
/* A reference validator, written from the RFC 3629 table, to compare. */

static bool
ref_utf8_valid(const unsigned char *p, size_t len)
{
	size_t		 i = 0, n, k;
	uint32_t	 cp, min;

	while (i < len) {
		unsigned char c = p[i];

		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 1; cp = c & 0x1f; min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2; cp = c & 0x0f; min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3; cp = c & 0x07; min = 0x10000;
		} else
			return false;
		if (i + n >= len)	/* continuation bytes missing */
			return false;
		for (k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

/* Feeds data in two parts split at cut; the whole verdict. */
static bool
feed_split(const void *data, size_t len, size_t cut)
{
	struct utf8_check	 u;
	const unsigned char	*p = data;

	utf8_check_init(&u);
	if (!utf8_check_feed(&u, p, cut))
		return false;
	if (!utf8_check_feed(&u, p + cut, len - cut))
		return false;
	return utf8_check_done(&u);
}

/* Feeds data one byte at a time. */
static bool
feed_bytewise(const void *data, size_t len)
{
	struct utf8_check	 u;
	const unsigned char	*p = data;
	size_t			 i;

	utf8_check_init(&u);
	for (i = 0; i < len; i++) {
		if (!utf8_check_feed(&u, p + i, 1))
			return false;
	}
	return utf8_check_done(&u);
}

/* One-shot, every two-way split and byte-by-byte must all agree. */
static void
check_utf8_all_ways(const char *label, const void *data, size_t len,
    bool want)
{
	size_t	 cut;

	UNIT_CTX("%s", label);
	CHECK_EQ_INT(utf8_valid(data, len), want);
	for (cut = 0; cut <= len; cut++) {
		UNIT_CTX("%s, split at %zu", label, cut);
		CHECK_EQ_INT(feed_split(data, len, cut), want);
	}
	UNIT_CTX("%s, byte by byte", label);
	CHECK_EQ_INT(feed_bytewise(data, len), want);
	UNIT_CTX_CLEAR();
}

static void
test_utf8_valid_sequences(void)
{
	static const struct {
		const char	*label;
		const char	*s;
		size_t		 len;
	} ok[] = {
		{ "empty", B("") },
		{ "ascii", B("hello, world") },
		{ "all ascii incl. controls", B("\x01\x09\x0a\x1f\x7f") },
		{ "embedded NUL", B("a\0b") },
		{ "U+0080 smallest 2-byte", B("\xc2\x80") },
		{ "U+00E9", B("h\xc3\xa9llo") },
		{ "U+07FF largest 2-byte", B("\xdf\xbf") },
		{ "U+0800 smallest 3-byte", B("\xe0\xa0\x80") },
		{ "U+20AC euro after ascii", B("abc\xe2\x82\xac") },
		{ "U+D7FF below surrogates", B("\xed\x9f\xbf") },
		{ "U+E000 above surrogates", B("\xee\x80\x80") },
		{ "U+FEFF BOM", B("\xef\xbb\xbf") },
		{ "U+FFFD", B("\xef\xbf\xbd") },
		{ "U+FFFF largest 3-byte", B("\xef\xbf\xbf") },
		{ "U+10000 smallest 4-byte", B("\xf0\x90\x80\x80") },
		{ "U+1F600", B("\xf0\x9f\x98\x80") },
		{ "U+10FFFF largest", B("\xf4\x8f\xbf\xbf") },
		{ "mixed", B("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z") },
	};
	size_t	 i;

	for (i = 0; i < sizeof ok / sizeof ok[0]; i++)
		check_utf8_all_ways(ok[i].label, ok[i].s, ok[i].len, true);
}

static void
test_utf8_invalid_sequences(void)
{
	static const struct {
		const char	*label;
		const char	*s;
		size_t		 len;
	} bad[] = {
		/* overlong forms */
		{ "overlong NUL C0 80", B("\xc0\x80") },
		{ "overlong C1 BF", B("\xc1\xbf") },
		{ "overlong NUL E0 80 80", B("\xe0\x80\x80") },
		{ "overlong E0 9F BF (U+07FF)", B("\xe0\x9f\xbf") },
		{ "overlong NUL F0 80 80 80", B("\xf0\x80\x80\x80") },
		{ "overlong F0 8F BF BF (U+FFFF)", B("\xf0\x8f\xbf\xbf") },
		{ "overlong '/' C0 AF", B("\xc0\xaf") },
		/* surrogates */
		{ "surrogate ED A0 80 (U+D800)", B("\xed\xa0\x80") },
		{ "surrogate ED AD BF (U+DB7F)", B("\xed\xad\xbf") },
		{ "surrogate ED B0 80 (U+DC00)", B("\xed\xb0\x80") },
		{ "surrogate ED BF BF (U+DFFF)", B("\xed\xbf\xbf") },
		{ "surrogate pair CESU-8", B("\xed\xa0\xbd\xed\xb8\x80") },
		/* past U+10FFFF */
		{ "F4 90 80 80 (U+110000)", B("\xf4\x90\x80\x80") },
		{ "F4 BF BF BF", B("\xf4\xbf\xbf\xbf") },
		{ "F5 80 80 80", B("\xf5\x80\x80\x80") },
		{ "F7 BF BF BF", B("\xf7\xbf\xbf\xbf") },
		{ "5-byte F8", B("\xf8\x88\x80\x80\x80") },
		{ "6-byte FC", B("\xfc\x84\x80\x80\x80\x80") },
		{ "FE", B("\xfe") },
		{ "FF", B("\xff") },
		{ "ascii then FF", B("abc\xff") },
		/* stray continuations */
		{ "lone 80", B("\x80") },
		{ "lone BF", B("\xbf") },
		{ "ascii then 80", B("a\x80") },
		{ "extra continuation", B("\xc3\xa9\x80") },
		/* truncated */
		{ "truncated C3", B("\xc3") },
		{ "truncated E2 82", B("\xe2\x82") },
		{ "truncated E2", B("\xe2") },
		{ "truncated F0 9F 98", B("\xf0\x9f\x98") },
		{ "truncated F0", B("\xf0") },
		{ "truncated then ascii C3 41", B("\xc3\x41") },
		{ "truncated then ascii E2 82 41", B("\xe2\x82\x41") },
		{ "truncated then lead E2 28 A1", B("\xe2\x28\xa1") },
		{ "truncated 4 then new lead", B("\xf0\x9f\x98\xc3\xa9") },
		{ "truncated at end after ascii", B("abc\xe2\x82") },
	};
	size_t	 i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		check_utf8_all_ways(bad[i].label, bad[i].s, bad[i].len, false);
}

/* The spelled-out case of the brief: U+1F600 cut at every position. */
static void
test_utf8_split_4byte(void)
{
	static const unsigned char smile[] = { 0xf0, 0x9f, 0x98, 0x80 };
	struct utf8_check	 u;
	size_t			 cut;

	for (cut = 0; cut <= sizeof smile; cut++) {
		UNIT_CTX("U+1F600 cut at %zu", cut);
		utf8_check_init(&u);
		CHECK(utf8_check_feed(&u, smile, cut));
		/* Not done while the sequence is incomplete. */
		CHECK_EQ_INT(utf8_check_done(&u), cut == 0 || cut == 4);
		CHECK(utf8_check_feed(&u, smile + cut, sizeof smile - cut));
		CHECK(utf8_check_done(&u));
	}
	UNIT_CTX_CLEAR();

	/* Two characters, the cut inside the second one. */
	utf8_check_init(&u);
	CHECK(utf8_check_feed(&u, "\xf0\x9f\x98\x80\xf0\x9f", 6));
	CHECK(!utf8_check_done(&u));
	CHECK(utf8_check_feed(&u, "\x98\x80", 2));
	CHECK(utf8_check_done(&u));

	/* An empty feed changes nothing, in the middle of a sequence too. */
	utf8_check_init(&u);
	CHECK(utf8_check_feed(&u, "", 0));
	CHECK(utf8_check_done(&u));
	CHECK(utf8_check_feed(&u, "\xe2", 1));
	CHECK(utf8_check_feed(&u, "", 0));
	CHECK(!utf8_check_done(&u));
	CHECK(utf8_check_feed(&u, "\x82\xac", 2));
	CHECK(utf8_check_done(&u));

	/* A truncated last fragment: every feed passes, done says no. */
	utf8_check_init(&u);
	CHECK(utf8_check_feed(&u, "ok ", 3));
	CHECK(utf8_check_feed(&u, "\xf0\x9f", 2));
	CHECK(!utf8_check_done(&u));

	/* A bad continuation in the next fragment is caught there. */
	utf8_check_init(&u);
	CHECK(utf8_check_feed(&u, "\xf0\x9f", 2));
	CHECK(!utf8_check_feed(&u, "A", 1));

	/* Overlong / surrogate / too big split across fragments. */
	utf8_check_init(&u);
	CHECK(!(utf8_check_feed(&u, "\xe0", 1) &&
	    utf8_check_feed(&u, "\x80\x80", 2)));
	utf8_check_init(&u);
	CHECK(!(utf8_check_feed(&u, "\xed\xa0", 2) &&
	    utf8_check_feed(&u, "\x80", 1)));
	utf8_check_init(&u);
	CHECK(!(utf8_check_feed(&u, "\xf4\x90\x80", 3) &&
	    utf8_check_feed(&u, "\x80", 1)));

	/* init really resets a half-read state. */
	utf8_check_init(&u);
	CHECK(utf8_check_feed(&u, "\xe2\x82", 2));
	utf8_check_init(&u);
	CHECK(utf8_check_done(&u));
	CHECK(utf8_check_feed(&u, "A", 1));
	CHECK(utf8_check_done(&u));
}

/* Every 1-, 2- and 3-byte string, and many 4-byte ones, against the reference. */
static void
test_utf8_exhaustive(void)
{
	unsigned char	 b[4];
	unsigned long	 n, mismatches = 0, split_mismatches = 0;
	unsigned	 x, y;
	uint32_t	 seed = 12345;
	size_t		 cut;

	for (n = 0; n < 256; n++) {
		b[0] = (unsigned char)n;
		if (utf8_valid(b, 1) != ref_utf8_valid(b, 1))
			mismatches++;
	}
	for (n = 0; n < 65536; n++) {
		b[0] = (unsigned char)(n >> 8);
		b[1] = (unsigned char)n;
		if (utf8_valid(b, 2) != ref_utf8_valid(b, 2))
			mismatches++;
		if (feed_split(b, 2, 1) != ref_utf8_valid(b, 2))
			split_mismatches++;
	}
	for (n = 0; n < (1UL << 24); n++) {
		b[0] = (unsigned char)(n >> 16);
		b[1] = (unsigned char)(n >> 8);
		b[2] = (unsigned char)n;
		if (utf8_valid(b, 3) != ref_utf8_valid(b, 3))
			mismatches++;
	}
	CHECK_EQ_INT(mismatches, 0);
	CHECK_EQ_INT(split_mismatches, 0);

	/* Every 4-byte string with a lead F0-F4 and continuations 80-BF. */
	mismatches = 0;
	for (n = 0; n < 5UL * 64 * 64 * 64; n++) {
		b[0] = (unsigned char)(0xf0 + n / (64 * 64 * 64));
		b[1] = (unsigned char)(0x80 | ((n >> 12) & 0x3f));
		b[2] = (unsigned char)(0x80 | ((n >> 6) & 0x3f));
		b[3] = (unsigned char)(0x80 | (n & 0x3f));
		if (utf8_valid(b, 4) != ref_utf8_valid(b, 4))
			mismatches++;
	}
	CHECK_EQ_INT(mismatches, 0);

	/* Random strings, fed in two parts at every cut. */
	mismatches = 0;
	for (x = 0; x < 20000; x++) {
		unsigned char	 s[12];
		size_t		 len;

		seed = seed * 1103515245u + 12345u;
		len = (seed >> 16) % (sizeof s + 1);
		for (y = 0; y < len; y++) {
			seed = seed * 1103515245u + 12345u;
			/* Mostly bytes of interest: leads and continuations. */
			s[y] = (unsigned char)((seed >> 16) & 1 ?
			    0x80 + ((seed >> 17) & 0x7f) :
			    ((seed >> 18) & 0xff));
		}
		for (cut = 0; cut <= len; cut++) {
			if (feed_split(s, len, cut) != ref_utf8_valid(s, len))
				mismatches++;
		}
		if (utf8_valid(s, len) != ref_utf8_valid(s, len))
			mismatches++;
	}
	CHECK_EQ_INT(mismatches, 0);
}

/* ------------------------------------------------------------------ */
/* framing_next_line */

struct line_result {
	bool	 ready;
	size_t	 msglen;
	size_t	 consumed;
};

static struct line_result
next_line(const char *buf, size_t len, size_t max, bool eof)
{
	struct line_result	 r;

	r.msglen = r.consumed = (size_t)-1;
	r.ready = framing_next_line(buf, len, max, eof, &r.msglen,
	    &r.consumed);
	return r;
}

#define CHECK_LINE(r, wmsglen, wconsumed) do {				\
	CHECK((r).ready);						\
	CHECK_EQ_INT((r).msglen, (wmsglen));				\
	CHECK_EQ_INT((r).consumed, (wconsumed));			\
} while (0)

/*
 * Splits a whole buffer as child.c does, collecting the messages joined by
 * '|' into out (the test strings never contain '|').
 */
static size_t
split_all(const char *buf, size_t len, size_t max, bool eof, char *out,
    size_t outlen, size_t *left)
{
	size_t	 off = 0, msglen, consumed, n = 0, o = 0;

	out[0] = '\0';
	while (framing_next_line(buf + off, len - off, max, eof, &msglen,
	    &consumed)) {
		if (consumed == 0 || consumed > len - off || msglen > consumed)
			break;		/* would loop or overrun: caught below */
		if (o + msglen + 2 > outlen)
			break;
		if (n > 0)
			out[o++] = '|';
		memcpy(out + o, buf + off, msglen);
		o += msglen;
		out[o] = '\0';
		off += consumed;
		n++;
		if (off == len)
			break;
	}
	*left = len - off;
	return n;
}

static void
test_lines_basic(void)
{
	struct line_result	 r;
	const size_t		 M = 100;

	r = next_line(B("abc\n"), M, false);
	CHECK_LINE(r, 3, 4);
	r = next_line(B("abc\r\n"), M, false);
	CHECK_LINE(r, 3, 5);
	/* Only the first line is taken. */
	r = next_line(B("abc\ndef\n"), M, false);
	CHECK_LINE(r, 3, 4);
	r = next_line(B("abc\r\ndef\r\n"), M, true);
	CHECK_LINE(r, 3, 5);
	/* Empty lines. */
	r = next_line(B("\n"), M, false);
	CHECK_LINE(r, 0, 1);
	r = next_line(B("\r\n"), M, false);
	CHECK_LINE(r, 0, 2);
	r = next_line(B("\n\n"), M, false);
	CHECK_LINE(r, 0, 1);
	/* A CR inside the line is data; only the one before \n goes. */
	r = next_line(B("a\rb\n"), M, false);
	CHECK_LINE(r, 3, 4);
	r = next_line(B("a\r\r\n"), M, false);
	CHECK_LINE(r, 2, 4);
	/* NUL bytes are data too. */
	r = next_line(B("a\0b\n"), M, false);
	CHECK_LINE(r, 3, 4);

	/* No newline and no eof: wait. */
	r = next_line(B("abc"), M, false);
	CHECK(!r.ready);
	r = next_line(B("abc\r"), M, false);
	CHECK(!r.ready);
	r = next_line(B(""), M, false);
	CHECK(!r.ready);
	/* eof flushes a partial last line, as it is. */
	r = next_line(B("abc"), M, true);
	CHECK_LINE(r, 3, 3);
	r = next_line(B("x"), M, true);
	CHECK_LINE(r, 1, 1);
	/* ... but nothing at all is no line. */
	r = next_line(B(""), M, true);
	CHECK(!r.ready);
	/* A newline still ends a line first at eof. */
	r = next_line(B("abc\ndef"), M, true);
	CHECK_LINE(r, 3, 4);
	r = next_line(B("def"), M, true);
	CHECK_LINE(r, 3, 3);
}

static void
test_lines_max(void)
{
	struct line_result	 r;
	char			*big;
	const size_t		 M = 4;
	size_t			 max;

	/* Exactly max long, then \n: one line, not split. */
	r = next_line(B("abcd\n"), M, false);
	CHECK_LINE(r, 4, 5);
	r = next_line(B("abcd\n"), M, true);
	CHECK_LINE(r, 4, 5);
	/* Exactly max without newline: wait, the \n may come next. */
	r = next_line(B("abcd"), M, false);
	CHECK(!r.ready);
	/* ... unless it is the end. */
	r = next_line(B("abcd"), M, true);
	CHECK_LINE(r, 4, 4);
	/* max+1 without newline: split at max. */
	r = next_line(B("abcde"), M, false);
	CHECK_LINE(r, 4, 4);
	r = next_line(B("abcde"), M, true);
	CHECK_LINE(r, 4, 4);
	/* A newline past max does not save a long line. */
	r = next_line(B("abcdef\n"), M, false);
	CHECK_LINE(r, 4, 4);
	r = next_line(B("abcdefghij\n"), M, false);
	CHECK_LINE(r, 4, 4);
	/* max-1 then \r\n fits: the \r is not counted. */
	r = next_line(B("abc\r\n"), M, false);
	CHECK_LINE(r, 3, 5);
	r = next_line(B("abc\r\nxyz"), M, false);
	CHECK_LINE(r, 3, 5);
	/* Shorter lines are untouched by max. */
	r = next_line(B("ab\n"), M, false);
	CHECK_LINE(r, 2, 3);
	r = next_line(B("\n"), M, false);
	CHECK_LINE(r, 0, 1);

	/* max = 1, the smallest limit. */
	r = next_line(B("a\n"), 1, false);
	CHECK_LINE(r, 1, 2);
	r = next_line(B("\n"), 1, false);
	CHECK_LINE(r, 0, 1);
	r = next_line(B("ab"), 1, false);
	CHECK_LINE(r, 1, 1);
	r = next_line(B("a"), 1, false);
	CHECK(!r.ready);

	/* Large limits, exactly at and one past the edge. */
	max = 65536;
	big = malloc(max + 2);
	CHECK(big != NULL);
	if (big != NULL) {
		memset(big, 'x', max + 2);
		big[max] = '\n';
		r = next_line(big, max + 1, max, false);
		CHECK_LINE(r, max, max + 1);
		r = next_line(big, max, max, false);
		CHECK(!r.ready);
		big[max] = 'x';
		r = next_line(big, max + 1, max, false);
		CHECK_LINE(r, max, max);
		big[max + 1] = '\n';
		r = next_line(big, max + 2, max, false);
		CHECK_LINE(r, max, max);
		big[max - 1] = '\n';
		r = next_line(big, max + 2, max, false);
		CHECK_LINE(r, max - 1, max);
		free(big);
	}
}

static void
test_lines_stream(void)
{
	char	 out[256];
	size_t	 n, left;

	n = split_all(B("one\ntwo\r\n\nthree"), 100, true, out, sizeof out,
	    &left);
	CHECK_EQ_INT(n, 4);
	CHECK_STR(out, "one|two||three");
	CHECK_EQ_INT(left, 0);

	/* Without eof the partial last line stays in the buffer. */
	n = split_all(B("one\ntwo\r\n\nthree"), 100, false, out, sizeof out,
	    &left);
	CHECK_EQ_INT(n, 3);
	CHECK_STR(out, "one|two|");
	CHECK_EQ_INT(left, 5);

	/* A long line split into max-sized parts, the rest at eof. */
	n = split_all(B("0123456789"), 3, true, out, sizeof out, &left);
	CHECK_EQ_INT(n, 4);
	CHECK_STR(out, "012|345|678|9");
	CHECK_EQ_INT(left, 0);
	n = split_all(B("0123456789"), 3, false, out, sizeof out, &left);
	CHECK_EQ_INT(n, 3);
	CHECK_STR(out, "012|345|678");
	CHECK_EQ_INT(left, 1);
	/* A long line with its newline: the last part ends at the \n. */
	n = split_all(B("0123456789\nab\n"), 3, false, out, sizeof out, &left);
	CHECK_EQ_INT(n, 5);
	CHECK_STR(out, "012|345|678|9|ab");
	CHECK_EQ_INT(left, 0);
	/* Multiple of max plus \n: the final part is max long, no empty one. */
	n = split_all(B("012345\n"), 3, false, out, sizeof out, &left);
	CHECK_EQ_INT(n, 2);
	CHECK_STR(out, "012|345");
	CHECK_EQ_INT(left, 0);
	/* Lines of exactly max, back to back. */
	n = split_all(B("abc\ndef\n\nghi\n"), 3, false, out, sizeof out, &left);
	CHECK_EQ_INT(n, 4);
	CHECK_STR(out, "abc|def||ghi");
	CHECK_EQ_INT(left, 0);
	/* Only empty lines. */
	n = split_all(B("\n\r\n\n"), 3, false, out, sizeof out, &left);
	CHECK_EQ_INT(n, 3);
	CHECK_STR(out, "||");
	CHECK_EQ_INT(left, 0);
}

/*
 * A line of exactly max bytes ended by "
" is not split: the "
"
 * is stripped like "
" and leaves no empty message behind.
 */
static void
test_lines_crlf_at_max(void)
{
	struct line_result	 r;
	char			 out[64];
	size_t			 n, left;

	r = next_line(B("abcd\r\n"), 4, false);
	CHECK_LINE(r, 4, 6);
	n = split_all(B("abcd\r\nxy\n"), 4, false, out, sizeof out, &left);
	CHECK_EQ_INT(n, 2);
	CHECK_STR(out, "abcd|xy");
	/* With only the \r read so far, wait for the \n. */
	r = next_line(B("abcd\r"), 4, false);
	CHECK(!r.ready);
}

/* ------------------------------------------------------------------ */
/* Record header */

static void
test_records(void)
{
	static const uint32_t lens[] = {
		0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 16777216,
		0x01020304, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff,
	};
	unsigned char	 hdr[RECORD_HDR + 1];
	int		 op, opcodes[] = { RECORD_TEXT, RECORD_BINARY };
	uint32_t	 len;
	size_t		 i, j;

	CHECK_EQ_INT(RECORD_HDR, 5);
	CHECK(RECORD_TEXT != RECORD_BINARY);

	/* Layout: opcode, then the length big-endian. */
	memset(hdr, 0xaa, sizeof hdr);
	framing_put_record(hdr, RECORD_TEXT, 0x01020304);
	CHECK_MEM((const char *)hdr, 5, "\x01\x01\x02\x03\x04", 5);
	CHECK_EQ_INT(hdr[5], 0xaa);	/* nothing written past the header */
	framing_put_record(hdr, RECORD_BINARY, 0xffffffff);
	CHECK_MEM((const char *)hdr, 5, "\x02\xff\xff\xff\xff", 5);
	framing_put_record(hdr, RECORD_TEXT, 0);
	CHECK_MEM((const char *)hdr, 5, "\x01\x00\x00\x00\x00", 5);
	CHECK_EQ_INT(hdr[5], 0xaa);

	for (i = 0; i < sizeof opcodes / sizeof opcodes[0]; i++) {
		for (j = 0; j < sizeof lens / sizeof lens[0]; j++) {
			UNIT_CTX("opcode %d len %lu", opcodes[i],
			    (unsigned long)lens[j]);
			framing_put_record(hdr, opcodes[i], lens[j]);
			op = -1;
			len = 12345;
			framing_get_record(hdr, &op, &len);
			CHECK_EQ_INT(op, opcodes[i]);
			CHECK_EQ_INT(len, lens[j]);
		}
	}
	UNIT_CTX_CLEAR();

	/* get reads bytes as unsigned, whatever the top bits. */
	memcpy(hdr, "\x02\x80\x00\x00\x01", 5);
	framing_get_record(hdr, &op, &len);
	CHECK_EQ_INT(op, RECORD_BINARY);
	CHECK_EQ_INT(len, 0x80000001u);
}

/* Server frame headers: FIN and opcode, no mask bit, shortest length form. */
static void
test_frame_header(void)
{
	unsigned char	 h[FRAME_HDR_MAX + 1];
	size_t		 n;

	memset(h, 0xee, sizeof h);
	n = framing_frame_header(h, RECORD_TEXT, true, 0);
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_INT(h[0], 0x81);
	CHECK_EQ_INT(h[1], 0x00);
	CHECK_EQ_INT(h[2], 0xee);

	n = framing_frame_header(h, RECORD_BINARY, true, 125);
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_INT(h[0], 0x82);
	CHECK_EQ_INT(h[1], 125);

	/* 126 is the first length that needs the 16-bit form. */
	n = framing_frame_header(h, RECORD_TEXT, false, 126);
	CHECK_EQ_INT(n, 4);
	CHECK_EQ_INT(h[0], 0x01);
	CHECK_EQ_INT(h[1], 126);
	CHECK_EQ_INT(h[2], 0x00);
	CHECK_EQ_INT(h[3], 126);

	n = framing_frame_header(h, 0, true, 65535);
	CHECK_EQ_INT(n, 4);
	CHECK_EQ_INT(h[0], 0x80);
	CHECK_EQ_INT(h[1], 126);
	CHECK_EQ_INT(h[2], 0xff);
	CHECK_EQ_INT(h[3], 0xff);

	/* 65536 is the first that needs the 64-bit form, top bit clear. */
	memset(h, 0xee, sizeof h);
	n = framing_frame_header(h, 0, false, 65536);
	CHECK_EQ_INT(n, 10);
	CHECK_EQ_INT(h[0], 0x00);
	CHECK_EQ_INT(h[1], 127);
	CHECK(memcmp(h + 2, "\x00\x00\x00\x00\x00\x01\x00\x00", 8) == 0);
	CHECK_EQ_INT(h[10], 0xee);

	n = framing_frame_header(h, RECORD_BINARY, true, 0x0102030405060708ull);
	CHECK_EQ_INT(n, 10);
	CHECK_EQ_INT(h[0], 0x82);
	CHECK(memcmp(h + 2, "\x01\x02\x03\x04\x05\x06\x07\x08", 8) == 0);
}

int
main(void)
{
	test_utf8_valid_sequences();
	test_utf8_invalid_sequences();
	test_utf8_split_4byte();
	test_utf8_exhaustive();
	test_lines_basic();
	test_lines_max();
	test_lines_stream();
	test_lines_crlf_at_max();
	test_records();
	test_frame_header();
	return unit_done();
}
