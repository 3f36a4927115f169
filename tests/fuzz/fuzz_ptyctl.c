/*
 * ptyctl.c's two parsers, fed any bytes: the control message parser
 * (ptyctl_parse) and the URL query's window size (ptyctl_query_size).
 * Oracles: a size is always 1..1000 each way; an accepted message is one
 * that names "resize" and whose canonical form parses to the same size;
 * a refused one leaves the result untouched.
 */
#include <stdio.h>
#include <string.h>

#include "ptyctl.h"
#include "fuzz.h"

static char	 target[4096];

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ptysize	 ws = { 0, 0 }, again = { 0, 0 };
	char		 canon[128];
	int		 n;

	if (ptyctl_parse((const char *)data, size, &ws) == 0) {
		CHECK(size <= PTYCTL_MSG_MAX);
		CHECK(ws.cols >= 1 && ws.cols <= PTY_SIZE_MAX);
		CHECK(ws.rows >= 1 && ws.rows <= PTY_SIZE_MAX);
		CHECK(memmem(data, size, "\"resize\"", 8) != NULL);
		n = snprintf(canon, sizeof canon,
		    "{\"type\":\"resize\",\"cols\":%u,\"rows\":%u}",
		    ws.cols, ws.rows);
		CHECK(ptyctl_parse(canon, (size_t)n, &again) == 0);
		CHECK(again.cols == ws.cols && again.rows == ws.rows);
	} else
		CHECK(ws.cols == 0 && ws.rows == 0);
	if (size < sizeof target) {
		memcpy(target, data, size);
		target[size] = '\0';
		ptyctl_query_size(target, &ws);
		CHECK(ws.cols >= 1 && ws.cols <= PTY_SIZE_MAX);
		CHECK(ws.rows >= 1 && ws.rows <= PTY_SIZE_MAX);
	}
	return 0;
}
