/*
 * spawnmsg.c's decoder, fed any bytes. Oracles: whatever it accepts has a
 * non-empty path, at least argv[0], NULL-ended arrays, a terminal's path
 * that is absent or not empty, and encodes back to
 * exactly the bytes it came from (so nothing was skipped, nothing read
 * beyond the message).
 */
#include <string.h>

#include "spawnmsg.h"
#include "fuzz.h"

static unsigned char	 in[SPAWNMSG_MAX + 64];
static unsigned char	 out[SPAWNMSG_MAX];

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spawnreq	 req;
	size_t		 len;

	if (size > sizeof in)
		return 0;
	memcpy(in, data, size);
	if (spawnmsg_decode(in, size, &req) != 0)
		return 0;
	CHECK(req.path != NULL && req.path[0] != '\0');
	CHECK(req.argv != NULL && req.argv[0] != NULL);
	CHECK(req.tty == NULL || req.tty[0] != '\0');
	len = spawnmsg_encode(out, sizeof out, req.path, req.argv, req.envp,
	    req.tty);
	CHECK(len == size);
	CHECK(memcmp(out, data, size) == 0);
	spawnreq_free(&req);
	return 0;
}
