/*
 * origin.c's origin_allowed. The input is split on NUL bytes: a flag
 * byte, the Origin, the Host, then the --origin entries. Oracles: no list
 * and no --sameorigin allows anything; otherwise a missing or "null"
 * Origin never passes; the answer does not depend on the case of the
 * host names (DNS), nor on the order of the entries; and a match against
 * a list means some single entry matches on its own.
 */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "origin.h"
#include "fuzz.h"

#define MAXENTRIES	8

static char *
upper(const char *s)
{
	char	*u, *p;

	if ((u = strdup(s)) == NULL)
		abort();
	for (p = u; *p != '\0'; p++)
		*p = (char)toupper((unsigned char)*p);
	return u;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		*buf, *parts[2 + MAXENTRIES], *p, *end;
	char		*uorigin, *uhost, *uentries[MAXENTRIES + 1];
	const char	*entries[MAXENTRIES + 1], *rev[MAXENTRIES + 1];
	const char	*one[2], *origin, *host;
	size_t		 nparts = 0, nentries, i;
	bool		 sameorigin, tls, ok, any;
	unsigned char	 flags;

	if (size < 1)
		return 0;
	flags = data[0];
	sameorigin = flags & 1;
	tls = flags & 2;
	if ((buf = malloc(size)) == NULL)
		return 0;
	memcpy(buf, data + 1, size - 1);
	buf[size - 1] = '\0';
	for (p = buf, end = buf + size - 1; p <= end &&
	    nparts < sizeof parts / sizeof parts[0]; p += strlen(p) + 1)
		parts[nparts++] = p;
	origin = nparts > 0 && !(flags & 4) ? parts[0] : NULL;
	host = nparts > 1 && !(flags & 8) ? parts[1] : NULL;
	nentries = nparts > 2 ? nparts - 2 : 0;
	for (i = 0; i < nentries; i++) {
		entries[i] = parts[2 + i];
		rev[nentries - 1 - i] = parts[2 + i];
	}
	entries[nentries] = rev[nentries] = NULL;

	ok = origin_allowed(origin, (flags & 16) ? NULL : entries, sameorigin,
	    host, tls);
	if (!sameorigin && ((flags & 16) || nentries == 0))
		CHECK(ok);
	if ((sameorigin || (!(flags & 16) && nentries > 0)) &&
	    (origin == NULL || strcmp(origin, "null") == 0))
		CHECK(!ok);
	if (sameorigin && host == NULL)
		CHECK(!ok);
	if (flags & 16)
		goto done;

	/* The order of the list does not matter. */
	CHECK(ok == origin_allowed(origin, rev, sameorigin, host, tls));

	/* With a list: allowed iff some one entry allows it. */
	if (nentries > 0) {
		any = false;
		for (i = 0; i < nentries; i++) {
			one[0] = entries[i];
			one[1] = NULL;
			any |= origin_allowed(origin, one, sameorigin, host, tls);
		}
		CHECK(ok == any);
	}

	/*
	 * Upper case everywhere but the scheme of the Origin, which browsers
	 * send in lower case and the list may spell either way: the same.
	 */
	if (origin != NULL && strstr(origin, "://") != NULL) {
		uorigin = upper(origin);
		memcpy(uorigin, origin, (size_t)(strstr(origin, "://") -
		    origin));
		uhost = host != NULL ? upper(host) : NULL;
		for (i = 0; i < nentries; i++) {
			uentries[i] = upper(entries[i]);
			/* Keep an entry's scheme as written, too. */
			if (strstr(entries[i], "://") != NULL)
				memcpy(uentries[i], entries[i],
				    (size_t)(strstr(entries[i], "://") -
				    entries[i]));
		}
		uentries[nentries] = NULL;
		CHECK(ok == origin_allowed(uorigin, (const char *const *)
		    uentries, sameorigin, uhost, tls));
		for (i = 0; i < nentries; i++)
			free(uentries[i]);
		free(uhost);
		free(uorigin);
	}
done:
	free(buf);
	return 0;
}
