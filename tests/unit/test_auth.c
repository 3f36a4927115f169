/*
 * The pure parts of --basic-auth and of a client's credentials:
 * authparse.c (the htpasswd file, the Authorization header and its
 * encoding), authcache.c (the successes remembered, the failures counted,
 * the constant-time compare), url_parse's user information and
 * config_client_credentials.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/authcache.h"
#include "../../src/authparse.h"
#include "../../src/config.h"
#include "../../src/http.h"
#include "unit.h"

/* What Debian's htpasswd -B and mkpasswd wrote, for "secret". */
#define BCRYPT_Y "$2y$05$z4RGuGzSVQRV643TMro3HOIaU5mydUbs760DHQPI9Sba6QwY/.cqq"
#define BCRYPT_B "$2b$10$eB6szzLtb.Qhhfak/8FnqOgMheFaozLKlNhFsESJh.gVTMAM6.1vG"
#define YESCRYPT "$y$j9T$4FhBP1D3sgqitp/rODYL6/$xYx8vgdKFGHQps60gRGX3Mr2uaHu61LFumIY6b93eq7"
#define SHA512 "$6$ArL5BgSok33yAjpm$rGeXRCzRUrevMVkhaK0EZRv.hJz8L9wo1UvAP0Zrva8vPbNs.m7xvkM5CLvePGNVPiJgDo0rfZA5P4uHAonQw/"
#define SHA512_ROUNDS "$6$rounds=5000$Tn0pGcD9FZlwT4T0$72eNgYbeXJ5Ck3Qd67nKgEdZIHlCwLevoVydkKF5tte9Lavadw04/O/qIAKY2bLKNSSxB4hQDViawcGh7qrrR1"

static int
parse(struct htpasswd *h, const char *text, char *err, size_t errlen)
{
	err[0] = '\0';
	return htpasswd_parse(h, text, strlen(text), err, errlen);
}

static void
test_htpasswd_good(void)
{
	struct htpasswd	 h;
	char		 err[256];
	const char	*text =
	    "# users\n"
	    "\n"
	    "alice:" BCRYPT_Y "\n"
	    "   # indented comment\n"
	    "bob:" YESCRYPT "\r\n"
	    "carol:" SHA512 "\n"
	    "dave:" SHA512_ROUNDS "\n"
	    "erin@example.org:" BCRYPT_B;	/* no final newline */

	if (!CHECK_EQ_INT(parse(&h, text, err, sizeof err), 0)) {
		fprintf(stderr, "  error: %s\n", err);
		return;
	}
	CHECK_EQ_INT(h.n, 5);
	CHECK_STR(htpasswd_lookup(&h, "alice"), BCRYPT_Y);
	CHECK_STR(htpasswd_lookup(&h, "bob"), YESCRYPT);	/* no \r */
	CHECK_STR(htpasswd_lookup(&h, "carol"), SHA512);
	CHECK_STR(htpasswd_lookup(&h, "dave"), SHA512_ROUNDS);
	CHECK_STR(htpasswd_lookup(&h, "erin@example.org"), BCRYPT_B);
	CHECK(htpasswd_lookup(&h, "Alice") == NULL);
	CHECK(htpasswd_lookup(&h, "") == NULL);
	CHECK(htpasswd_lookup(&h, "# users") == NULL);
	htpasswd_free(&h);
	htpasswd_free(&h);	/* twice is harmless */

	/* An empty file lets nobody in, but is not wrong. */
	CHECK_EQ_INT(parse(&h, "", err, sizeof err), 0);
	CHECK_EQ_INT(h.n, 0);
	CHECK(htpasswd_lookup(&h, "alice") == NULL);
	htpasswd_free(&h);
}

/* The text must be refused, naming line `line` and saying `why`. */
static void
bad_file(int src, const char *text, int line, const char *why)
{
	struct htpasswd	 h;
	char		 err[256], want[32];

	UNIT_CTX("line %d", src);
	memset(&h, 0x5a, sizeof h);
	CHECK_EQ_INT(parse(&h, text, err, sizeof err), -1);
	snprintf(want, sizeof want, "line %d: ", line);
	CHECK_PREFIX(err, want);
	CHECK_CONTAINS(err, why);
	/* Nothing of a hash is repeated in the message. */
	CHECK(strchr(err, '$') == NULL || strstr(err, "($") != NULL);
	CHECK(h.v == NULL && h.buf == NULL && h.n == 0);
	UNIT_CTX_CLEAR();
}

static void
test_htpasswd_bad(void)
{
	struct htpasswd	 h;
	char		 err[256];

	bad_file(__LINE__, "alice:secret\n", 1, "not bcrypt");
	bad_file(__LINE__, "# c\nbob:$apr1$HfPL6fIJ$NNNqoPrCoAL6UYsENiGJD/\n",
	    2, "not bcrypt");
	bad_file(__LINE__, "a:" BCRYPT_Y "\nc:ndBZvQUCc7rfg\n", 2,
	    "not bcrypt");
	bad_file(__LINE__, "d:{SHA}EfatjsUqKYSrqv18O1FlA3hcIHI=\n", 1,
	    "not bcrypt");
	bad_file(__LINE__, "e:$1$abcdefgh$0123456789012345678901\n", 1,
	    "not bcrypt");
	bad_file(__LINE__, "f:$5$abc$" "0123456789012345678901234567890123"
	    "456789012\n", 1, "not bcrypt");
	/* $2a$ is refused too: its old bug with 8-bit passwords. */
	bad_file(__LINE__, "g:$2a$05$z4RGuGzSVQRV643TMro3HOIaU5mydUbs760DHQP"
	    "I9Sba6QwY/.cqq\n", 1, "not bcrypt");
	/* Truncated or damaged hashes of the right kinds. */
	bad_file(__LINE__, "h:$2y$05$z4RGuGzSVQRV643TMro3HO\n", 1, "not");
	bad_file(__LINE__, "h:$2y$99$z4RGuGzSVQRV643TMro3HOIaU5mydUbs760DHQP"
	    "I9Sba6QwY/.cqq\n", 1, "not");
	bad_file(__LINE__, "h:$2y$05$z4RGuGzSVQRV643TMro3HOIaU5mydUbs760DHQP"
	    "I9Sba6QwY/.cq!\n", 1, "not");
	bad_file(__LINE__, "i:$y$\n", 1, "not");
	bad_file(__LINE__, "i:$y$j9T$onlysalt\n", 1, "not");
	bad_file(__LINE__, "j:$6$salt$short\n", 1, "not");
	bad_file(__LINE__, "k:" BCRYPT_Y ":comment\n", 1, "not");
	bad_file(__LINE__, "l:\n", 1, "not");
	/* Lines that are not user:hash, and bad names. */
	bad_file(__LINE__, "\n\nno colon here\n", 3, "not user:hash");
	bad_file(__LINE__, ":" BCRYPT_Y "\n", 1, "user name");
	bad_file(__LINE__, "a b:" BCRYPT_Y "\n", 1, "user name");
	bad_file(__LINE__, "a\"b:" BCRYPT_Y "\n", 1, "user name");
	bad_file(__LINE__, "a\x01:" BCRYPT_Y "\n", 1, "user name");
	bad_file(__LINE__, "alice:" BCRYPT_Y "\nbob:" YESCRYPT "\nalice:"
	    SHA512 "\n", 3, "twice");

	/* A NUL byte anywhere. */
	err[0] = '\0';
	CHECK_EQ_INT(htpasswd_parse(&h, "a:" BCRYPT_Y "\0\n", 3 + 60 + 2, err,
	    sizeof err), -1);
	CHECK_CONTAINS(err, "NUL");
	/* A long name: 128 bytes pass, 129 do not. */
	{
		char	 text[400];

		memset(text, 'u', 128);
		snprintf(text + 128, sizeof text - 128, ":%s\n", BCRYPT_Y);
		CHECK_EQ_INT(parse(&h, text, err, sizeof err), 0);
		htpasswd_free(&h);
		memset(text, 'u', 129);
		snprintf(text + 129, sizeof text - 129, ":%s\n", BCRYPT_Y);
		CHECK_EQ_INT(parse(&h, text, err, sizeof err), -1);
	}
}

static void
basic_ok(int src, const char *header, const char *user, const char *pass)
{
	char	 u[AUTH_USER_MAX + 1], p[AUTH_PASS_MAX + 1];

	UNIT_CTX("line %d: %s", src, header);
	if (CHECK_EQ_INT(auth_basic_parse(header, u, sizeof u, p, sizeof p),
	    0)) {
		CHECK_STR(u, user);
		CHECK_STR(p, pass);
	}
	UNIT_CTX_CLEAR();
}

static void
test_basic_parse(void)
{
	static const char *const bad[] = {
		"",
		"Basic",
		"Basic ",
		"Bearer YWxpY2U6c2VjcmV0",
		"Basicx YWxpY2U6c2VjcmV0",
		"Basic YWxpY2U6c2VjcmV0 extra",
		"Basic YWxpY2U6c2VjcmV0=",	/* bad length */
		"Basic YWxpY2U6c2VjcmV",		/* bad length */
		"Basic YWxp!2U6c2VjcmV0",	/* not base64 */
		"Basic YWxp=2U6c2VjcmV0",	/* padding inside */
		"Basic YWxpY2U=",		/* "alice": no colon */
		"Basic OnNlY3JldA==",		/* ":secret": no user */
		"Basic YSBiOnNlY3JldA==",	/* "a b:secret" */
		"Basic YQFiOnM=",		/* "a\x01b:s" */
		"Basic YTpzAHQ=",		/* "a:s\0t" */
		"Basic AGE6cw==",		/* "\0a:s" */
	};
	char	 u[AUTH_USER_MAX + 1], p[AUTH_PASS_MAX + 1], big[2000];
	size_t	 i;

	basic_ok(__LINE__, "Basic YWxpY2U6c2VjcmV0", "alice", "secret");
	basic_ok(__LINE__, "basic YWxpY2U6c2VjcmV0", "alice", "secret");
	basic_ok(__LINE__, "BASIC \t YWxpY2U6c2VjcmV0  ", "alice", "secret");
	/* The first colon splits: a password may hold more. */
	basic_ok(__LINE__, "Basic YTpiOmM=", "a", "b:c");
	basic_ok(__LINE__, "Basic YTo=", "a", "");
	basic_ok(__LINE__, "Basic w6k6w6k=", "\xc3\xa9", "\xc3\xa9");
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		UNIT_CTX("bad[%zu] \"%s\"", i, bad[i]);
		strcpy(u, "untouched");
		CHECK_EQ_INT(auth_basic_parse(bad[i], u, sizeof u, p, sizeof p),
		    -1);
		UNIT_CTX_CLEAR();
	}
	/* Longer than any buffer: refused, not cut. */
	memcpy(big, "Basic ", 6);
	memset(big + 6, 'Q', 1200);
	big[1206] = '\0';
	CHECK_EQ_INT(auth_basic_parse(big, u, sizeof u, p, sizeof p), -1);
	/* A password that does not fit the caller's buffer. */
	CHECK_EQ_INT(auth_basic_parse("Basic YTpzZWNyZXQ=", u, sizeof u, p,
	    4), -1);
}

static void
test_basic_encode(void)
{
	static const char *const pw[] = {
		"", "s", "se", "sec", "secret", "p:w:d", "\xc3\xa9t\xc3\xa9",
	};
	char	 out[1200], u[AUTH_USER_MAX + 1], p[AUTH_PASS_MAX + 1];
	size_t	 i;

	CHECK_EQ_INT(auth_basic_encode("alice", "secret", out, sizeof out), 0);
	CHECK_STR(out, "Basic YWxpY2U6c2VjcmV0");
	CHECK_EQ_INT(auth_basic_encode("a", "b:c", out, sizeof out), 0);
	CHECK_STR(out, "Basic YTpiOmM=");
	/* Every padding case goes back through the parser unchanged. */
	for (i = 0; i < sizeof pw / sizeof pw[0]; i++) {
		UNIT_CTX("pw[%zu]", i);
		CHECK_EQ_INT(auth_basic_encode("bob", pw[i], out, sizeof out), 0);
		if (CHECK_EQ_INT(auth_basic_parse(out, u, sizeof u, p, sizeof p),
		    0)) {
			CHECK_STR(u, "bob");
			CHECK_STR(p, pw[i]);
		}
		UNIT_CTX_CLEAR();
	}
	/* Too small a buffer is refused. */
	CHECK_EQ_INT(auth_basic_encode("alice", "secret", out, 22), -1);
	CHECK_EQ_INT(auth_basic_encode("alice", "secret", out, 23), 0);
}

static void
test_cache(void)
{
	static struct authcache	 c;
	unsigned char		 key[AUTHCACHE_KEY], m1[32], m2[32], m3[32];
	unsigned char		 m[32];
	size_t			 i;
	char			 user[16];

	memset(key, 7, sizeof key);
	authcache_init(&c, key);
	CHECK(authcache_mac(&c, "alice", "secret", m1));
	CHECK(authcache_mac(&c, "alice", "secreT", m2));
	CHECK(memcmp(m1, m2, 32) != 0);
	/* The user and the password cannot trade bytes. */
	CHECK(authcache_mac(&c, "a", "bc", m2));
	CHECK(authcache_mac(&c, "ab", "c", m3));
	CHECK(memcmp(m2, m3, 32) != 0);
	/* Deterministic under one key, different under another. */
	CHECK(authcache_mac(&c, "alice", "secret", m));
	CHECK(memcmp(m, m1, 32) == 0);
	key[0] = 8;
	{
		static struct authcache	 c2;

		authcache_init(&c2, key);
		CHECK(authcache_mac(&c2, "alice", "secret", m));
		CHECK(memcmp(m, m1, 32) != 0);
	}
	/* A too long password is not hashed. */
	{
		char	 longpw[AUTH_PASS_MAX + 2];

		memset(longpw, 'p', sizeof longpw - 1);
		longpw[sizeof longpw - 1] = '\0';
		CHECK(!authcache_mac(&c, "alice", longpw, m));
	}

	CHECK(!authcache_find(&c, m1, 1000));
	authcache_add(&c, m1, 1000);
	CHECK(authcache_find(&c, m1, 1000));
	CHECK(!authcache_find(&c, m2, 1000));
	CHECK(authcache_find(&c, m1, 1000 + AUTHCACHE_TTL_MS - 1));
	/* The lifetime is short, and counted from the check. */
	CHECK(!authcache_find(&c, m1, 1000 + AUTHCACHE_TTL_MS));
	CHECK(!authcache_find(&c, m1, 1000));	/* expired means gone */
	authcache_add(&c, m1, 5000);
	authcache_clear(&c);
	CHECK(!authcache_find(&c, m1, 5000));

	/* Bounded: beyond AUTHCACHE_SLOTS, the oldest go first. */
	authcache_add(&c, m1, 10000);
	for (i = 0; i < AUTHCACHE_SLOTS; i++) {
		snprintf(user, sizeof user, "u%zu", i);
		CHECK(authcache_mac(&c, user, "pw", m));
		authcache_add(&c, m, 10000 + i);
	}
	CHECK(!authcache_find(&c, m1, 10000 + AUTHCACHE_SLOTS));
	CHECK(authcache_find(&c, m, 10000 + AUTHCACHE_SLOTS));
	CHECK(authcache_mac(&c, "u1", "pw", m));
	CHECK(authcache_find(&c, m, 10000 + AUTHCACHE_SLOTS));
}

static void
test_failures(void)
{
	static struct authfail	 f;
	uint64_t		 t = 1000000, wait;
	unsigned		 i;
	char			 addr[32];

	authfail_init(&f);
	CHECK(authfail_blocked(&f, "10.0.0.1", t) == 0);
	/* Some failures are free: a typo is no attack. */
	for (i = 1; i < AUTHFAIL_FREE; i++) {
		authfail_failed(&f, "10.0.0.1", t);
		CHECK(authfail_blocked(&f, "10.0.0.1", t) == 0);
	}
	authfail_failed(&f, "10.0.0.1", t);
	CHECK(authfail_blocked(&f, "10.0.0.1", t) == AUTHFAIL_BLOCK_MS);
	CHECK(authfail_blocked(&f, "10.0.0.2", t) == 0);	/* per address */
	CHECK(authfail_blocked(&f, "10.0.0.1", t + 400) ==
	    AUTHFAIL_BLOCK_MS - 400);
	CHECK(authfail_blocked(&f, "10.0.0.1", t + AUTHFAIL_BLOCK_MS) == 0);
	/* Each further failure doubles the wait, up to the ceiling. */
	t += AUTHFAIL_BLOCK_MS;
	authfail_failed(&f, "10.0.0.1", t);
	CHECK(authfail_blocked(&f, "10.0.0.1", t) == 2 * AUTHFAIL_BLOCK_MS);
	authfail_failed(&f, "10.0.0.1", t);
	CHECK(authfail_blocked(&f, "10.0.0.1", t) == 4 * AUTHFAIL_BLOCK_MS);
	for (i = 0; i < 40; i++)
		authfail_failed(&f, "10.0.0.1", t);
	CHECK(authfail_blocked(&f, "10.0.0.1", t) == AUTHFAIL_BLOCK_MAX_MS);
	/* A success starts over. */
	authfail_succeeded(&f, "10.0.0.1");
	CHECK(authfail_blocked(&f, "10.0.0.1", t) == 0);
	authfail_failed(&f, "10.0.0.1", t);
	CHECK(authfail_blocked(&f, "10.0.0.1", t) == 0);
	/* So do quiet minutes. */
	for (i = 0; i < AUTHFAIL_FREE + 2; i++)
		authfail_failed(&f, "10.0.0.3", t);
	wait = authfail_blocked(&f, "10.0.0.3", t);
	CHECK(wait > 0);
	t += AUTHFAIL_FORGET_MS;
	CHECK(authfail_blocked(&f, "10.0.0.3", t) == 0);
	authfail_failed(&f, "10.0.0.3", t);
	CHECK(authfail_blocked(&f, "10.0.0.3", t) == 0);

	/* Bounded: a flood of addresses pushes out the quietest. */
	authfail_init(&f);
	for (i = 0; i < AUTHFAIL_FREE; i++)
		authfail_failed(&f, "192.0.2.1", t);
	for (i = 0; i < AUTHFAIL_SLOTS; i++) {
		snprintf(addr, sizeof addr, "198.51.%u.%u", i / 256, i % 256);
		authfail_failed(&f, addr, t + 1 + i);
	}
	CHECK(authfail_blocked(&f, "192.0.2.1", t + 1) == 0);
	CHECK_EQ_INT(f.slots[0].addr[0] != '\0', 1);
}

static void
test_equal(void)
{
	CHECK(auth_equal("", ""));
	CHECK(auth_equal(BCRYPT_Y, BCRYPT_Y));
	CHECK(!auth_equal(BCRYPT_Y, BCRYPT_B));
	CHECK(!auth_equal("abc", "abd"));
	CHECK(!auth_equal("abc", "ab"));
	CHECK(!auth_equal("ab", "abc"));
	CHECK(!auth_equal("", "a"));
}

static void
test_url_userinfo(void)
{
	static const char *const bad[] = {
		"ws://@host/",
		"ws://:pw@host/",
		"ws://a b@host/",
		"ws://a%00b@host/",
		"ws://a:p%00w@host/",
		"ws://a%2@host/",
		"ws://a%zz@host/",
		"ws://a%20b@host/",		/* a space in the user */
		"ws://a%22b@host/",		/* a quote */
	};
	struct url	 u;
	size_t		 i;

	if (CHECK_EQ_INT(url_parse("ws://alice:s%3Acr%40t@h:81/p", &u), 0)) {
		CHECK_STR(u.user, "alice");
		CHECK_STR(u.pass, "s:cr@t");
		CHECK(u.has_pass);
		CHECK_STR(u.host, "h");
		CHECK_EQ_INT(u.port, 81);
		CHECK_STR(u.path, "/p");
	}
	if (CHECK_EQ_INT(url_parse("wss://bob@[::1]/", &u), 0)) {
		CHECK_STR(u.user, "bob");
		CHECK(!u.has_pass);
		CHECK_STR(u.host, "::1");
	}
	/* The last '@' ends the user information. */
	if (CHECK_EQ_INT(url_parse("ws://a:b@c@host", &u), 0)) {
		CHECK_STR(u.pass, "b@c");
		CHECK_STR(u.host, "host");
	}
	/* An empty password is one. */
	if (CHECK_EQ_INT(url_parse("ws://a:@host/x@y", &u), 0)) {
		CHECK(u.has_pass);
		CHECK_STR(u.pass, "");
		CHECK_STR(u.path, "/x@y");	/* '@' in the path is path */
	}
	if (CHECK_EQ_INT(url_parse("ws://host/", &u), 0)) {
		CHECK_STR(u.user, "");
		CHECK(!u.has_pass);
	}
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		UNIT_CTX("bad[%zu] \"%s\"", i, bad[i]);
		CHECK_EQ_INT(url_parse(bad[i], &u), -1);
		UNIT_CTX_CLEAR();
	}
}

#define ARGV(...)	((char *[]){ "wsbridge", __VA_ARGS__, NULL })
#define ARGC(...)	((int)(sizeof((char *[]){ "wsbridge", __VA_ARGS__ }) / \
			    sizeof(char *)))

/* Parses a client command line, then its credentials. */
#define CREDS(rc, c, err, env, file, ...) do {				\
	rc = config_parse(&(c), ARGC(__VA_ARGS__), ARGV(__VA_ARGS__),	\
	    (err), sizeof(err));					\
	if (rc == 0)							\
		rc = config_client_credentials(&(c), (env), (file),	\
		    (err), sizeof(err));				\
} while (0)

static const char *
auth_header(const struct config *c)
{
	size_t	 i;

	for (i = 0; i < c->nheaders; i++) {
		if (strncmp(c->headers[i], "Authorization: ", 15) == 0)
			return c->headers[i];
	}
	return NULL;
}

static void
test_client_credentials(void)
{
	struct config	 c;
	char		 err[512];
	int		 rc;

	/* From the URL; the URL shown has no user information. */
	CREDS(rc, c, err, NULL, NULL, "--connect=ws://alice:secret@h:1/p");
	if (CHECK_EQ_INT(rc, 0)) {
		CHECK_STR(auth_header(&c), "Authorization: Basic "
		    "YWxpY2U6c2VjcmV0");
		CHECK_STR(c.connect_shown, "ws://h:1/p");
	}
	config_free(&c);
	/* The URL's password wins over the environment's. */
	CREDS(rc, c, err, "other", NULL, "--connect=ws://alice:secret@h/");
	if (CHECK_EQ_INT(rc, 0))
		CHECK_STR(auth_header(&c), "Authorization: Basic "
		    "YWxpY2U6c2VjcmV0");
	config_free(&c);
	/* The file's over the environment's. */
	CREDS(rc, c, err, "other", "secret", "--connect=ws://alice@h/",
	    "--password-file=/x");
	if (CHECK_EQ_INT(rc, 0))
		CHECK_STR(auth_header(&c), "Authorization: Basic "
		    "YWxpY2U6c2VjcmV0");
	config_free(&c);
	CREDS(rc, c, err, "secret", NULL, "--connect=ws://alice@h/");
	if (CHECK_EQ_INT(rc, 0))
		CHECK_STR(auth_header(&c), "Authorization: Basic "
		    "YWxpY2U6c2VjcmV0");
	config_free(&c);
	/* No user: no header, whatever the environment holds. */
	CREDS(rc, c, err, "secret", NULL, "--connect=wss://h/");
	if (CHECK_EQ_INT(rc, 0)) {
		CHECK(auth_header(&c) == NULL);
		CHECK_STR(c.connect_shown, "wss://h/");
	}
	config_free(&c);

	CREDS(rc, c, err, NULL, NULL, "--connect=ws://alice@h/");
	CHECK_EQ_INT(rc, -1);
	CHECK_PREFIX(err, "no password for user 'alice'");
	config_free(&c);
	CREDS(rc, c, err, NULL, "pw", "--connect=ws://alice:pw@h/",
	    "--password-file=/x");
	CHECK_EQ_INT(rc, -1);
	CHECK_CONTAINS(err, "one too many");
	config_free(&c);
	CREDS(rc, c, err, NULL, "pw", "--connect=ws://h/",
	    "--password-file=/x");
	CHECK_EQ_INT(rc, -1);
	CHECK_PREFIX(err, "--password-file needs a user");
	config_free(&c);
	CREDS(rc, c, err, NULL, NULL, "--connect=ws://a:b@h/",
	    "--header=authorization: Bearer x");
	CHECK_EQ_INT(rc, -1);
	CHECK_PREFIX(err, "--header: Authorization");
	config_free(&c);
}

int
main(void)
{
	test_htpasswd_good();
	test_htpasswd_bad();
	test_basic_parse();
	test_basic_encode();
	test_cache();
	test_failures();
	test_equal();
	test_url_userinfo();
	test_client_credentials();
	return unit_done();
}
