/*
 * authparse.c's htpasswd_parse, for --basic-auth: it accepts or refuses
 * the whole file; on refusal the message names a line that exists and
 * nothing is kept; on success every user is one --basic-auth can log
 * (auth_user_ok), every hash has one of the three accepted shapes
 * (auth_hash_ok), no user is listed twice, each is found by
 * htpasswd_lookup, and every entry comes from a line of the input.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "authparse.h"
#include "fuzz.h"

static size_t
count_lines(const uint8_t *data, size_t size)
{
	size_t	 i, n = 1;

	for (i = 0; i < size; i++)
		n += data[i] == '\n';
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct htpasswd	 h;
	char		 err[256], *line;
	unsigned long	 n;
	size_t		 i, j;
	int		 rc;

	memset(err, 0, sizeof err);
	rc = htpasswd_parse(&h, (const char *)data, size, err, sizeof err);
	CHECK(rc == 0 || rc == -1);
	if (rc != 0) {
		CHECK(h.n == 0 && h.v == NULL && h.buf == NULL);
		CHECK(err[0] != '\0');
		CHECK(memchr(err, '\0', sizeof err) != NULL);
		if (strncmp(err, "line ", 5) == 0) {
			n = strtoul(err + 5, &line, 10);
			CHECK(n >= 1 && n <= count_lines(data, size));
			CHECK(strncmp(line, ": ", 2) == 0);
		} else
			CHECK(strcmp(err, "a NUL byte in the file") == 0 ||
			    strcmp(err, "out of memory") == 0);
		return 0;
	}
	CHECK(memchr(data, '\0', size) == NULL);
	CHECK(h.n <= count_lines(data, size));
	for (i = 0; i < h.n; i++) {
		CHECK(auth_user_ok(h.v[i].user, strlen(h.v[i].user)));
		CHECK(auth_hash_ok(h.v[i].hash));
		CHECK(htpasswd_lookup(&h, h.v[i].user) == h.v[i].hash);
		for (j = 0; j < i; j++)
			CHECK(strcmp(h.v[i].user, h.v[j].user) != 0);
		/* "user:hash" is in the input as it is. */
		CHECK(memmem(data, size, h.v[i].hash, strlen(h.v[i].hash)) !=
		    NULL);
		CHECK(memmem(data, size, h.v[i].user, strlen(h.v[i].user)) !=
		    NULL);
	}
	htpasswd_free(&h);
	CHECK(h.n == 0 && h.v == NULL);
	return 0;
}
