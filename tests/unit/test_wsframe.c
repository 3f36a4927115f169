/*
 * wsframe.c: the RFC 6455 receiver (frame headers, masks, fragmentation,
 * control frames, limits, errors), Sec-WebSocket-Accept and the
 * permessage-deflate offer parser.
 *
 * Streams are fed in every way they can be cut (whole, byte by byte, at
 * every one or two points, in chunks of every small size); each chunk is a
 * malloc'd copy of exactly its size, so a sanitizer build catches a read
 * or write past it. What the parser reports is written down as a trace
 * (one line per message or control frame, plus "!..." lines for any broken
 * promise of the API), and every way of cutting must give the same trace.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/wsframe.h"
#include "unit.h"

#define FIN	0x80
#define RSV1	0x40
#define RSV2	0x20
#define RSV3	0x10

#define KEY1	0x37fa213dU	/* the mask of RFC 6455 5.7 */
#define KEY2	0xa1b2c3d4U

struct cfg {
	uint64_t	 max;
	bool		 deflate;
	bool		 need_mask;
};

static const struct cfg	 SERVER = { 1 << 20, false, true };
static const struct cfg	 DEFLATE = { 1 << 20, true, true };
static const struct cfg	 LAX = { 1 << 20, false, false };

/* ------------------------------------------------------------------ */
/* Building frames. */

struct stream {
	unsigned char	 b[200000];
	size_t		 len;
};

static struct stream	 st;

/* form: 0 the shortest length encoding, 16 or 64 a longer one. */
static size_t
frame_to(unsigned char *d, int b0, bool masked, uint32_t key,
    const void *payload, size_t len, int form)
{
	const unsigned char	*p = payload;
	unsigned char		 m[4];
	size_t			 n = 0, i;
	int			 mbit = masked ? 0x80 : 0;

	d[n++] = (unsigned char)b0;
	if (form == 64 || (form == 0 && len > 0xffff)) {
		d[n++] = (unsigned char)(mbit | 127);
		for (i = 0; i < 8; i++)
			d[n++] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
	} else if (form == 16 || (form == 0 && len > 125)) {
		d[n++] = (unsigned char)(mbit | 126);
		d[n++] = (unsigned char)(len >> 8);
		d[n++] = (unsigned char)len;
	} else
		d[n++] = (unsigned char)(mbit | len);
	m[0] = (unsigned char)(key >> 24);
	m[1] = (unsigned char)(key >> 16);
	m[2] = (unsigned char)(key >> 8);
	m[3] = (unsigned char)key;
	if (masked) {
		memcpy(d + n, m, 4);
		n += 4;
	}
	for (i = 0; i < len; i++)
		d[n + i] = masked ? p[i] ^ m[i & 3] : p[i];
	return n + len;
}

static void
add(int b0, bool masked, uint32_t key, const void *payload, size_t len,
    int form)
{
	st.len += frame_to(st.b + st.len, b0, masked, key, payload, len, form);
}

/* A masked frame with a string payload, shortest length. */
static void
adds(int b0, const char *s)
{
	add(b0, true, KEY1, s, strlen(s), 0);
}

static void
add_raw(const void *p, size_t len)
{
	memcpy(st.b + st.len, p, len);
	st.len += len;
}

static void
reset(void)
{
	st.len = 0;
}

/* ------------------------------------------------------------------ */
/* The trace of what the parser reports. */

struct trace {
	char		*s;
	size_t		 len, cap;
	bool		 in_msg, text, compressed;
	unsigned char	*msg;
	size_t		 msglen, msgcap;
	bool		 stopped;
};

static void
tr_putn(struct trace *t, const void *p, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		t->cap = (t->len + n + 1) * 2;
		t->s = realloc(t->s, t->cap);
		if (t->s == NULL)
			abort();
	}
	memcpy(t->s + t->len, p, n);
	t->len += n;
	t->s[t->len] = '\0';
}

static void
tr_puts(struct trace *t, const char *s)
{
	tr_putn(t, s, strlen(s));
}

/* Bytes, printable ones as they are and the rest as \xNN. */
static void
tr_bytes(struct trace *t, const unsigned char *p, size_t n)
{
	char	 hex[8];
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (p[i] >= 32 && p[i] < 127 && p[i] != '\\')
			tr_putn(t, p + i, 1);
		else {
			snprintf(hex, sizeof hex, "\\x%02x", p[i]);
			tr_puts(t, hex);
		}
	}
}

static void
tr_msg_append(struct trace *t, const unsigned char *p, size_t n)
{
	if (t->msglen + n > t->msgcap) {
		t->msgcap = (t->msglen + n) * 2 + 16;
		t->msg = realloc(t->msg, t->msgcap);
		if (t->msg == NULL)
			abort();
	}
	if (n > 0)
		memcpy(t->msg + t->msglen, p, n);
	t->msglen += n;
}

static void
tr_data(struct trace *t, const struct wsrx_out *o)
{
	if (o->len == 0 && !o->first && !o->final)
		tr_puts(t, "!empty\n");
	if (o->first) {
		if (t->in_msg)
			tr_puts(t, "!first\n");
		t->in_msg = true;
		t->text = o->text;
		t->compressed = o->compressed;
		t->msglen = 0;
	} else {
		if (!t->in_msg) {
			/* Start over, or a broken parser makes this quadratic. */
			tr_puts(t, "!nofirst\n");
			t->in_msg = true;
			t->msglen = 0;
		}
		if (t->text != o->text || t->compressed != o->compressed)
			tr_puts(t, "!flags\n");
	}
	tr_msg_append(t, o->data, o->len);
	if (!o->final)
		return;
	tr_puts(t, t->text ? "T" : "B");
	if (t->compressed)
		tr_puts(t, "z");
	tr_puts(t, ":");
	tr_bytes(t, t->msg, t->msglen);
	tr_puts(t, "\n");
	t->in_msg = false;
}

static void
tr_event(struct trace *t, const struct wsrx_out *o)
{
	char	 num[32];

	switch (o->type) {
	case WSRX_DATA:
		tr_data(t, o);
		break;
	case WSRX_PING:
	case WSRX_PONG:
		tr_puts(t, o->type == WSRX_PING ? "PING:" : "PONG:");
		tr_bytes(t, o->data, o->len);
		tr_puts(t, "\n");
		break;
	case WSRX_CLOSE:
		snprintf(num, sizeof num, "CLOSE%u:", (unsigned)o->code);
		tr_puts(t, num);
		tr_bytes(t, o->data, o->len);
		tr_puts(t, "\n");
		break;
	case WSRX_ERROR:
		snprintf(num, sizeof num, "E%u:", (unsigned)o->code);
		tr_puts(t, num);
		tr_puts(t, o->reason != NULL ? o->reason : "(null)");
		tr_puts(t, "\n");
		break;
	default:
		tr_puts(t, "!type\n");
		break;
	}
}

/*
 * One chunk, as a malloc'd copy of exactly its size, parsed to the end
 * (with a last call of nothing left, which must be WSRX_NEED_MORE).
 */
static void
feed_chunk(struct wsrx *rx, struct trace *t, const unsigned char *src,
    size_t len)
{
	unsigned char	*chunk = malloc(len > 0 ? len : 1);
	struct wsrx_out	 o, again;
	size_t		 off = 0, n;

	if (chunk == NULL)
		abort();
	memcpy(chunk, src, len);
	while (!t->stopped) {
		n = wsrx_parse(rx, chunk + off, len - off, &o);
		if (n > len - off) {
			tr_puts(t, "!consumed\n");
			break;
		}
		if (o.type == WSRX_DATA && o.len > 0 && (o.data < chunk + off ||
		    o.data + o.len > chunk + off + n))
			tr_puts(t, "!range\n");
		off += n;
		if (o.type == WSRX_NEED_MORE) {
			if (off != len)
				tr_puts(t, "!needmore\n");
			break;
		}
		tr_event(t, &o);
		if (o.type != WSRX_ERROR)
			continue;
		/* Stuck: the same error, nothing consumed, also for 0 bytes. */
		n = wsrx_parse(rx, chunk + off, len - off, &again);
		if (n != 0 || again.type != WSRX_ERROR ||
		    again.code != o.code || again.reason != o.reason)
			tr_puts(t, "!sticky\n");
		n = wsrx_parse(rx, chunk + off, 0, &again);
		if (n != 0 || again.type != WSRX_ERROR || again.code != o.code)
			tr_puts(t, "!sticky0\n");
		t->stopped = true;
	}
	free(chunk);
}

/* The stream cut at the given points; returns the malloc'd trace. */
static char *
run_cuts(const struct cfg *c, const unsigned char *s, size_t len,
    const size_t *cuts, size_t ncuts)
{
	struct wsrx	 rx;
	struct trace	 t;
	size_t		 i, from = 0, to;

	memset(&t, 0, sizeof t);
	tr_puts(&t, "");
	wsrx_init(&rx, c->max, c->deflate, c->need_mask);
	for (i = 0; i <= ncuts; i++) {
		to = i < ncuts ? cuts[i] : len;
		feed_chunk(&rx, &t, s + from, to - from);
		from = to;
	}
	if (t.in_msg) {
		tr_puts(&t, "OPEN:");
		tr_bytes(&t, t.msg, t.msglen);
		tr_puts(&t, "\n");
	}
	free(t.msg);
	return t.s;
}

/* The stream in chunks of size k. */
static char *
run_chunks(const struct cfg *c, const unsigned char *s, size_t len, size_t k)
{
	size_t	*cuts, n = 0, i;
	char	*r;

	cuts = malloc((len / k + 1) * sizeof *cuts);
	if (cuts == NULL)
		abort();
	for (i = k; i < len; i += k)
		cuts[n++] = i;
	r = run_cuts(c, s, len, cuts, n);
	free(cuts);
	return r;
}

/* Compares one run's trace; reports only the first difference of a case. */
static bool
same(char *got, const char *want, const char *how, size_t a, size_t b)
{
	bool	 ok = strcmp(got, want) == 0;

	if (!ok) {
		UNIT_CTX("%s %zu %zu", how, a, b);
		CHECK_STR(got, want);
		UNIT_CTX_CLEAR();
	}
	free(got);
	return ok;
}

/*
 * The current stream must give want, however it is cut. deep: also at
 * every pair of points (quadratic runs, so only for short streams).
 */
static void
expect(const struct cfg *c, const char *want, bool deep)
{
	const unsigned char	*s = st.b;
	size_t			 len = st.len, i, j, cut[2];
	bool			 ok = true;

	ok = same(run_cuts(c, s, len, NULL, 0), want, "whole", 0, 0);
	for (i = 0; ok && i <= len; i++)
		ok = same(run_cuts(c, s, len, &i, 1), want, "cut", i, 0);
	for (i = 1; ok && i <= 17 && i <= len; i++)
		ok = same(run_chunks(c, s, len, i), want, "chunks", i, 0);
	for (i = 0; ok && deep && i <= len; i++) {
		for (j = i; ok && j <= len; j++) {
			cut[0] = i;
			cut[1] = j;
			ok = same(run_cuts(c, s, len, cut, 2), want, "cuts", i,
			    j);
		}
	}
	CHECK(ok);
}

/* Only whole and byte by byte: for long streams. */
static void
expect_quick(const struct cfg *c, const char *want)
{
	bool	 ok;

	ok = same(run_cuts(c, st.b, st.len, NULL, 0), want, "whole", 0, 0);
	if (ok)
		ok = same(run_chunks(c, st.b, st.len, 1), want, "bytes", 1, 0);
	if (ok)
		ok = same(run_chunks(c, st.b, st.len, 1000), want, "chunks",
		    1000, 0);
	CHECK(ok);
}

/* One call on the whole stream: its event, and how much it used. */
static size_t
parse_once(const struct cfg *c, struct wsrx *rx, struct wsrx_out *o)
{
	wsrx_init(rx, c->max, c->deflate, c->need_mask);
	return wsrx_parse(rx, st.b, st.len, o);
}

/* ------------------------------------------------------------------ */

static void
test_close_codes(void)
{
	static const uint16_t	 good[] = { 1000, 1001, 1002, 1003, 1007,
	    1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999 };
	static const uint16_t	 bad[] = { 0, 1, 999, 1004, 1005, 1006, 1015,
	    1016, 1100, 2000, 2999, 5000, 9999, 65535 };
	size_t			 i;

	for (i = 0; i < sizeof good / sizeof good[0]; i++) {
		UNIT_CTX("code %u", good[i]);
		CHECK(ws_close_code_valid(good[i]));
	}
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		UNIT_CTX("code %u", bad[i]);
		CHECK(!ws_close_code_valid(bad[i]));
	}
	UNIT_CTX_CLEAR();
}

static void
test_accept_key(void)
{
	char	 out[WS_ACCEPT_LEN + 1];
	char	 longkey[400];

	memset(out, 'x', sizeof out);
	CHECK_EQ_INT(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out), 0);
	CHECK_STR(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	/* Another vector, computed with sha1sum and base64. */
	CHECK_EQ_INT(ws_accept_key("x3JJHMbDL1EzLkh9GBhXDw==", out), 0);
	CHECK_STR(out, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
	CHECK_EQ_INT(ws_accept_key(NULL, out), -1);
	memset(longkey, 'a', sizeof longkey - 1);
	longkey[sizeof longkey - 1] = '\0';
	CHECK_EQ_INT(ws_accept_key(longkey, out), -1);
}

/* The examples of RFC 6455 5.7, byte for byte. */
static void
test_rfc_examples(void)
{
	static const unsigned char	 hello_u[] = { 0x81, 0x05, 0x48, 0x65,
	    0x6c, 0x6c, 0x6f };
	static const unsigned char	 hello_m[] = { 0x81, 0x85, 0x37, 0xfa,
	    0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58 };
	static const unsigned char	 frag[] = { 0x01, 0x03, 0x48, 0x65,
	    0x6c, 0x80, 0x02, 0x6c, 0x6f };
	static const unsigned char	 ping[] = { 0x89, 0x05, 0x48, 0x65,
	    0x6c, 0x6c, 0x6f };
	static const unsigned char	 pong[] = { 0x8a, 0x85, 0x37, 0xfa,
	    0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58 };

	reset();
	add_raw(hello_u, sizeof hello_u);
	expect(&LAX, "T:Hello\n", true);
	expect(&SERVER, "E1002:unmasked frame\n", false);
	reset();
	add_raw(hello_m, sizeof hello_m);
	expect(&SERVER, "T:Hello\n", true);
	expect(&LAX, "T:Hello\n", false);
	reset();
	add_raw(frag, sizeof frag);
	expect(&LAX, "T:Hello\n", true);
	reset();
	add_raw(ping, sizeof ping);
	add_raw(pong, sizeof pong);
	expect(&LAX, "PING:Hello\nPONG:Hello\n", true);
}

/*
 * A fragmented text message with a ping and a pong between its frames, a
 * binary message with a 16-bit length, an empty message, an empty message
 * in three empty frames, a one-frame message and a close.
 */
static void
build_mixed(char *want, size_t wantsize)
{
	unsigned char	 bin[300];
	size_t		 i;
	struct trace	 t;

	reset();
	add(0x01, true, KEY1, "Hello, ", 7, 0);
	add(0x89, true, KEY2, "p1", 2, 0);
	add(0x00, true, KEY2, "wor", 3, 0);
	add(0x8a, true, KEY1, "", 0, 0);
	add(0x00, true, 0, "", 0, 0);			/* empty middle */
	add(0x80, true, KEY2, "ld!", 3, 0);
	for (i = 0; i < sizeof bin; i++)
		bin[i] = (unsigned char)(i * 7);
	add(0x82, true, KEY2, bin, sizeof bin, 0);
	add(0x81, true, KEY1, "", 0, 0);
	add(0x01, true, KEY1, "", 0, 0);
	add(0x00, true, KEY2, "", 0, 0);
	add(0x80, true, KEY1, "", 0, 0);
	add(0x82, true, KEY1, "\x00\xff", 2, 0);
	add(0x88, true, KEY2, "\x03\xe8" "bye", 5, 0);

	memset(&t, 0, sizeof t);
	tr_puts(&t, "PING:p1\nPONG:\nT:Hello, world!\nB:");
	tr_bytes(&t, bin, sizeof bin);
	tr_puts(&t, "\nT:\nT:\nB:\\x00\\xff\nCLOSE1000:bye\n");
	snprintf(want, wantsize, "%s", t.s);
	free(t.s);
}

static void
test_mixed(void)
{
	char	 want[4096];

	build_mixed(want, sizeof want);
	expect(&SERVER, want, false);
	expect(&DEFLATE, want, false);
}

/* Short enough to be cut at every pair of points. */
static void
test_fragmented_deep(void)
{
	reset();
	adds(0x01, "ab");
	adds(0x89, "x");
	add(0x00, true, KEY2, "cde", 3, 0);
	add(0x8a, true, KEY2, "yz", 2, 0);
	adds(0x00, "");
	adds(0x80, "f");
	adds(0x82, "g");
	expect(&SERVER, "PING:x\nPONG:yz\nT:abcdef\nB:g\n", true);
}

/* Events end where their bytes end: nothing after them is used. */
static void
test_event_bounds(void)
{
	struct wsrx	 rx;
	struct wsrx_out	 o;
	size_t		 n, first;

	reset();
	adds(0x89, "one");
	first = st.len;
	adds(0x89, "two");
	n = parse_once(&SERVER, &rx, &o);
	CHECK_EQ_INT(o.type, WSRX_PING);
	CHECK_EQ_INT(n, first);
	CHECK_MEM(o.data, o.len, "one", 3);
	n = wsrx_parse(&rx, st.b + first, st.len - first, &o);
	CHECK_EQ_INT(o.type, WSRX_PING);
	CHECK_EQ_INT(n, st.len - first);
	CHECK_MEM(o.data, o.len, "two", 3);
	n = wsrx_parse(&rx, st.b + st.len, 0, &o);
	CHECK_EQ_INT(o.type, WSRX_NEED_MORE);
	CHECK_EQ_INT(n, 0);

	/* A data piece is unmasked in place and ends with its frame. */
	reset();
	adds(0x82, "data");
	first = st.len;
	adds(0x89, "");
	n = parse_once(&SERVER, &rx, &o);
	CHECK_EQ_INT(o.type, WSRX_DATA);
	CHECK_EQ_INT(n, first);
	CHECK(o.data == st.b + 6);
	CHECK_MEM(o.data, o.len, "data", 4);
	CHECK(o.first && o.final && !o.text && !o.compressed);
	n = wsrx_parse(&rx, st.b + first, st.len - first, &o);
	CHECK_EQ_INT(o.type, WSRX_PING);
	CHECK_EQ_INT(o.len, 0);
	CHECK_EQ_INT(n, st.len - first);

	/* Nothing at all, at the start. */
	wsrx_init(&rx, 100, false, true);
	n = wsrx_parse(&rx, st.b, 0, &o);
	CHECK_EQ_INT(n, 0);
	CHECK_EQ_INT(o.type, WSRX_NEED_MORE);

	/* A header alone is used up and waits. */
	reset();
	adds(0x81, "abc");
	wsrx_init(&rx, 100, false, true);
	n = wsrx_parse(&rx, st.b, 6, &o);
	CHECK_EQ_INT(n, 6);
	CHECK_EQ_INT(o.type, WSRX_NEED_MORE);
	n = wsrx_parse(&rx, st.b + 6, 1, &o);
	CHECK_EQ_INT(n, 1);
	CHECK_EQ_INT(o.type, WSRX_DATA);
	CHECK(o.first && !o.final && o.text);
	CHECK_MEM(o.data, o.len, "a", 1);
	n = wsrx_parse(&rx, st.b + 7, 2, &o);
	CHECK_EQ_INT(n, 2);
	CHECK(!o.first && o.final && o.text);
	CHECK_MEM(o.data, o.len, "bc", 2);
}

/* 16- and 64-bit lengths, the non-minimal ones too, and masks. */
static void
test_lengths(void)
{
	static unsigned char	 big[70000];
	struct trace		 t;
	size_t			 i;

	reset();
	add(0x81, true, KEY1, "abc", 3, 16);
	add(0x81, true, KEY2, "defgh", 5, 64);
	add(0x82, false, 0, "ij", 2, 64);
	add(0x81, true, 0, "k", 1, 0);			/* a zero mask */
	add(0x89, true, KEY1, "pi", 2, 16);		/* control, long form */
	expect(&LAX, "T:abc\nT:defgh\nB:ij\nT:k\nPING:pi\n", false);

	for (i = 0; i < sizeof big; i++)
		big[i] = (unsigned char)(i * 31 + (i >> 8));
	for (i = 0; i < 3; i++) {
		reset();
		add(0x82, true, KEY2, big, i == 0 ? 126 : i == 1 ? 65535 :
		    sizeof big, 0);
		memset(&t, 0, sizeof t);
		tr_puts(&t, "B:");
		tr_bytes(&t, big, i == 0 ? 126 : i == 1 ? 65535 : sizeof big);
		tr_puts(&t, "\n");
		UNIT_CTX("big %zu", i);
		CHECK_EQ_INT(st.b[1] & 0x7f, i < 2 ? 126 : 127);
		expect_quick(&SERVER, t.s);
		free(t.s);
	}
	UNIT_CTX_CLEAR();

	/* The largest length we accept (2^63 - 1) with room for it. */
	reset();
	add_raw("\x82\xff\x7f\xff\xff\xff\xff\xff\xff\xff" "abcd", 14);
	add_raw("\x19\x1b", 2);		/* "xy" masked with "ab" */
	{
		struct cfg	 huge = { UINT64_MAX, false, true };

		expect(&huge, "OPEN:xy\n", false);
	}
}

static void
test_masks(void)
{
	static const uint32_t	 keys[] = { 0, 0xffffffffU, KEY1, KEY2,
	    0x01000000U, 0x000000ffU };
	char			 want[64];
	size_t			 i;

	for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		reset();
		add(0x01, true, keys[i], "12345", 5, 0);
		add(0x89, true, keys[(i + 1) % 6], "pp", 2, 0);
		add(0x80, true, keys[(i + 2) % 6], "6789abc", 7, 0);
		snprintf(want, sizeof want, "PING:pp\nT:123456789abc\n");
		UNIT_CTX("key %zu", i);
		expect(&SERVER, want, i == 2);
	}
	UNIT_CTX_CLEAR();
}

/* Each case: bytes that must fail with code after exactly used bytes. */
static void
expect_error_at(const struct cfg *c, uint16_t code, const char *reason,
    size_t used)
{
	struct wsrx	 rx;
	struct wsrx_out	 o;
	size_t		 n;
	char		 want[128];

	snprintf(want, sizeof want, "E%u:%s\n", (unsigned)code, reason);
	n = parse_once(c, &rx, &o);
	CHECK_EQ_INT(o.type, WSRX_ERROR);
	CHECK_EQ_INT(o.code, code);
	CHECK_STR(o.reason, reason);
	if (used != 0)
		CHECK_EQ_INT(n, used);
	expect(c, want, false);
}

static void
test_header_errors(void)
{
	static const int	 bad_ops[] = { 3, 4, 5, 6, 7, 11, 12, 13, 14,
	    15 };
	size_t			 i;

	reset();
	add(0x81, false, 0, "abc", 3, 0);
	expect_error_at(&SERVER, 1002, "unmasked frame", 2);
	reset();
	add(0x89, false, 0, "", 0, 0);
	expect_error_at(&SERVER, 1002, "unmasked frame", 2);

	reset();
	adds(0x81 | RSV2, "x");
	expect_error_at(&SERVER, 1002, "reserved bits set", 1);
	reset();
	adds(0x81 | RSV3, "x");
	expect_error_at(&DEFLATE, 1002, "reserved bits set", 1);
	reset();
	adds(0x81 | RSV1, "x");
	expect_error_at(&SERVER, 1002, "reserved bits set", 1);
	reset();
	adds(0x89 | RSV1, "x");
	expect_error_at(&DEFLATE, 1002, "reserved bits set", 1);
	reset();
	adds(0x88 | RSV1, "");
	expect_error_at(&DEFLATE, 1002, "reserved bits set", 1);

	for (i = 0; i < sizeof bad_ops / sizeof bad_ops[0]; i++) {
		UNIT_CTX("opcode %d", bad_ops[i]);
		reset();
		adds(0x80 | bad_ops[i], "x");
		expect_error_at(&SERVER, 1002, "unknown opcode", 1);
		reset();
		adds(bad_ops[i], "x");
		expect_error_at(&LAX, 1002, "unknown opcode", 1);
	}
	UNIT_CTX_CLEAR();

	for (i = 8; i <= 10; i++) {
		UNIT_CTX("opcode %zu", i);
		reset();
		adds((int)i, "x");
		expect_error_at(&SERVER, 1002, "fragmented control frame", 1);
	}
	UNIT_CTX_CLEAR();

	/* Control frames over 125 bytes: refused once the length is in. */
	reset();
	add_raw("\x89\xfe\x00\x7e", 4);
	expect_error_at(&SERVER, 1002, "control frame too long", 4);
	reset();
	add_raw("\x8a\xff\x00\x00\x00\x00\x00\x00\x01\x00", 10);
	expect_error_at(&SERVER, 1002, "control frame too long", 10);
	reset();
	add_raw("\x88\x7e\xff\xff", 4);
	expect_error_at(&LAX, 1002, "control frame too long", 4);

	/* A 64-bit length with its top bit set. */
	reset();
	add_raw("\x82\xff\x80\x00\x00\x00\x00\x00\x00\x01", 10);
	expect_error_at(&SERVER, 1002, "invalid frame length", 10);
	reset();
	add_raw("\x82\x7f\xff\xff\xff\xff\xff\xff\xff\xff", 10);
	expect_error_at(&LAX, 1002, "invalid frame length", 10);

	/* Continuation with nothing open, and a new message too early. */
	reset();
	adds(0x80, "x");
	expect_error_at(&SERVER, 1002, "unexpected continuation", 1);
	reset();
	adds(0x00, "x");
	expect_error_at(&SERVER, 1002, "unexpected continuation", 1);
}

/* Errors after other events: the trace shows both. */
static void
test_stream_errors(void)
{
	reset();
	adds(0x81, "done");
	adds(0x80, "x");
	expect(&SERVER, "T:done\nE1002:unexpected continuation\n", true);
	reset();
	adds(0x01, "ab");
	adds(0x81, "x");
	expect(&SERVER, "E1002:message not finished\nOPEN:ab\n", true);
	reset();
	adds(0x02, "ab");
	adds(0x89, "p");
	adds(0x02, "x");
	expect(&SERVER, "PING:p\nE1002:message not finished\nOPEN:ab\n", true);
	reset();
	adds(0x01, "");
	adds(0x82, "x");
	expect(&SERVER, "E1002:message not finished\nOPEN:\n", true);

	/* RSV1 with deflate: the message is compressed, all its pieces. */
	reset();
	adds(0x01 | RSV1, "ab");
	adds(0x89, "p");
	adds(0x00, "cd");
	adds(0x80, "e");
	adds(0x82 | RSV1, "f");
	adds(0x81, "g");
	expect(&DEFLATE, "PING:p\nTz:abcde\nBz:f\nT:g\n", false);
	reset();
	adds(0x01 | RSV1, "ab");
	adds(0x80 | RSV1, "c");
	expect(&DEFLATE, "E1002:reserved bits set\nOPEN:ab\n", false);
}

static void
test_max_message(void)
{
	struct cfg	 ten = { 10, false, true };
	struct cfg	 zero = { 0, false, true };
	struct wsrx	 rx;
	struct wsrx_out	 o;
	size_t		 n;

	reset();
	adds(0x81, "0123456789");
	expect(&ten, "T:0123456789\n", false);
	reset();
	adds(0x81, "0123456789X");
	expect_error_at(&ten, 1009, "message too big", 2);

	/* Refused once the length is in, before the mask and payload. */
	n = parse_once(&ten, &rx, &o);
	CHECK_EQ_INT(n, 2);
	wsrx_init(&rx, 10, false, true);
	n = wsrx_parse(&rx, st.b, 1, &o);
	CHECK_EQ_INT(o.type, WSRX_NEED_MORE);
	CHECK_EQ_INT(n, 1);
	n = wsrx_parse(&rx, st.b + 1, 1, &o);
	CHECK_EQ_INT(o.type, WSRX_ERROR);
	CHECK_EQ_INT(o.code, 1009);
	CHECK_EQ_INT(n, 1);

	/* Across fragments; control frames do not count. */
	reset();
	adds(0x01, "012345");
	adds(0x89, "0123456789abcdef");
	adds(0x80, "6789");
	adds(0x81, "0123456789");
	expect(&ten, "PING:0123456789abcdef\nT:0123456789\nT:0123456789\n",
	    false);
	reset();
	adds(0x01, "012345");
	adds(0x00, "");
	adds(0x80, "67890");
	expect(&ten, "E1009:message too big\nOPEN:012345\n", false);

	/* A 64-bit length far past the limit, without its payload. */
	reset();
	add_raw("\x82\xff\x00\x00\x01\x00\x00\x00\x00\x00" "abcd", 14);
	expect_error_at(&ten, 1009, "message too big", 10);

	/* The limit near the top of 64 bits: 10 + (2^63 - 1) bytes. */
	reset();
	adds(0x01, "0123456789");
	add_raw("\x80\xff\x7f\xff\xff\xff\xff\xff\xff\xff" "abcd", 14);
	{
		struct cfg	 fits = { (UINT64_MAX >> 1) + 10, false, true };
		struct cfg	 over = { (UINT64_MAX >> 1) + 9, false, true };

		expect(&fits, "OPEN:0123456789\n", false);
		expect(&over, "E1009:message too big\nOPEN:0123456789\n",
		    false);
	}

	/* A limit of 0: empty messages only. */
	reset();
	adds(0x81, "");
	adds(0x01, "");
	adds(0x80, "");
	adds(0x89, "ping");
	expect(&zero, "T:\nT:\nPING:ping\n", true);
	reset();
	adds(0x82, "x");
	expect_error_at(&zero, 1009, "message too big", 2);
}

static void
test_close(void)
{
	static const uint16_t	 good[] = { 1000, 1001, 1003, 1007, 1011,
	    1014, 3000, 4999 };
	static const uint16_t	 bad[] = { 0, 999, 1004, 1005, 1006, 1015,
	    1016, 2999, 5000, 65535 };
	unsigned char		 b[130];
	char			 want[256];
	size_t			 i;

	reset();
	adds(0x88, "");
	expect(&SERVER, "CLOSE1005:\n", true);
	reset();
	adds(0x88, "\x03");
	expect_error_at(&SERVER, 1002, "close frame of one byte", 0);
	reset();
	add(0x88, true, KEY1, "\x03\xe8", 2, 0);
	expect(&SERVER, "CLOSE1000:\n", true);
	reset();
	add(0x88, true, KEY2, "\x0f\xa0" "caf\xc3\xa9", 7, 0);
	expect(&SERVER, "CLOSE4000:caf\\xc3\\xa9\n", true);

	for (i = 0; i < sizeof good / sizeof good[0]; i++) {
		b[0] = (unsigned char)(good[i] >> 8);
		b[1] = (unsigned char)good[i];
		reset();
		add(0x88, true, KEY2, b, 2, 0);
		snprintf(want, sizeof want, "CLOSE%u:\n", (unsigned)good[i]);
		UNIT_CTX("code %u", good[i]);
		expect(&SERVER, want, false);
	}
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		b[0] = (unsigned char)(bad[i] >> 8);
		b[1] = (unsigned char)bad[i];
		reset();
		add(0x88, true, KEY2, b, 2, 0);
		UNIT_CTX("code %u", bad[i]);
		expect_error_at(&SERVER, 1002, "invalid close code", 8);
	}
	UNIT_CTX_CLEAR();

	/* Reasons that are not UTF-8. */
	reset();
	add(0x88, true, KEY1, "\x03\xe8\xff", 3, 0);
	expect_error_at(&SERVER, 1007, "close reason not UTF-8", 9);
	reset();
	add(0x88, true, KEY1, "\x03\xe8" "ab\xc0\x80", 6, 0);
	expect_error_at(&SERVER, 1007, "close reason not UTF-8", 12);
	reset();
	add(0x88, true, KEY1, "\x03\xe8" "ab\xe2\x82", 6, 0);
	expect_error_at(&SERVER, 1007, "close reason not UTF-8", 12);
	reset();
	add(0x88, true, KEY1, "\x03\xe8\xed\xa0\x80", 5, 0);	/* surrogate */
	expect_error_at(&SERVER, 1007, "close reason not UTF-8", 11);

	/* The longest close, in the middle of a message, split anywhere. */
	b[0] = 0x03;
	b[1] = 0xe9;
	memset(b + 2, 'r', 123);
	reset();
	adds(0x01, "ab");
	add(0x88, true, KEY2, b, 125, 0);
	snprintf(want, sizeof want, "CLOSE1001:%.*s\nOPEN:ab\n", 123,
	    (const char *)b + 2);
	expect(&SERVER, want, false);
}

static void
test_control_sizes(void)
{
	unsigned char	 b[130];
	char		 want[300];

	memset(b, 'q', sizeof b);
	reset();
	add(0x89, true, KEY1, b, 125, 0);
	add(0x8a, true, KEY2, b, 125, 16);	/* 125 in the 16-bit form */
	snprintf(want, sizeof want, "PING:%.*s\nPONG:%.*s\n", 125,
	    (const char *)b, 125, (const char *)b);
	expect(&SERVER, want, false);
	reset();
	add(0x89, true, KEY1, b, 126, 16);
	expect_error_at(&SERVER, 1002, "control frame too long", 4);
	reset();
	add(0x89, true, KEY1, b, 126, 64);
	expect_error_at(&SERVER, 1002, "control frame too long", 10);
	reset();
	add(0x8a, true, KEY1, b, 3, 64);	/* small, in the 64-bit form */
	expect(&SERVER, "PONG:qqq\n", true);
}

/* ------------------------------------------------------------------ */
/* permessage-deflate */

#define PMD_PLAIN	"permessage-deflate; server_no_context_takeover; " \
			"client_no_context_takeover"

static void
pmd_ok(const char *offers, const char *want, int bits)
{
	struct pmd_params	 p = { 0 };
	char			 resp[256];

	UNIT_CTX("offers '%s'", offers);
	memset(resp, 'x', sizeof resp);
	CHECK_EQ_INT(pmd_negotiate(offers, &p, resp, sizeof resp), 0);
	CHECK_STR(resp, want);
	CHECK_EQ_INT(p.server_bits, bits);
	UNIT_CTX_CLEAR();
}

static void
pmd_none(const char *offers)
{
	struct pmd_params	 p = { 0 };
	char			 resp[256];

	UNIT_CTX("offers '%s'", offers != NULL ? offers : "(null)");
	CHECK_EQ_INT(pmd_negotiate(offers, &p, resp, sizeof resp), -1);
	UNIT_CTX_CLEAR();
}

static void
test_pmd(void)
{
	struct pmd_params	 p = { 0 };
	char			 resp[128];
	size_t			 n = strlen(PMD_PLAIN);

	pmd_ok("permessage-deflate", PMD_PLAIN, 15);
	pmd_ok("permessage-deflate; client_max_window_bits", PMD_PLAIN, 15);
	pmd_ok("permessage-deflate; client_max_window_bits=8", PMD_PLAIN, 15);
	pmd_ok("permessage-deflate; server_no_context_takeover; "
	    "client_no_context_takeover; client_max_window_bits=15",
	    PMD_PLAIN, 15);
	pmd_ok("permessage-deflate; server_max_window_bits=10",
	    PMD_PLAIN "; server_max_window_bits=10", 10);
	pmd_ok("permessage-deflate; server_max_window_bits=15",
	    PMD_PLAIN "; server_max_window_bits=15", 15);
	pmd_ok("permessage-deflate;server_max_window_bits=9",
	    PMD_PLAIN "; server_max_window_bits=9", 9);
	pmd_ok("permessage-deflate; server_max_window_bits=\"12\"",
	    PMD_PLAIN "; server_max_window_bits=12", 12);
	pmd_ok("permessage-deflate; server_max_window_bits=\"1\\3\"",
	    PMD_PLAIN "; server_max_window_bits=13", 13);
	pmd_ok("permessage-deflate; client_max_window_bits=\"10\"",
	    PMD_PLAIN, 15);
	pmd_ok("  permessage-deflate ;\tclient_max_window_bits = 10 , x",
	    PMD_PLAIN, 15);

	/* Several offers: the first we can honour wins. */
	pmd_ok("x-webkit-deflate-frame, permessage-deflate", PMD_PLAIN, 15);
	pmd_ok("permessage-deflate; server_max_window_bits=8, "
	    "permessage-deflate; server_max_window_bits=11",
	    PMD_PLAIN "; server_max_window_bits=11", 11);
	pmd_ok("permessage-deflate; server_max_window_bits=8, "
	    "permessage-deflate", PMD_PLAIN, 15);
	pmd_ok("permessage-deflate; foo, permessage-deflate; "
	    "client_max_window_bits", PMD_PLAIN, 15);
	pmd_ok("permessage-deflate; server_no_context_takeover; "
	    "server_no_context_takeover, permessage-deflate; "
	    "server_max_window_bits=14",
	    PMD_PLAIN "; server_max_window_bits=14", 14);
	pmd_ok("foo; bar=\"a,b;c\", permessage-deflate; "
	    "server_max_window_bits=11",
	    PMD_PLAIN "; server_max_window_bits=11", 11);
	pmd_ok("garbage@@, permessage-deflate", PMD_PLAIN, 15);
	pmd_ok("permessage-deflate x, permessage-deflate", PMD_PLAIN, 15);
	pmd_ok(",, ,permessage-deflate,", PMD_PLAIN, 15);
	pmd_ok("permessage-deflate; server_max_window_bits=\"1,2\", "
	    "permessage-deflate; server_max_window_bits=12",
	    PMD_PLAIN "; server_max_window_bits=12", 12);
	pmd_ok("permessage-deflate; server_max_window_bits=\"a\\\"b\", "
	    "permessage-deflate", PMD_PLAIN, 15);

	/* Nothing we can take. */
	pmd_none(NULL);
	pmd_none("");
	pmd_none(" ");
	pmd_none(",,,");
	pmd_none("x-webkit-deflate-frame");
	pmd_none("permessage-deflate-x");
	pmd_none("Permessage-Deflate");
	pmd_none("permessage-deflate; server_max_window_bits=8");
	pmd_none("permessage-deflate; server_max_window_bits");
	pmd_none("permessage-deflate; server_max_window_bits=7");
	pmd_none("permessage-deflate; server_max_window_bits=16");
	pmd_none("permessage-deflate; server_max_window_bits=08");
	pmd_none("permessage-deflate; server_max_window_bits=010");
	pmd_none("permessage-deflate; server_max_window_bits=1");
	pmd_none("permessage-deflate; server_max_window_bits=abc");
	pmd_none("permessage-deflate; server_max_window_bits=\"\"");
	pmd_none("permessage-deflate; server_max_window_bits=\" 9\"");
	pmd_none("permessage-deflate; server_max_window_bits=\"12");
	pmd_none("permessage-deflate; server_max_window_bits=");
	pmd_none("permessage-deflate; server_max_window_bits="
	    "9999999999999999999999999999999999999999999999999999999");
	pmd_none("permessage-deflate; client_max_window_bits=7");
	pmd_none("permessage-deflate; client_max_window_bits=16");
	pmd_none("permessage-deflate; client_max_window_bits=");
	pmd_none("permessage-deflate; server_no_context_takeover=1");
	pmd_none("permessage-deflate; server_no_context_takeover=10");
	pmd_none("permessage-deflate; client_no_context_takeover=\"15\"");
	pmd_none("permessage-deflate; client_no_context_takeover=\"\"");
	pmd_none("permessage-deflate; client_no_context_takeover; "
	    "client_no_context_takeover");
	pmd_none("permessage-deflate; server_max_window_bits=10; "
	    "server_max_window_bits=10");
	pmd_none("permessage-deflate; client_max_window_bits; "
	    "client_max_window_bits=10");
	pmd_none("permessage-deflate; foo");
	pmd_none("permessage-deflate; Server_No_Context_Takeover");
	pmd_none("permessage-deflate;");
	pmd_none("permessage-deflate;;");
	pmd_none("permessage-deflate; =1");
	pmd_none("; permessage-deflate");
	pmd_none(";;;");
	pmd_none("\"");
	pmd_none("\"permessage-deflate\"");
	pmd_none("permessage-deflate x");
	pmd_none("permessage-deflate; server_max_window_bits=10 x");
	pmd_none("permessage-deflate; a=\"\\");

	/* The answer must fit, with its NUL. */
	CHECK_EQ_INT(pmd_negotiate("permessage-deflate", &p, resp, 10), -1);
	CHECK_EQ_INT(pmd_negotiate("permessage-deflate", &p, resp, n), -1);
	CHECK_EQ_INT(pmd_negotiate("permessage-deflate", &p, resp, n + 1), 0);
	CHECK_STR(resp, PMD_PLAIN);
	CHECK_EQ_INT(pmd_negotiate("permessage-deflate; "
	    "server_max_window_bits=9", &p, resp, n + 1), -1);
}

int
main(void)
{
	test_close_codes();
	test_accept_key();
	test_rfc_examples();
	test_mixed();
	test_fragmented_deep();
	test_event_bounds();
	test_lengths();
	test_masks();
	test_header_errors();
	test_stream_errors();
	test_max_message();
	test_close();
	test_control_sizes();
	test_pmd();
	return unit_done();
}
