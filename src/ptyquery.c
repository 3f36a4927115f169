/*
 * The --pty client's words: the size of its terminal in the URL's query
 * and in resize messages. Sizes outside 1..PTY_SIZE_MAX are clamped, since
 * a server refuses them (a terminal of 0 rows is one that could not say).
 */
#include <stdio.h>
#include <string.h>

#include "ptyquery.h"

static unsigned
clamp(unsigned n)
{
	if (n < 1)
		return 1;
	return n > PTY_SIZE_MAX ? PTY_SIZE_MAX : n;
}

/*
 * url with "cols=C&rows=R" appended to its query: after '?' when it has
 * none, after '&' when it has one that does not end in one already. The
 * URL comes checked, with no fragment. Returns -1 if buf is too small.
 */
int
ptyquery_url(const char *url, unsigned cols, unsigned rows, char *buf,
    size_t len)
{
	const char	*q = strchr(url, '?');
	size_t		 n = strlen(url);
	const char	*sep;
	int		 r;

	if (q == NULL)
		sep = "?";
	else if (q[1] == '\0' || url[n - 1] == '&')
		sep = "";
	else
		sep = "&";
	r = snprintf(buf, len, "%s%scols=%u&rows=%u", url, sep, clamp(cols),
	    clamp(rows));
	return r < 0 || (size_t)r >= len ? -1 : 0;
}

/* {"type":"resize","cols":C,"rows":R}; -1 if buf is too small. */
int
ptyquery_resize(unsigned cols, unsigned rows, char *buf, size_t len)
{
	int	 r;

	r = snprintf(buf, len, "{\"type\":\"resize\",\"cols\":%u,\"rows\":%u}",
	    clamp(cols), clamp(rows));
	return r < 0 || (size_t)r >= len ? -1 : 0;
}
