/*
 * Pure framing helpers: where lines end, whether bytes are UTF-8, and the
 * record header that keeps message boundaries in the queue to the client.
 */
#ifndef WSB_FRAMING_H
#define WSB_FRAMING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Incremental UTF-8 validation, so fragments can be checked as they come. */
struct utf8_check {
	uint32_t	 need;		/* continuation bytes still expected */
	uint32_t	 cp;		/* code point being assembled */
	uint32_t	 min;		/* smallest legal value for its length */
};

void	 utf8_check_init(struct utf8_check *);
bool	 utf8_check_feed(struct utf8_check *, const void *, size_t);
bool	 utf8_check_done(const struct utf8_check *);
bool	 utf8_valid(const void *, size_t);

/*
 * Finds the next line in buf. Returns true when one is ready: *msglen is its
 * length without "\n" or "\r\n", *consumed how many bytes it used. A line
 * with no newline is split at max bytes once more than max are buffered, so
 * a buffer of max + 2 bytes always makes progress; at eof the rest is a line.
 */
bool	 framing_next_line(const char *buf, size_t len, size_t max, bool eof,
	     size_t *msglen, size_t *consumed);

/* Records in the queue to the client: one opcode byte, a 32-bit length. */
#define RECORD_HDR	5
#define RECORD_TEXT	1
#define RECORD_BINARY	2

void	 framing_put_record(unsigned char *, int, uint32_t);
void	 framing_get_record(const unsigned char *, int *, uint32_t *);

/*
 * The header of a server-to-client WebSocket frame (RFC 6455 5.2: no mask),
 * so several frames can go out in one send(). opcode is RECORD_TEXT or
 * RECORD_BINARY for a message's first frame, 0 for a continuation.
 */
#define FRAME_HDR_MAX	10
size_t	 framing_frame_header(unsigned char *, int, bool, uint64_t);

#define LINE_BUFFER_START	65536
int	 framing_grow_line_buffer(char **, size_t *, size_t);
size_t	 framing_json_line(char *, const char *, const char *, size_t);

#endif
