/*
 * authparse.c's auth_basic_parse (the Authorization header a --basic-auth
 * server reads) and auth_basic_encode (what a client sends): a parsed
 * header has a loggable user (auth_user_ok) and a password without NUL
 * that fit their buffers, and encoding them back gives a header that
 * parses to the same pair; a refused header leaves nothing behind that
 * looks parsed. The input is also split at its first NUL into a user and
 * password pair and sent through encode, then parse.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "authparse.h"
#include "fuzz.h"

static void
roundtrip(const char *user, const char *pass)
{
	char	 hdr[8 + (AUTH_USER_MAX + AUTH_PASS_MAX + 4) / 3 * 4];
	char	 u[AUTH_USER_MAX + 1], p[AUTH_PASS_MAX + 1];

	CHECK(auth_basic_encode(user, pass, hdr, sizeof hdr) == 0);
	CHECK(strncmp(hdr, "Basic ", 6) == 0);
	CHECK(strlen(hdr) == 6 + (strlen(user) + 1 + strlen(pass) + 2) / 3 * 4);
	CHECK(auth_basic_parse(hdr, u, sizeof u, p, sizeof p) == 0);
	CHECK(strcmp(u, user) == 0);
	CHECK(strcmp(p, pass) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	 u[AUTH_USER_MAX + 1], p[AUTH_PASS_MAX + 1];
	char	*s, *nul;
	int	 rc;

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	memset(u, 0x5a, sizeof u);
	memset(p, 0x5a, sizeof p);
	rc = auth_basic_parse(s, u, sizeof u, p, sizeof p);
	CHECK(rc == 0 || rc == -1);
	if (rc == 0) {
		CHECK(memchr(u, '\0', sizeof u) != NULL);
		CHECK(memchr(p, '\0', sizeof p) != NULL);
		CHECK(auth_user_ok(u, strlen(u)));
		CHECK(strncasecmp(s, "basic", 5) == 0);
		roundtrip(u, p);
	}

	/* Any user --basic-auth takes, any password: encode, then parse. */
	if ((nul = memchr(s, '\0', size)) != NULL && nul > s &&
	    auth_user_ok(s, (size_t)(nul - s)) &&
	    strlen(nul + 1) <= AUTH_PASS_MAX)
		roundtrip(s, nul + 1);
	free(s);
	return 0;
}
