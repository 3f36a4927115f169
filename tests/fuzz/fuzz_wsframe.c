/*
 * wsframe.c's receiving parser, wsrx_parse, and pmd_negotiate.
 *
 * The input: a flag byte (bit 0 deflate, bit 1 need_mask, bits 2-3 pick
 * max_message), a count byte, that many chunk sizes, then the byte stream
 * from the client. The stream is parsed twice: in chunks of those sizes
 * (each chunk its own exact allocation, so ASan sees any read past it) and
 * in one piece. Oracles on every call: consumed <= len; WSRX_NEED_MORE
 * consumes everything; a call that consumes nothing must report an event,
 * and not forever; WSRX_DATA points inside what was given; first/final
 * bracket messages; control payloads fit 125 bytes; a close code is valid
 * or 1005; after WSRX_ERROR every later call returns WSRX_ERROR and
 * consumes nothing; no message delivers more than max_message bytes. And
 * both runs must tell the same story (events and payload bytes), however
 * the stream was cut.
 *
 * Then the stream, as a NUL-terminated string, goes to pmd_negotiate with
 * a response buffer sized by the count byte, and to ws_accept_key.
 */
#include <stdbool.h>
#include <string.h>

#include "framing.h"
#include "wsframe.h"
#include "fuzz.h"

static const uint64_t	 maxes[] = { 4096, 125, 1, 65536 };

struct story {
	unsigned char	*buf;
	size_t		 len, cap;
	/* The message being delivered. */
	bool		 in_message, text, compressed;
	uint64_t	 bytes;
};

static void
tell(struct story *s, const void *p, size_t n)
{
	if (s->len + n > s->cap) {
		s->cap = (s->len + n) * 2 + 64;
		if ((s->buf = realloc(s->buf, s->cap)) == NULL)
			abort();
	}
	if (n > 0)
		memcpy(s->buf + s->len, p, n);
	s->len += n;
}

static void
tell_event(struct story *s, char tag, uint16_t code, const void *p, size_t n)
{
	unsigned char	 hdr[1 + 2 + sizeof n];

	hdr[0] = (unsigned char)tag;
	hdr[1] = (unsigned char)(code >> 8);
	hdr[2] = (unsigned char)code;
	memcpy(hdr + 3, &n, sizeof n);
	tell(s, hdr, sizeof hdr);
	tell(s, p, n);
}

/* Checks one event and adds it to the story; false after an error. */
static bool
check_event(struct wsrx *rx, struct story *s, const unsigned char *buf,
    size_t len, size_t used, const struct wsrx_out *o)
{
	switch (o->type) {
	case WSRX_NEED_MORE:
		CHECK(used == len);
		return true;
	case WSRX_DATA:
		CHECK(o->len <= used);
		if (o->len > 0) {
			CHECK(o->data >= buf && o->data + o->len <= buf + used);
		}
		if (o->first) {
			CHECK(!s->in_message);
			s->in_message = true;
			s->text = o->text;
			s->compressed = o->compressed;
			s->bytes = 0;
			tell_event(s, o->text ? 'T' : 'B', o->compressed, NULL,
			    0);
		} else {
			CHECK(s->in_message);
			CHECK(o->text == s->text);
		}
		CHECK(!o->compressed || rx->deflate);
		s->bytes += o->len;
		CHECK(s->bytes <= rx->max_message);
		tell(s, o->data, o->len);
		if (o->final) {
			s->in_message = false;
			tell_event(s, 'F', 0, NULL, 0);
		}
		return true;
	case WSRX_PING:
	case WSRX_PONG:
		CHECK(o->len <= WS_CONTROL_MAX);
		CHECK(o->len == 0 || o->data != NULL);
		tell_event(s, o->type == WSRX_PING ? 'I' : 'O', 0, o->data,
		    o->len);
		return true;
	case WSRX_CLOSE:
		CHECK(o->code == 1005 || ws_close_code_valid(o->code));
		CHECK(o->len <= WS_CONTROL_MAX - 2);
		CHECK(o->code != 1005 || o->len == 0);
		CHECK(o->len == 0 || o->data != NULL);
		/* RFC 6455 7.1.6: a close reason is UTF-8, or 1007. */
		CHECK(utf8_valid(o->data, o->len));
		tell_event(s, 'C', o->code, o->data, o->len);
		return true;
	case WSRX_ERROR:
		CHECK(o->code >= 1000 && o->code < 5000);
		CHECK(o->reason != NULL);
		tell_event(s, 'E', o->code, NULL, 0);
		return false;
	}
	CHECK(!"unknown event type");
	return false;
}

/* Parses stream in chunks of the given sizes (none: one piece). */
static void
run(const unsigned char *stream, size_t size, const uint8_t *sizes,
    size_t nsizes, uint8_t flags, struct story *s)
{
	struct wsrx	 rx;
	struct wsrx_out	 o;
	unsigned char	*chunk;
	size_t		 off = 0, n, at, used, k = 0;
	int		 idle;
	bool		 alive = true;

	wsrx_init(&rx, maxes[(flags >> 2) & 3], flags & 1, flags & 2);
	CHECK(rx.max_message == maxes[(flags >> 2) & 3]);
	while (alive && off < size) {
		n = nsizes == 0 ? size - off : sizes[k++ % nsizes];
		if (n == 0)
			n = 1;
		if (n > size - off)
			n = size - off;
		if ((chunk = malloc(n)) == NULL)
			abort();
		memcpy(chunk, stream + off, n);
		for (at = 0, idle = 0; alive;) {
			memset(&o, 0, sizeof o);
			used = wsrx_parse(&rx, chunk + at, n - at, &o);
			CHECK(used <= n - at);
			alive = check_event(&rx, s, chunk + at, n - at, used,
			    &o);
			if (used == 0 && alive) {
				/* No progress is only for an event. */
				CHECK(o.type != WSRX_NEED_MORE || at == n);
				CHECK(++idle < 4);
			} else
				idle = 0;
			at += used;
			if (at == n && o.type == WSRX_NEED_MORE)
				break;
		}
		if (!alive) {
			/* Sticky: every later call errs and consumes nothing. */
			memset(&o, 0, sizeof o);
			CHECK(wsrx_parse(&rx, chunk + at, n - at, &o) == 0);
			CHECK(o.type == WSRX_ERROR);
			memset(&o, 0, sizeof o);
			CHECK(wsrx_parse(&rx, chunk, n, &o) == 0);
			CHECK(o.type == WSRX_ERROR);
		}
		free(chunk);
		off += n;
	}
}

static void
negotiate(const uint8_t *data, size_t size, size_t resplen)
{
	struct pmd_params	 p;
	char			*offers, *resp, accept[WS_ACCEPT_LEN + 1];
	size_t			 i;

	if ((offers = malloc(size + 1)) == NULL ||
	    (resp = malloc(resplen)) == NULL)
		abort();
	memcpy(offers, data, size);
	offers[size] = '\0';
	memset(resp, 'X', resplen);
	memset(&p, 0, sizeof p);
	if (pmd_negotiate(offers, &p, resp, resplen) == 0) {
		CHECK(memchr(resp, '\0', resplen) != NULL);
		CHECK(p.server_bits >= 9 && p.server_bits <= 15);
		CHECK(strncmp(resp, "permessage-deflate", 18) == 0);
		CHECK(strstr(resp, "server_no_context_takeover") != NULL);
		CHECK(strstr(resp, "client_no_context_takeover") != NULL);
		CHECK(strpbrk(resp, "\r\n") == NULL);
	}
	if (ws_accept_key(offers, accept) == 0) {
		CHECK(strlen(accept) == WS_ACCEPT_LEN);
		for (i = 0; i < WS_ACCEPT_LEN; i++)
			CHECK(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"
			    "opqrstuvwxyz0123456789+/=", accept[i]) != NULL);
	}
	free(resp);
	free(offers);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct story	 chunked, whole;
	const uint8_t	*sizes;
	size_t		 nsizes;
	uint8_t		 flags;

	if (size < 2)
		return 0;
	flags = data[0];
	nsizes = data[1] % 8;
	if (size < 2 + nsizes)
		return 0;
	sizes = data + 2;
	data += 2 + nsizes;
	size -= 2 + nsizes;

	memset(&chunked, 0, sizeof chunked);
	memset(&whole, 0, sizeof whole);
	run(data, size, sizes, nsizes, flags, &chunked);
	run(data, size, NULL, 0, flags, &whole);
	CHECK(chunked.len == whole.len);
	CHECK(chunked.len == 0 || memcmp(chunked.buf, whole.buf,
	    chunked.len) == 0);
	free(chunked.buf);
	free(whole.buf);

	negotiate(data, size, (size_t)(flags >> 4) * 16 + 1);
	return 0;
}
