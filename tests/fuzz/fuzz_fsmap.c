/*
 * fsmap.c's fsmap_script (--dir) and fsmap_file (--staticdir, --cgidir)
 * over a small tree made once under a temporary directory BASE:
 *
 *	BASE/root/top.sh		0755
 *	BASE/root/plain.txt		0644
 *	BASE/root/a/b.sh		0755
 *	BASE/root/a/sub/deep.sh		0755
 *	BASE/root/escape.sh	->	BASE/outside/evil.sh	(absolute)
 *	BASE/root/escdir	->	../outside		(relative)
 *	BASE/root/a/up	->	..
 *	BASE/root/loop	->	loop
 *	BASE/root/dangling	->	nowhere
 *	BASE/root2/x.sh			0755, a sibling sharing the prefix
 *	BASE/outside/evil.sh		0755
 *
 * The first input byte picks the function, whether the rest goes through
 * http_path_decode first (as the server does) or raw, and the root's
 * spelling; the rest is the path. The oracle: whenever FSMAP_FOUND comes
 * back, the realpath of the mapped file is inside the realpath of the root
 * (and for a script it is a regular executable file named by a prefix of
 * the path).
 */
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsmap.h"
#include "http.h"
#include "fuzz.h"

static char	 base[PATH_MAX];
static char	 roots[3][PATH_MAX];	/* plain, trailing '/', via a link */
static char	 realroot[PATH_MAX];

static void
mkfile(const char *rel, mode_t mode)
{
	char	 p[PATH_MAX];
	int	 fd;

	snprintf(p, sizeof p, "%s/%s", base, rel);
	if ((fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1 ||
	    write(fd, "#!/bin/sh\n", 10) != 10 || close(fd) != 0 ||
	    chmod(p, mode) != 0) {
		perror(p);
		abort();
	}
}

static void
mkdirrel(const char *rel)
{
	char	 p[PATH_MAX];

	snprintf(p, sizeof p, "%s/%s", base, rel);
	if (mkdir(p, 0755) != 0) {
		perror(p);
		abort();
	}
}

static void
mklink(const char *to, const char *rel)
{
	char	 p[PATH_MAX];

	snprintf(p, sizeof p, "%s/%s", base, rel);
	if (symlink(to, p) != 0) {
		perror(p);
		abort();
	}
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
cleanup(void)
{
	if (base[0] != '\0')
		nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char	*tmp = getenv("TMPDIR");
	char		 evil[PATH_MAX];

	(void)argc;
	(void)argv;
	snprintf(base, sizeof base, "%s/wsb-fuzz-fsmap.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(base) == NULL) {
		perror(base);
		abort();
	}
	atexit(cleanup);
	mkdirrel("root");
	mkdirrel("root/a");
	mkdirrel("root/a/sub");
	mkdirrel("root2");
	mkdirrel("outside");
	mkfile("root/top.sh", 0755);
	mkfile("root/plain.txt", 0644);
	mkfile("root/a/b.sh", 0755);
	mkfile("root/a/sub/deep.sh", 0755);
	mkfile("root2/x.sh", 0755);
	mkfile("outside/evil.sh", 0755);
	snprintf(evil, sizeof evil, "%s/outside/evil.sh", base);
	mklink(evil, "root/escape.sh");
	mklink("../outside", "root/escdir");
	mklink("..", "root/a/up");
	mklink("loop", "root/loop");
	mklink("nowhere", "root/dangling");
	mklink("root", "rootlink");
	snprintf(roots[0], sizeof roots[0], "%s/root", base);
	snprintf(roots[1], sizeof roots[1], "%s/root/", base);
	snprintf(roots[2], sizeof roots[2], "%s/rootlink", base);
	if (realpath(roots[0], realroot) == NULL) {
		perror(roots[0]);
		abort();
	}
	return 0;
}

static bool
inside_root(const char *file)
{
	char	 real[PATH_MAX];
	size_t	 n = strlen(realroot);

	if (realpath(file, real) == NULL)
		return false;
	return strncmp(real, realroot, n) == 0 &&
	    (real[n] == '/' || real[n] == '\0');
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum fsmap_result	 r;
	const char		*root, *path;
	char			*raw, decoded[4096], *file;
	size_t			 len, prefix, flen;
	struct stat		 st;
	uint8_t			 flags;

	if (size < 1 || size > 8192)
		return 0;
	flags = data[0];
	root = roots[(flags >> 2) % 3];
	if ((raw = malloc(size)) == NULL)
		return 0;
	memcpy(raw, data + 1, size - 1);
	raw[size - 1] = '\0';
	path = raw;
	if (flags & 2) {
		if (http_path_decode(raw, decoded, sizeof decoded) != 0)
			goto done;
		path = decoded;
	}
	/* The caller's buffer, exactly: 4096 as the server's, or tight. */
	flen = (flags & 0x20) ? strlen(root) + strlen(path) + 1 : 4096;
	if ((file = malloc(flen)) == NULL)
		goto done;
	len = flen;

	if (flags & 1) {
		prefix = (size_t)-1;
		r = fsmap_script(root, path, file, len, &prefix);
		CHECK(r == FSMAP_FOUND || r == FSMAP_NOT_FOUND ||
		    r == FSMAP_FORBIDDEN);
		if (r == FSMAP_FOUND) {
			CHECK(memchr(file, '\0', len) != NULL);
			CHECK(inside_root(file));
			CHECK(prefix >= 1 && prefix <= strlen(path));
			CHECK(path[0] == '/');
			CHECK(path[prefix] == '\0' || path[prefix] == '/');
			CHECK(strlen(file) == strlen(root) + prefix);
			CHECK(strncmp(file, root, strlen(root)) == 0);
			CHECK(strncmp(file + strlen(root), path, prefix) == 0);
			CHECK(stat(file, &st) == 0 && S_ISREG(st.st_mode));
			CHECK(access(file, X_OK) == 0);
		}
	} else {
		r = fsmap_file(root, path, file, len);
		CHECK(r == FSMAP_FOUND || r == FSMAP_NOT_FOUND ||
		    r == FSMAP_FORBIDDEN);
		if (r == FSMAP_FOUND) {
			CHECK(memchr(file, '\0', len) != NULL);
			CHECK(inside_root(file));
			CHECK(strncmp(file, root, strlen(root)) == 0);
			CHECK(strcmp(file + strlen(root), path) == 0);
		}
	}
	free(file);
done:
	free(raw);
	return 0;
}
