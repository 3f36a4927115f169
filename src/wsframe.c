/*
 * The receiving side of RFC 6455 for a server. The header is taken one
 * byte at a time into rx->hdr, so a header split anywhere needs no buffer
 * of the caller's; every rule that can be judged from the header is judged
 * there, before any payload is waited for, so a hostile client cannot make
 * us hold a frame we would refuse anyway.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "framing.h"
#include "wsframe.h"

enum {
	ST_HEADER,		/* collecting hdr[0..hdrneed) */
	ST_DATA,		/* a data frame's payload, left > 0 */
	ST_CONTROL,		/* a control frame's payload into ctl[] */
	ST_ERROR,		/* stuck: err_code and err_reason */
};

#define OP_CONT		0x0
#define OP_TEXT		0x1
#define OP_BINARY	0x2
#define OP_CLOSE	0x8
#define OP_PING		0x9
#define OP_PONG		0xa

#define B0_FIN		0x80
#define B0_RSV1		0x40
#define B0_RSV2		0x20
#define B0_RSV3		0x10
#define B1_MASK		0x80

#define WS_GUID		"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

void
wsrx_init(struct wsrx *rx, uint64_t max_message, bool deflate,
    bool need_mask)
{
	memset(rx, 0, sizeof *rx);
	rx->max_message = max_message;
	rx->deflate = deflate;
	rx->need_mask = need_mask;
	rx->state = ST_HEADER;
	rx->hdrneed = 2;
}

bool
ws_close_code_valid(uint16_t code)
{
	if (code >= 1000 && code <= 1003)
		return true;
	/* 1004 is reserved; 1005 and 1006 are never sent; 1015 is TLS's. */
	if (code >= 1007 && code <= 1014)
		return true;
	return code >= 3000 && code <= 4999;
}

static bool
is_control(int opcode)
{
	return (opcode & 0x8) != 0;
}

/* Where the length ends in the header: 2, 4 or 10, known from hdr[1]. */
static size_t
rx_lenend(const struct wsrx *rx)
{
	switch (rx->hdr[1] & 0x7f) {
	case 126:
		return 4;
	case 127:
		return 10;
	default:
		return 2;
	}
}

static void
rx_fail(struct wsrx *rx, uint16_t code, const char *reason,
    struct wsrx_out *out)
{
	rx->state = ST_ERROR;
	rx->err_code = code;
	rx->err_reason = reason;
	out->type = WSRX_ERROR;
	out->code = code;
	out->reason = reason;
}

static void
rx_next_frame(struct wsrx *rx)
{
	rx->state = ST_HEADER;
	rx->hdrlen = 0;
	rx->hdrneed = 2;
}

/* The first header byte: FIN, RSV and opcode, against the message state. */
static int
rx_byte0(struct wsrx *rx, struct wsrx_out *out)
{
	unsigned char	 b = rx->hdr[0];
	int		 op = b & 0x0f;

	rx->fin = (b & B0_FIN) != 0;
	rx->rsv1 = (b & B0_RSV1) != 0;
	rx->opcode = op;
	if (b & (B0_RSV2 | B0_RSV3)) {
		rx_fail(rx, 1002, "reserved bits set", out);
		return -1;
	}
	if (op != OP_CONT && op != OP_TEXT && op != OP_BINARY &&
	    op != OP_CLOSE && op != OP_PING && op != OP_PONG) {
		rx_fail(rx, 1002, "unknown opcode", out);
		return -1;
	}
	/* RFC 7692 6: RSV1 marks a compressed message, on its first frame. */
	if (rx->rsv1 && (!rx->deflate || (op != OP_TEXT && op != OP_BINARY))) {
		rx_fail(rx, 1002, "reserved bits set", out);
		return -1;
	}
	if (is_control(op) && !rx->fin) {
		rx_fail(rx, 1002, "fragmented control frame", out);
		return -1;
	}
	if (op == OP_CONT && !rx->in_message) {
		rx_fail(rx, 1002, "unexpected continuation", out);
		return -1;
	}
	if ((op == OP_TEXT || op == OP_BINARY) && rx->in_message) {
		rx_fail(rx, 1002, "message not finished", out);
		return -1;
	}
	return 0;
}

/* The second: mask bit and 7-bit length, which fix the header's size. */
static int
rx_byte1(struct wsrx *rx, struct wsrx_out *out)
{
	unsigned char	 b = rx->hdr[1];

	rx->masked = (b & B1_MASK) != 0;
	if (rx->need_mask && !rx->masked) {
		rx_fail(rx, 1002, "unmasked frame", out);
		return -1;
	}
	rx->hdrneed = rx_lenend(rx);
	if (rx->masked)
		rx->hdrneed += 4;
	return 0;
}

/*
 * The length is in (the mask may not be): every limit is judged here, so
 * nothing of a frame we refuse is waited for. A length may be written
 * longer than it needs to be, for control frames too.
 */
static int
rx_length(struct wsrx *rx, struct wsrx_out *out)
{
	unsigned	 len7 = rx->hdr[1] & 0x7f;
	size_t		 i;
	uint64_t	 n;

	if (len7 == 126)
		n = ((uint64_t)rx->hdr[2] << 8) | rx->hdr[3];
	else if (len7 == 127) {
		n = 0;
		for (i = 2; i < 10; i++)
			n = (n << 8) | rx->hdr[i];
		if (n >> 63) {
			rx_fail(rx, 1002, "invalid frame length", out);
			return -1;
		}
	} else
		n = len7;
	rx->left = n;
	rx->maskpos = 0;

	if (is_control(rx->opcode)) {
		if (n > WS_CONTROL_MAX) {
			rx_fail(rx, 1002, "control frame too long", out);
			return -1;
		}
		rx->ctllen = 0;
		return 0;
	}
	if (rx->opcode != OP_CONT) {
		rx->in_message = true;
		rx->msg_text = rx->opcode == OP_TEXT;
		rx->msg_compressed = rx->rsv1;
		rx->msg_first = true;
		rx->msg_bytes = 0;
	}
	if (n > rx->max_message - rx->msg_bytes) {
		rx_fail(rx, 1009, "message too big", out);
		return -1;
	}
	rx->msg_bytes += n;
	return 0;
}

/*
 * An empty data frame is reported only when it begins or ends a message,
 * so an empty message is still seen; an empty middle piece is nothing.
 */
static void
rx_empty_data(struct wsrx *rx, struct wsrx_out *out)
{
	bool	 first = rx->msg_first;

	if (rx->fin)
		rx->in_message = false;
	rx_next_frame(rx);
	if (!first && !rx->fin)
		return;
	rx->msg_first = false;
	out->type = WSRX_DATA;
	out->data = rx->ctl;	/* any valid pointer: len is 0 */
	out->len = 0;
	out->first = first;
	out->final = rx->fin;
	out->text = rx->msg_text;
	out->compressed = rx->msg_compressed;
}

static void rx_control_done(struct wsrx *, struct wsrx_out *);

/* The whole header is in: the mask key, then the payload or the event. */
static void
rx_header_done(struct wsrx *rx, struct wsrx_out *out)
{
	if (rx->masked)
		memcpy(rx->mask, rx->hdr + rx->hdrneed - 4, sizeof rx->mask);
	if (is_control(rx->opcode)) {
		if (rx->left == 0)
			rx_control_done(rx, out);
		else
			rx->state = ST_CONTROL;
	} else {
		if (rx->left == 0)
			rx_empty_data(rx, out);
		else
			rx->state = ST_DATA;
	}
}

/*
 * Byte by byte until the mask starts over, then eight bytes at a time
 * (which leaves the mask where it was): bulk data is most of what a
 * server unmasks.
 */
static void
rx_unmask(struct wsrx *rx, unsigned char *p, size_t n)
{
	unsigned char	 mask8[8];
	uint64_t	 m, w;
	size_t		 i = 0;

	if (!rx->masked)
		return;
	for (; i < n && rx->maskpos != 0; i++) {
		p[i] ^= rx->mask[rx->maskpos];
		rx->maskpos = (rx->maskpos + 1) & 3;
	}
	memcpy(mask8, rx->mask, 4);
	memcpy(mask8 + 4, rx->mask, 4);
	memcpy(&m, mask8, sizeof m);
	for (; i + sizeof w <= n; i += sizeof w) {
		memcpy(&w, p + i, sizeof w);
		w ^= m;
		memcpy(p + i, &w, sizeof w);
	}
	for (; i < n; i++) {
		p[i] ^= rx->mask[rx->maskpos];
		rx->maskpos = (rx->maskpos + 1) & 3;
	}
}

/* A close frame's body: nothing, or a valid code and a UTF-8 reason. */
static void
rx_close(struct wsrx *rx, struct wsrx_out *out)
{
	uint16_t	 code;

	if (rx->ctllen == 0) {
		out->type = WSRX_CLOSE;
		out->code = 1005;
		out->data = rx->ctl;
		out->len = 0;
		return;
	}
	if (rx->ctllen == 1) {
		rx_fail(rx, 1002, "close frame of one byte", out);
		return;
	}
	code = (uint16_t)((rx->ctl[0] << 8) | rx->ctl[1]);
	if (!ws_close_code_valid(code)) {
		rx_fail(rx, 1002, "invalid close code", out);
		return;
	}
	if (!utf8_valid(rx->ctl + 2, rx->ctllen - 2)) {
		rx_fail(rx, 1007, "close reason not UTF-8", out);
		return;
	}
	out->type = WSRX_CLOSE;
	out->code = code;
	out->data = rx->ctl + 2;
	out->len = rx->ctllen - 2;
}

static void
rx_control_done(struct wsrx *rx, struct wsrx_out *out)
{
	rx_next_frame(rx);
	switch (rx->opcode) {
	case OP_PING:
	case OP_PONG:
		out->type = rx->opcode == OP_PING ? WSRX_PING : WSRX_PONG;
		out->data = rx->ctl;
		out->len = rx->ctllen;
		break;
	default:
		rx_close(rx, out);
		break;
	}
}

/* Header bytes, one at a time, each judged as soon as it means something. */
static size_t
rx_header(struct wsrx *rx, const unsigned char *buf, size_t len,
    struct wsrx_out *out)
{
	size_t	 used = 0;

	while (used < len && rx->state == ST_HEADER) {
		rx->hdr[rx->hdrlen++] = buf[used++];
		if (rx->hdrlen == 1) {
			if (rx_byte0(rx, out) == -1)
				break;
			continue;
		}
		if (rx->hdrlen == 2 && rx_byte1(rx, out) == -1)
			break;
		if (rx->hdrlen == rx_lenend(rx) && rx_length(rx, out) == -1)
			break;
		if (rx->hdrlen == rx->hdrneed) {
			rx_header_done(rx, out);
			break;
		}
	}
	return used;
}

/* As much of a data frame's payload as is here, as one piece. */
static size_t
rx_data(struct wsrx *rx, unsigned char *buf, size_t len,
    struct wsrx_out *out)
{
	size_t	 n = len;

	if (n > rx->left)
		n = (size_t)rx->left;
	rx_unmask(rx, buf, n);
	rx->left -= n;
	out->type = WSRX_DATA;
	out->data = buf;
	out->len = n;
	out->first = rx->msg_first;
	out->final = rx->fin && rx->left == 0;
	out->text = rx->msg_text;
	out->compressed = rx->msg_compressed;
	rx->msg_first = false;
	if (rx->left == 0) {
		if (rx->fin)
			rx->in_message = false;
		rx_next_frame(rx);
	}
	return n;
}

/* A control frame's payload, gathered into ctl[] across calls. */
static size_t
rx_control(struct wsrx *rx, const unsigned char *buf, size_t len,
    struct wsrx_out *out)
{
	size_t	 n = len;

	if (n > rx->left)
		n = (size_t)rx->left;
	memcpy(rx->ctl + rx->ctllen, buf, n);
	rx_unmask(rx, rx->ctl + rx->ctllen, n);
	rx->ctllen += n;
	rx->left -= n;
	if (rx->left == 0)
		rx_control_done(rx, out);
	return n;
}

size_t
wsrx_parse(struct wsrx *rx, unsigned char *buf, size_t len,
    struct wsrx_out *out)
{
	size_t	 used = 0;

	memset(out, 0, sizeof *out);
	out->type = WSRX_NEED_MORE;
	if (rx->state == ST_ERROR) {
		out->type = WSRX_ERROR;
		out->code = rx->err_code;
		out->reason = rx->err_reason;
		return 0;
	}
	while (used < len && out->type == WSRX_NEED_MORE) {
		switch (rx->state) {
		case ST_HEADER:
			used += rx_header(rx, buf + used, len - used, out);
			break;
		case ST_DATA:
			used += rx_data(rx, buf + used, len - used, out);
			break;
		case ST_CONTROL:
			used += rx_control(rx, buf + used, len - used, out);
			break;
		}
	}
	return used;
}

int
ws_accept_key(const char *key, char out[WS_ACCEPT_LEN + 1])
{
	unsigned char	 buf[256], md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen;
	size_t		 klen;

	if (key == NULL)
		return -1;
	klen = strlen(key);
	if (klen > sizeof buf - (sizeof WS_GUID - 1))
		return -1;
	memcpy(buf, key, klen);
	memcpy(buf + klen, WS_GUID, sizeof WS_GUID - 1);
	if (!EVP_Digest(buf, klen + sizeof WS_GUID - 1, md, &mdlen, EVP_sha1(),
	    NULL) || mdlen != 20)
		return -1;
	if (EVP_EncodeBlock((unsigned char *)out, md, 20) != WS_ACCEPT_LEN)
		return -1;
	return 0;
}

/* ------------------------------------------------------------------ */
/* permessage-deflate negotiation (RFC 7692 7; grammar of RFC 6455 9.1) */

#define PMD_VALUE_MAX	32	/* longer values are no number we take */

enum {
	PMD_SNC = 0x1,		/* server_no_context_takeover */
	PMD_CNC = 0x2,		/* client_no_context_takeover */
	PMD_SMW = 0x4,		/* server_max_window_bits */
	PMD_CMW = 0x8,		/* client_max_window_bits */
};

static bool
pmd_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static void
pmd_ows(const char **sp)
{
	while (**sp == ' ' || **sp == '\t')
		(*sp)++;
}

/* A token: its length, 0 if there is none at *sp. */
static size_t
pmd_token(const char **sp)
{
	const char	*s = *sp;

	while (pmd_tchar((unsigned char)**sp))
		(*sp)++;
	return (size_t)(*sp - s);
}

/*
 * A parameter value, a token or a quoted string whose unescaped text must
 * be a token (RFC 6455 9.1), copied to v. -1 on a syntax error; a value
 * too long for v is kept as "" so it is refused, not misread.
 */
static int
pmd_value(const char **sp, char *v, size_t vsize)
{
	const char	*s;
	size_t		 n = 0;
	bool		 fits = true;

	if (**sp != '"') {
		s = *sp;
		if ((n = pmd_token(sp)) == 0)
			return -1;
		if (n >= vsize)
			n = 0;
		memcpy(v, s, n);
		v[n] = '\0';
		return 0;
	}
	for ((*sp)++; **sp != '"'; (*sp)++) {
		if (**sp == '\\')
			(*sp)++;
		if (**sp == '\0')
			return -1;
		if (!pmd_tchar((unsigned char)**sp))
			fits = false;
		if (n + 1 < vsize)
			v[n] = **sp;
		else
			fits = false;
		n++;
	}
	(*sp)++;
	if (!fits || n == 0)
		n = 0;
	v[n] = '\0';
	return 0;
}

/* A window size: 8..15 written without leading zeros; -1 otherwise. */
static int
pmd_bits(const char *v)
{
	if (v[0] >= '8' && v[0] <= '9' && v[1] == '\0')
		return v[0] - '0';
	if (v[0] == '1' && v[1] >= '0' && v[1] <= '5' && v[2] == '\0')
		return 10 + (v[1] - '0');
	return -1;
}

/* One parameter of a permessage-deflate offer; false if we cannot take it. */
static bool
pmd_param(const char *name, size_t nlen, const char *v, bool hasv,
    int *seen, int *server_bits)
{
	int	 flag, bits = -1;

	if (nlen == 26 && strncmp(name, "server_no_context_takeover", 26) == 0)
		flag = PMD_SNC;
	else if (nlen == 26 &&
	    strncmp(name, "client_no_context_takeover", 26) == 0)
		flag = PMD_CNC;
	else if (nlen == 22 && strncmp(name, "server_max_window_bits", 22) == 0)
		flag = PMD_SMW;
	else if (nlen == 22 && strncmp(name, "client_max_window_bits", 22) == 0)
		flag = PMD_CMW;
	else
		return false;
	if (*seen & flag)
		return false;
	*seen |= flag;
	if (hasv && (bits = pmd_bits(v)) == -1)
		return false;
	switch (flag) {
	case PMD_SNC:
	case PMD_CNC:
		return !hasv;
	case PMD_SMW:
		/* zlib's raw deflate cannot work in a window of 2^8. */
		if (!hasv || bits < 9)
			return false;
		*server_bits = bits;
		return true;
	default:
		return true;
	}
}

/*
 * One offer, from *sp to past its comma. Returns true if it is a
 * permessage-deflate offer we can honour, with *server_bits its
 * server_max_window_bits or 0; a syntax error only costs the offer it is
 * in, the rest of the list is still read.
 */
static bool
pmd_offer(const char **sp, int *server_bits)
{
	const char	*name;
	char		 v[PMD_VALUE_MAX + 1];
	size_t		 nlen;
	bool		 ok, hasv;
	int		 seen = 0;

	pmd_ows(sp);
	name = *sp;
	nlen = pmd_token(sp);
	ok = nlen == 18 && strncmp(name, "permessage-deflate", 18) == 0;
	*server_bits = 0;
	for (;;) {
		pmd_ows(sp);
		if (**sp == ',' || **sp == '\0')
			break;
		if (**sp != ';' || nlen == 0)
			goto skip;
		(*sp)++;
		pmd_ows(sp);
		name = *sp;
		if ((nlen = pmd_token(sp)) == 0)
			goto skip;
		pmd_ows(sp);
		hasv = **sp == '=';
		if (hasv) {
			(*sp)++;
			pmd_ows(sp);
			if (pmd_value(sp, v, sizeof v) == -1)
				goto skip;
		}
		if (ok && !pmd_param(name, nlen, v, hasv, &seen, server_bits))
			ok = false;
	}
	if (**sp == ',')
		(*sp)++;
	return ok;

skip:
	/* Up to the next comma that is not inside a quoted string. */
	while (**sp != '\0' && **sp != ',') {
		if (**sp == '"') {
			for ((*sp)++; **sp != '\0' && **sp != '"'; (*sp)++) {
				if (**sp == '\\' && (*sp)[1] != '\0')
					(*sp)++;
			}
			if (**sp == '\0')
				break;
		}
		(*sp)++;
	}
	if (**sp == ',')
		(*sp)++;
	return false;
}

int
pmd_negotiate(const char *offers, struct pmd_params *p, char *resp,
    size_t resplen)
{
	const char	*s = offers;
	int		 bits, n;

	if (offers == NULL)
		return -1;
	while (*s != '\0') {
		if (!pmd_offer(&s, &bits))
			continue;
		if (bits == 0) {
			n = snprintf(resp, resplen, "permessage-deflate; "
			    "server_no_context_takeover; "
			    "client_no_context_takeover");
		} else {
			n = snprintf(resp, resplen, "permessage-deflate; "
			    "server_no_context_takeover; "
			    "client_no_context_takeover; "
			    "server_max_window_bits=%d", bits);
		}
		if (n < 0 || (size_t)n >= resplen)
			return -1;
		p->server_bits = bits != 0 ? bits : 15;
		return 0;
	}
	return -1;
}
