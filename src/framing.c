#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framing.h"

void
utf8_check_init(struct utf8_check *u)
{
	u->need = 0;
	u->cp = 0;
	u->min = 0;
}

/*
 * Rejects overlong forms, surrogates and values past U+10FFFF, as RFC 3629
 * and RFC 6455 (close 1007) require; a sequence may span two calls.
 */
bool
utf8_check_feed(struct utf8_check *u, const void *data, size_t len)
{
	const unsigned char	*p = data;
	size_t			 i;
	unsigned char		 c;

	for (i = 0; i < len; i++) {
		c = p[i];
		if (u->need == 0) {
			if (c < 0x80)
				continue;
			if (c >= 0xc2 && c <= 0xdf) {
				u->need = 1; u->cp = c & 0x1f; u->min = 0x80;
			} else if (c >= 0xe0 && c <= 0xef) {
				u->need = 2; u->cp = c & 0x0f; u->min = 0x800;
			} else if (c >= 0xf0 && c <= 0xf4) {
				u->need = 3; u->cp = c & 0x07; u->min = 0x10000;
			} else
				return false;
			continue;
		}
		if ((c & 0xc0) != 0x80)
			return false;
		u->cp = (u->cp << 6) | (c & 0x3f);
		if (--u->need == 0) {
			if (u->cp < u->min || u->cp > 0x10ffff ||
			    (u->cp >= 0xd800 && u->cp <= 0xdfff))
				return false;
		}
	}
	return true;
}

bool
utf8_check_done(const struct utf8_check *u)
{
	return u->need == 0;
}

bool
utf8_valid(const void *data, size_t len)
{
	struct utf8_check	 u;
	const unsigned char	*p = data;
	size_t			 i;

	/* ASCII is the common case: skip it without the state machine. */
	for (i = 0; i < len && p[i] < 0x80; i++)
		;
	if (i == len)
		return true;
	utf8_check_init(&u);
	return utf8_check_feed(&u, p + i, len - i) && utf8_check_done(&u);
}

bool
framing_next_line(const char *buf, size_t len, size_t max, bool eof,
    size_t *msglen, size_t *consumed)
{
	const char	*nl;
	size_t		 n;

	/* A line of max bytes may still be followed by "\r\n": look that far. */
	nl = memchr(buf, '\n', len < max + 2 ? len : max + 2);
	if (nl != NULL) {
		n = (size_t)(nl - buf);
		if (n > 0 && buf[n - 1] == '\r')
			n--;
		if (n <= max) {
			*msglen = n;
			*consumed = (size_t)(nl - buf) + 1;
			return true;
		}
	}
	/*
	 * No newline within reach: split at max once more than max bytes are
	 * here, unless the only extra byte is a '\r' that may start "\r\n".
	 */
	if (eof && len > 0) {
		*msglen = *consumed = len < max ? len : max;
		return true;
	}
	if (len > max + 1 || (len == max + 1 && buf[max] != '\r')) {
		*msglen = *consumed = max;
		return true;
	}
	return false;
}

void
framing_put_record(unsigned char *hdr, int opcode, uint32_t len)
{
	hdr[0] = (unsigned char)opcode;
	hdr[1] = (unsigned char)(len >> 24);
	hdr[2] = (unsigned char)(len >> 16);
	hdr[3] = (unsigned char)(len >> 8);
	hdr[4] = (unsigned char)len;
}

/* Returns the header's length: 2, 4 or 10 bytes. */
size_t
framing_frame_header(unsigned char *p, int opcode, bool fin, uint64_t len)
{
	int	 i;

	p[0] = (unsigned char)((fin ? 0x80 : 0) | (opcode & 0x0f));
	if (len < 126) {
		p[1] = (unsigned char)len;
		return 2;
	}
	if (len < 65536) {
		p[1] = 126;
		p[2] = (unsigned char)(len >> 8);
		p[3] = (unsigned char)len;
		return 4;
	}
	p[1] = 127;
	for (i = 0; i < 8; i++)
		p[2 + i] = (unsigned char)(len >> (56 - 8 * i));
	return FRAME_HDR_MAX;
}

void
framing_get_record(const unsigned char *hdr, int *opcode, uint32_t *len)
{
	*opcode = hdr[0];
	*len = (uint32_t)hdr[1] << 24 | (uint32_t)hdr[2] << 16 |
	    (uint32_t)hdr[3] << 8 | hdr[4];
}

/*
 * {"stream":"NAME","data":"..."} for --passstderr. Bytes that are not
 * UTF-8 are escaped as \u00XX, the byte's value, so nothing is dropped.
 * Returns the length written; out needs 6 * len + 40 + strlen(stream).
 */
size_t
framing_json_line(char *out, const char *stream, const char *data, size_t len)
{
	static const char	 hex[] = "0123456789abcdef";
	const unsigned char	*p = (const unsigned char *)data;
	struct utf8_check	 u;
	size_t			 o, i, n;
	unsigned char		 c;

	o = (size_t)sprintf(out, "{\"stream\":\"%s\",\"data\":\"", stream);
	for (i = 0; i < len; i++) {
		c = p[i];
		if (c >= 0x80) {
			/* Copy a whole valid sequence, or escape this byte. */
			n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
			utf8_check_init(&u);
			if (i + n <= len && utf8_check_feed(&u, p + i, n) &&
			    utf8_check_done(&u)) {
				memcpy(out + o, p + i, n);
				o += n;
				i += n - 1;
				continue;
			}
		}
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else if (c == '\t') {
			out[o++] = '\\';
			out[o++] = 't';
		} else if (c < 0x20 || c >= 0x7f) {
			o += (size_t)sprintf(out + o, "\\u00%c%c", hex[c >> 4],
			    hex[c & 15]);
		} else
			out[o++] = (char)c;
	}
	out[o++] = '"';
	out[o++] = '}';
	return o;
}

/*
 * Grows a line buffer: from 64 KiB, doubling, to max + 2 at most, which is
 * all framing_next_line ever needs to make progress.
 */
int
framing_grow_line_buffer(char **buf, size_t *cap, size_t max)
{
	size_t	 want = *cap == 0 ? LINE_BUFFER_START : *cap * 2;
	char	*p;

	if (want > max + 2)
		want = max + 2;
	if (want < LINE_BUFFER_START)
		want = LINE_BUFFER_START;
	if ((p = realloc(*buf, want)) == NULL)
		return -1;
	*buf = p;
	*cap = want;
	return 0;
}
