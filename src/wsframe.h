/*
 * The receiving side of RFC 6455 for a server, and the pure parts of its
 * handshake: frame headers, masking, control frames and limits checked
 * byte by byte, so a hostile client meets one small state machine that is
 * unit-tested and fuzzed, not libwebsockets' receive path.
 */
#ifndef WSB_WSFRAME_H
#define WSB_WSFRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WS_CONTROL_MAX	125	/* RFC 6455 5.5 */

enum wsrx_event {
	WSRX_NEED_MORE,		/* everything given was consumed, no event */
	WSRX_DATA,		/* a piece of a data message's payload */
	WSRX_PING,		/* a whole ping: its payload */
	WSRX_PONG,		/* a whole pong: its payload */
	WSRX_CLOSE,		/* a valid close frame: code and reason */
	WSRX_ERROR,		/* the client broke the protocol: code, reason */
};

struct wsrx_out {
	enum wsrx_event	 type;
	/*
	 * WSRX_DATA: payload bytes, unmasked in place in the caller's buffer.
	 * Control frames: the whole payload, in the parser's own buffer.
	 * WSRX_CLOSE: the reason (after the code), not NUL-terminated.
	 */
	unsigned char	*data;
	size_t		 len;
	bool		 first;		/* WSRX_DATA: a message begins */
	bool		 final;		/* WSRX_DATA: the message is complete */
	bool		 text;		/* WSRX_DATA: opcode 1, else binary */
	bool		 compressed;	/* WSRX_DATA: RSV1 on its first frame */
	uint16_t	 code;		/* WSRX_CLOSE (1005: none), WSRX_ERROR */
	const char	*reason;	/* WSRX_ERROR: static text for the log */
};

struct wsrx {
	/* Set by wsrx_init. */
	uint64_t	 max_message;	/* payload bytes of one message */
	bool		 deflate;	/* permessage-deflate was agreed */
	bool		 need_mask;	/* a server's peer must mask */

	/* The parser's own state. */
	int		 state;
	unsigned char	 hdr[14];
	size_t		 hdrlen, hdrneed;
	int		 opcode;
	bool		 fin, rsv1;
	unsigned char	 mask[4];
	bool		 masked;
	uint64_t	 left;		/* payload bytes of this frame to come */
	size_t		 maskpos;
	bool		 in_message;	/* a fragmented message is open */
	bool		 msg_text, msg_compressed, msg_first;
	uint64_t	 msg_bytes;
	unsigned char	 ctl[WS_CONTROL_MAX];
	size_t		 ctllen;
	uint16_t	 err_code;
	const char	*err_reason;
};

void	 wsrx_init(struct wsrx *, uint64_t max_message, bool deflate,
	     bool need_mask);
/*
 * Consumes bytes from buf until one event is complete, and returns how
 * many it used; *out says what happened. Call again with the rest. Data
 * frames are unmasked in place. After WSRX_ERROR every later call returns
 * WSRX_ERROR again and consumes nothing.
 */
size_t	 wsrx_parse(struct wsrx *, unsigned char *buf, size_t len,
	     struct wsrx_out *out);
bool	 ws_close_code_valid(uint16_t);

/* Sec-WebSocket-Accept for a key: 28 characters and a NUL. */
#define WS_ACCEPT_LEN	28
int	 ws_accept_key(const char *key, char out[WS_ACCEPT_LEN + 1]);

/*
 * permessage-deflate (RFC 7692), server side: picks the first offer in a
 * Sec-WebSocket-Extensions value that we can honour and writes the answer
 * for the 101. We always answer with server_no_context_takeover and
 * client_no_context_takeover, so each message stands alone. Returns 0 and
 * fills *p and resp when one was accepted, -1 when none can be.
 */
struct pmd_params {
	int		 server_bits;	/* our window: 9..15 */
};
int	 pmd_negotiate(const char *offers, struct pmd_params *p, char *resp,
	     size_t resplen);

#endif
