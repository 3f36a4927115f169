/*
 * http.c's url_parse, for --connect: on success the host and path are
 * NUL-terminated in their arrays, the port is 1..65535, the path starts
 * with '/', and nothing that would break a request line or a Host header
 * (spaces, control bytes, '@', '#') got through. User information before
 * the host's '@' is split off as --basic-auth's user and password.
 */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "authparse.h"
#include "http.h"
#include "fuzz.h"

static bool
clean(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s == 0x7f)
			return false;
	}
	return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct url	 u, again;
	char		*s, *auth, *at;
	int		 rc;

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	memset(&u, 0xa5, sizeof u);
	rc = url_parse(s, &u);
	CHECK(rc == 0 || rc == -1);
	if (rc == 0) {
		CHECK(memchr(u.host, '\0', sizeof u.host) != NULL);
		CHECK(memchr(u.path, '\0', sizeof u.path) != NULL);
		CHECK(u.port >= 1 && u.port <= 65535);
		CHECK(u.host[0] != '\0');
		CHECK(u.path[0] == '/');
		CHECK(clean(u.host) && clean(u.path));
		CHECK(strchr(u.host, '@') == NULL);
		CHECK(strchr(u.path, '#') == NULL);
		CHECK(u.tls == (strncasecmp(s, "wss://", 6) == 0));
		CHECK(u.tls || strncasecmp(s, "ws://", 5) == 0);
		/*
		 * The host is a substring of the URL, right after "://" or
		 * after the user information's last '@'.
		 */
		auth = strstr(s, "://") + 3;
		at = memrchr(auth, '@', strcspn(auth, "/?#"));
		if (at != NULL)
			auth = at + 1;
		CHECK(strncmp(auth + (*auth == '['), u.host,
		    strlen(u.host)) == 0);
		/* A user only with its '@'; one --basic-auth could list. */
		CHECK((u.user[0] != '\0') == (at != NULL));
		CHECK(at == NULL || auth_user_ok(u.user, strlen(u.user)));
		CHECK(!u.has_pass || at != NULL);
		CHECK(memchr(u.pass, '\0', sizeof u.pass) != NULL);
		/* Deterministic. */
		CHECK(url_parse(s, &again) == 0);
		CHECK(memcmp(&u, &again, sizeof u) == 0);
	}
	free(s);
	return 0;
}
