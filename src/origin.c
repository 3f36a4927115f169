/*
 * Origin checks as websocketd makes them, so existing --origin lists keep
 * their meaning: an entry without a port matches any port, an entry with a
 * scheme must match the scheme too. Two deliberate differences: host names
 * compare without regard to case (DNS does), and the lists are parsed here
 * by hand rather than by a URL library. A request with no Origin (or
 * "null") fails any check, as in websocketd: browsers always send one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "origin.h"

struct hostport {
	char	 host[256];
	char	 port[8];
	bool	 port_given;
};

/* "host", "host:port", "[v6]" or "[v6]:port"; the default port by scheme. */
static bool
split_hostport(const char *s, size_t len, bool tls, struct hostport *hp)
{
	const char	*colon = NULL, *end = s + len;
	size_t		 hlen, plen;

	if (len > 0 && s[0] == '[') {
		const char *rb = memchr(s, ']', len);

		if (rb == NULL)
			return false;
		if (rb + 1 < end) {
			if (rb[1] != ':')
				return false;
			colon = rb + 1;
		}
	} else
		colon = memchr(s, ':', len);
	hlen = (size_t)((colon != NULL ? colon : end) - s);
	if (hlen == 0 || hlen >= sizeof hp->host)
		return false;
	memcpy(hp->host, s, hlen);
	hp->host[hlen] = '\0';
	hp->port_given = colon != NULL;
	if (colon == NULL) {
		snprintf(hp->port, sizeof hp->port, "%s", tls ? "443" : "80");
		return true;
	}
	plen = (size_t)(end - colon - 1);
	if (plen == 0 || plen >= sizeof hp->port ||
	    strspn(colon + 1, "0123456789") < plen)
		return false;
	memcpy(hp->port, colon + 1, plen);
	hp->port[plen] = '\0';
	return true;
}

/* An Origin is scheme://host[:port], nothing after. */
static bool
parse_origin(const char *origin, char *scheme, size_t slen,
    struct hostport *hp)
{
	const char	*sep = strstr(origin, "://");
	size_t		 n;

	if (sep == NULL || sep == origin || (size_t)(sep - origin) >= slen)
		return false;
	n = (size_t)(sep - origin);
	memcpy(scheme, origin, n);
	scheme[n] = '\0';
	origin = sep + 3;
	n = strcspn(origin, "/");
	if (origin[n] == '/' && origin[n + 1] != '\0')
		return false;
	return split_hostport(origin, n, strcasecmp(scheme, "https") == 0, hp);
}

static bool
entry_matches(const char *entry, const char *scheme, const struct hostport *o)
{
	struct hostport	 a;
	const char	*sep = strstr(entry, "://");
	size_t		 n;

	if (sep != NULL) {
		if ((size_t)(sep - entry) != strlen(scheme) ||
		    strncasecmp(entry, scheme, strlen(scheme)) != 0)
			return false;
		entry = sep + 3;
	}
	n = strcspn(entry, "/");
	if (!split_hostport(entry, n, false, &a))
		return false;
	if (strcasecmp(a.host, o->host) != 0)
		return false;
	return !a.port_given || strcmp(a.port, o->port) == 0;
}

bool
origin_allowed(const char *origin, const char *const *allowed,
    bool sameorigin, const char *host, bool tls)
{
	struct hostport	 o, h;
	char		 scheme[64];	/* "chrome-extension" and longer */
	size_t		 i;

	if (!sameorigin && (allowed == NULL || allowed[0] == NULL))
		return true;
	if (origin == NULL || strcmp(origin, "null") == 0 ||
	    !parse_origin(origin, scheme, sizeof scheme, &o))
		return false;
	if (sameorigin) {
		if (host == NULL || !split_hostport(host, strlen(host), tls, &h))
			return false;
		if (strcasecmp(o.host, h.host) != 0 || strcmp(o.port, h.port) != 0)
			return false;
	}
	if (allowed == NULL || allowed[0] == NULL)
		return true;
	for (i = 0; allowed[i] != NULL; i++) {
		if (entry_matches(allowed[i], scheme, &o))
			return true;
	}
	return false;
}
