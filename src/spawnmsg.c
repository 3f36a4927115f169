/*
 * Encoding and decoding a spawn request (see spawnmsg.h). Pure: no I/O.
 * The decoder trusts nothing in the message, though only our own server
 * writes it: a bad request is refused, never half-used.
 */
#include <stdlib.h>
#include <string.h>

#include "spawnmsg.h"

static size_t
count_strings(char *const v[])
{
	size_t	 n = 0;

	while (v != NULL && v[n] != NULL)
		n++;
	return n;
}

/* Appends s and its NUL at *off; false when it does not fit. */
static int
put_string(unsigned char *buf, size_t cap, size_t *off, const char *s)
{
	size_t	 len = strlen(s) + 1;

	if (len > cap - *off)
		return 0;
	memcpy(buf + *off, s, len);
	*off += len;
	return 1;
}

/*
 * The request for path with argv and envp (NULL: the spawner's own
 * environment) and tty (NULL: none) in buf; its length, or 0 when it does
 * not fit in cap.
 */
size_t
spawnmsg_encode(unsigned char *buf, size_t cap, const char *path,
    char *const argv[], char *const envp[], const char *tty)
{
	struct spawnmsg	 h;
	size_t		 off = sizeof h, nargv, nenv, i;

	nargv = count_strings(argv);
	nenv = count_strings(envp);
	if (cap < sizeof h || nargv == 0 || nargv > SPAWNMSG_MAX_STRINGS ||
	    nenv > SPAWNMSG_MAX_STRINGS || !put_string(buf, cap, &off, path))
		return 0;
	for (i = 0; i < nargv; i++)
		if (!put_string(buf, cap, &off, argv[i]))
			return 0;
	for (i = 0; i < nenv; i++)
		if (!put_string(buf, cap, &off, envp[i]))
			return 0;
	if (tty != NULL && (tty[0] == '\0' || !put_string(buf, cap, &off, tty)))
		return 0;
	memset(&h, 0, sizeof h);
	h.type = SPAWNMSG_REQUEST;
	h.flags = tty != NULL ? SPAWNMSG_TTY : 0;
	h.nargv = (uint32_t)nargv;
	h.nenv = envp == NULL ? SPAWNMSG_INHERIT_ENV : (uint32_t)nenv;
	memcpy(buf, &h, sizeof h);
	return off;
}

/* The next NUL-ended string at *off, or NULL when there is none. */
static char *
take_string(unsigned char *buf, size_t len, size_t *off)
{
	unsigned char	*nul;
	char		*s;

	if (*off >= len || (nul = memchr(buf + *off, '\0', len - *off)) ==
	    NULL)
		return NULL;
	s = (char *)buf + *off;
	*off = (size_t)(nul - buf) + 1;
	return s;
}

/* n strings from *off into a new NULL-ended array; -1 when malformed. */
static int
take_strings(unsigned char *buf, size_t len, size_t *off, size_t n,
    char ***out)
{
	char	**v;
	size_t	 i;

	if ((v = calloc(n + 1, sizeof *v)) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		if ((v[i] = take_string(buf, len, off)) == NULL) {
			free(v);
			return -1;
		}
	}
	*out = v;
	return 0;
}

/*
 * Decodes a request in place (the strings stay in buf). Returns 0, or -1
 * for anything but a whole, well-formed request with nothing after it.
 */
int
spawnmsg_decode(unsigned char *buf, size_t len, struct spawnreq *req)
{
	struct spawnmsg	 h;
	size_t		 off = sizeof h;

	memset(req, 0, sizeof *req);
	if (len < sizeof h || len > SPAWNMSG_MAX)
		return -1;
	memcpy(&h, buf, sizeof h);
	if (h.type != SPAWNMSG_REQUEST || h.pid != 0 || h.value != 0 ||
	    (h.flags & ~(uint32_t)SPAWNMSG_TTY) != 0 || h.nargv == 0 ||
	    h.nargv > SPAWNMSG_MAX_STRINGS ||
	    (h.nenv > SPAWNMSG_MAX_STRINGS && h.nenv != SPAWNMSG_INHERIT_ENV))
		return -1;
	if ((req->path = take_string(buf, len, &off)) == NULL ||
	    req->path[0] == '\0' ||
	    take_strings(buf, len, &off, h.nargv, &req->argv) != 0)
		goto bad;
	if (h.nenv != SPAWNMSG_INHERIT_ENV &&
	    take_strings(buf, len, &off, h.nenv, &req->envp) != 0)
		goto bad;
	if ((h.flags & SPAWNMSG_TTY) && ((req->tty = take_string(buf, len,
	    &off)) == NULL || req->tty[0] == '\0'))
		goto bad;
	if (off != len)
		goto bad;
	return 0;
bad:
	spawnreq_free(req);
	return -1;
}

void
spawnreq_free(struct spawnreq *req)
{
	free(req->argv);
	free(req->envp);
	memset(req, 0, sizeof *req);
}
