/*
 * origin.c: --origin lists and --sameorigin, as websocketd applies them.
 * An entry without a port matches any port, one with a port only that port,
 * one with a scheme only that scheme; hosts compare without regard to case;
 * a missing, "null" or malformed Origin fails any check.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "../../src/origin.h"
#include "unit.h"

/* Only the --origin list (no --sameorigin, no Host needed). */
static bool
listed(const char *origin, const char *const *list)
{
	return origin_allowed(origin, list, false, NULL, false);
}

/* Only --sameorigin, against a Host header on a plain or TLS listener. */
static bool
same(const char *origin, const char *host, bool tls)
{
	return origin_allowed(origin, NULL, true, host, tls);
}

static void
test_unrestricted(void)
{
	static const char *const empty[] = { NULL };

	/* No list and no --sameorigin: anything goes, even no Origin. */
	CHECK(origin_allowed(NULL, NULL, false, NULL, false));
	CHECK(origin_allowed(NULL, NULL, false, "a.test", true));
	CHECK(origin_allowed("null", NULL, false, NULL, false));
	CHECK(origin_allowed("http://a.test", NULL, false, NULL, false));
	CHECK(origin_allowed("garbage", NULL, false, NULL, false));
	/* An empty list is no list. */
	CHECK(origin_allowed(NULL, empty, false, NULL, false));
	CHECK(origin_allowed("http://x.test:1", empty, false, NULL, false));
}

static void
test_list_ports(void)
{
	static const char *const any[] = { "a.test", NULL };
	static const char *const p8080[] = { "a.test:8080", NULL };
	static const char *const p80[] = { "a.test:80", NULL };
	static const char *const two[] = { "b.test:9000", "a.test", NULL };

	/* No port in the entry: any port, any scheme. */
	CHECK(listed("http://a.test", any));
	CHECK(listed("http://a.test:8080", any));
	CHECK(listed("https://a.test", any));
	CHECK(listed("https://a.test:1", any));
	CHECK(!listed("http://b.test", any));
	CHECK(!listed("http://a.test.evil", any));
	CHECK(!listed("http://evil.a.test", any));
	CHECK(!listed("http://a.tes", any));

	/* A port: only that one. */
	CHECK(listed("http://a.test:8080", p8080));
	CHECK(listed("https://a.test:8080", p8080));
	CHECK(!listed("http://a.test", p8080));
	CHECK(!listed("http://a.test:8081", p8080));
	CHECK(!listed("http://a.test:808", p8080));
	CHECK(!listed("https://a.test", p8080));

	/* ":80" is explicit: the default port of http, and nothing else. */
	CHECK(listed("http://a.test", p80));
	CHECK(listed("http://a.test:80", p80));
	CHECK(!listed("https://a.test", p80));		/* 443 */
	CHECK(!listed("http://a.test:8080", p80));
	CHECK(!listed("https://a.test:8080", p80));

	/* Any entry of several may match. */
	CHECK(listed("http://b.test:9000", two));
	CHECK(!listed("http://b.test:9001", two));
	CHECK(listed("http://a.test:9001", two));
	CHECK(!listed("http://c.test", two));
}

static void
test_list_schemes(void)
{
	static const char *const s[] = { "https://secure.test:8443", NULL };
	static const char *const snoport[] = { "https://secure.test", NULL };
	static const char *const mixed[] = {
		"http://plain.test", "https://secure.test:8443", NULL
	};

	CHECK(listed("https://secure.test:8443", s));
	CHECK(!listed("http://secure.test:8443", s));	/* wrong scheme */
	CHECK(!listed("https://secure.test", s));	/* 443 */
	CHECK(!listed("https://secure.test:8444", s));
	CHECK(!listed("https://other.test:8443", s));
	/* Schemes, like hosts, compare without regard to case. */
	CHECK(listed("HTTPS://secure.test:8443", s));

	/* A scheme and no port: that scheme on any port. */
	CHECK(listed("https://secure.test", snoport));
	CHECK(listed("https://secure.test:9999", snoport));
	CHECK(!listed("http://secure.test", snoport));

	CHECK(listed("http://plain.test", mixed));
	CHECK(listed("http://plain.test:81", mixed));
	CHECK(!listed("https://plain.test", mixed));
	CHECK(listed("https://secure.test:8443", mixed));
	CHECK(!listed("http://secure.test:8443", mixed));
}

static void
test_list_case(void)
{
	static const char *const lower[] = { "example.com:8080", NULL };
	static const char *const upper[] = { "EXAMPLE.COM", NULL };

	CHECK(listed("http://Example.COM:8080", lower));
	CHECK(listed("http://EXAMPLE.COM:8080", lower));
	CHECK(listed("http://example.com", upper));
	CHECK(listed("https://eXaMpLe.CoM:1", upper));
	CHECK(!listed("http://example.co", upper));
}

static void
test_list_refused(void)
{
	static const char *const any[] = { "a.test", NULL };
	static const char *const bad[] = {
		"http:/a.test",		/* one slash */
		"http:/x",
		"x",
		"a.test",		/* no scheme */
		"://a.test",		/* empty scheme */
		"http://",		/* no host */
		"http://:80",		/* empty host */
		"http://a.test:",	/* empty port */
		"http://a.test:8x",
		"http://a.test:-1",
		"http://a.test:123456789",
		"http://a.test/b/c",	/* a path */
		"http://a/b/c",
		"http://a.test/b",
		"http://a.test//",
		"",
	};
	size_t	 i;

	/* No Origin, or the opaque "null", fails a restriction. */
	CHECK(!listed(NULL, any));
	CHECK(!listed("null", any));
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		UNIT_CTX("bad[%zu] \"%s\"", i, bad[i]);
		CHECK(!listed(bad[i], any));
	}
	UNIT_CTX_CLEAR();
	/* The same hosts, well formed, pass; so does a lone '/' after. */
	CHECK(listed("http://a.test", any));
	CHECK(listed("http://a.test:8", any));
	CHECK(listed("http://a.test/", any));
	CHECK(listed("http://a.test:8/", any));
}

static void
test_sameorigin(void)
{
	static const char *const list[] = { "a.test:8080", NULL };

	/* Host and port both as in the Host header. */
	CHECK(same("http://a.test:8080", "a.test:8080", false));
	CHECK(same("https://a.test:8080", "a.test:8080", true));
	CHECK(!same("http://a.test:8081", "a.test:8080", false));
	CHECK(!same("http://b.test:8080", "a.test:8080", false));
	CHECK(!same("http://a.test", "a.test:8080", false));
	CHECK(same("http://A.Test:8080", "a.TEST:8080", false));
	/* The scheme itself is not compared, only the port it implies. */
	CHECK(same("http://a.test:8443", "a.test:8443", true));
	CHECK(same("https://a.test:8080", "a.test:8080", false));
	CHECK(same("https://a.test:80", "a.test", false));
	CHECK(same("http://a.test:443", "a.test", true));

	/* Default ports: the Origin's by its scheme, the Host's by tls. */
	CHECK(same("http://a.test", "a.test", false));
	CHECK(same("http://a.test:80", "a.test", false));
	CHECK(same("http://a.test", "a.test:80", false));
	CHECK(same("https://a.test", "a.test", true));
	CHECK(same("https://a.test:443", "a.test", true));
	CHECK(same("https://a.test", "a.test:443", true));
	CHECK(!same("https://a.test", "a.test", false));	/* 443 vs 80 */
	CHECK(!same("http://a.test", "a.test", true));		/* 80 vs 443 */
	CHECK(!same("http://a.test", "a.test:443", true));

	/* No Origin, "null", a malformed Origin or a malformed Host. */
	CHECK(!same(NULL, "a.test", false));
	CHECK(!same("null", "a.test", false));
	CHECK(!same("http:/a.test", "a.test", false));
	CHECK(!same("http://a.test/x", "a.test", false));
	CHECK(!same("http://a.test", NULL, false));
	CHECK(!same("http://a.test", "", false));
	CHECK(!same("http://a.test", "a.test:", false));
	CHECK(!same("http://a.test", "a.test:x", false));

	/* With a list too, both must pass. */
	CHECK(origin_allowed("http://a.test:8080", list, true, "a.test:8080",
	    false));
	CHECK(!origin_allowed("http://b.test:8080", list, true, "b.test:8080",
	    false));
	CHECK(!origin_allowed("http://a.test:8080", list, true, "a.test:9090",
	    false));
}

/* Long schemes, such as Chrome's "chrome-extension", are origins too. */
static void
test_long_schemes(void)
{
	static const char *const ext[] = {
		"chrome-extension://abcdefghijklmnop", NULL };
	static const char *const bare[] = { "abcdefghijklmnop", NULL };

	CHECK(listed("chrome-extension://abcdefghijklmnop", ext));
	CHECK(listed("chrome-extension://abcdefghijklmnop", bare));
}

static void
test_other_schemes(void)
{
	static const char *const bare[] = { "abcdefghijklmnop", NULL };
	static const char *const moz[] = { "moz-extension://abcdefghijklmnop",
	    NULL };

	/* Any scheme; ports default to 80 unless it is https. */
	CHECK(listed("moz-extension://abcdefghijklmnop", bare));
	CHECK(listed("moz-extension://abcdefghijklmnop", moz));
	CHECK(!listed("http://abcdefghijklmnop", moz));
	CHECK(listed("file://abcdefghijklmnop", bare));
}

static void
test_ipv6(void)
{
	static const char *const v6any[] = { "[::1]", NULL };
	static const char *const v6port[] = { "[::1]:8080", NULL };
	static const char *const v6scheme[] = { "http://[::1]:8080", NULL };

	CHECK(listed("http://[::1]:8080", v6any));
	CHECK(listed("http://[::1]", v6any));
	CHECK(listed("https://[::1]:9", v6any));
	CHECK(!listed("http://[::2]:8080", v6any));
	CHECK(listed("http://[::1]:8080", v6port));
	CHECK(!listed("http://[::1]:8081", v6port));
	CHECK(!listed("http://[::1]", v6port));
	CHECK(listed("http://[::1]:8080", v6scheme));
	CHECK(!listed("https://[::1]:8080", v6scheme));
	/* Malformed brackets. */
	CHECK(!listed("http://[::1", v6any));
	CHECK(!listed("http://[::1]x", v6any));
	CHECK(!listed("http://[::1]:", v6any));
	CHECK(!listed("http://::1", v6any));		/* no brackets */
	CHECK(!listed("http://[]:8080", v6any));

	CHECK(same("http://[::1]:8080", "[::1]:8080", false));
	CHECK(same("http://[::1]", "[::1]", false));
	CHECK(same("https://[::1]", "[::1]", true));
	CHECK(same("https://[::1]", "[::1]:443", true));
	CHECK(!same("http://[::1]:8080", "[::1]:8081", false));
	CHECK(!same("http://[::1]:8080", "[::2]:8080", false));
	CHECK(!same("http://[::1]", "[::1]", true));
	CHECK(!same("http://[::1]:8080", "[::1", false));
}

int
main(void)
{
	test_unrestricted();
	test_list_ports();
	test_list_schemes();
	test_list_case();
	test_list_refused();
	test_sameorigin();
	test_other_schemes();
	test_long_schemes();
	test_ipv6();
	return unit_done();
}
