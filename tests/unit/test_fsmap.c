/*
 * fsmap.c: mapping a decoded path onto --dir (the first file along the path
 * is the script) and --staticdir/--cgidir (the whole path), never leaving
 * the root, symlinks included; and http.c's http_path_decode, the textual
 * check every path passes first.
 *
 * The tree, under a mkdtemp directory BASE:
 *
 *	BASE/outside/evil.sh		0755, outside the root
 *	BASE/outside/sub/x.sh		0755
 *	BASE/root/top.sh		0755
 *	BASE/root/plain.txt		0644
 *	BASE/root/a/b.sh		0755
 *	BASE/root/a/data.txt		0644
 *	BASE/root/a/sub/deep.sh		0755
 *	BASE/root/a/empty/		a directory
 *	BASE/root/fifo			a FIFO
 *	BASE/root/escape.sh	->	BASE/outside/evil.sh
 *	BASE/root/escdir	->	BASE/outside/sub
 *	BASE/root/a/rel.sh	->	../../outside/evil.sh
 *	BASE/root/link.sh	->	a/b.sh
 *	BASE/root/linkdir	->	a
 *	BASE/root/dangling	->	nowhere
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/fsmap.h"
#include "../../src/http.h"
#include "unit.h"

static char	 base[512];	/* short, so base + a name fits PATH_MAX */
static char	 root[600];

static int
mkfile(const char *rel, mode_t mode)
{
	char	 p[PATH_MAX];
	int	 fd;

	snprintf(p, sizeof p, "%s/%s", base, rel);
	if ((fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1)
		return -1;
	if (write(fd, "#!/bin/sh\n", 10) != 10) {
		close(fd);
		return -1;
	}
	close(fd);
	return chmod(p, mode);		/* exact, whatever the umask */
}

static int
mkdirrel(const char *rel)
{
	char	 p[PATH_MAX];

	snprintf(p, sizeof p, "%s/%s", base, rel);
	return mkdir(p, 0755);
}

static int
mklink(const char *target, const char *rel)
{
	char	 p[PATH_MAX];

	snprintf(p, sizeof p, "%s/%s", base, rel);
	return symlink(target, p);
}

static int
build_tree(void)
{
	char		 p[PATH_MAX], t[PATH_MAX];
	const char	*tmp = getenv("TMPDIR");

	snprintf(base, sizeof base, "%s/wsb-fsmap-XXXXXX",
	    tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(base) == NULL)
		return -1;
	snprintf(root, sizeof root, "%s/root", base);
	if (mkdirrel("outside") || mkdirrel("outside/sub") ||
	    mkdirrel("root") || mkdirrel("root/a") ||
	    mkdirrel("root/a/sub") || mkdirrel("root/a/empty"))
		return -1;
	if (mkfile("outside/evil.sh", 0755) ||
	    mkfile("outside/sub/x.sh", 0755) ||
	    mkfile("root/top.sh", 0755) ||
	    mkfile("root/plain.txt", 0644) ||
	    mkfile("root/a/b.sh", 0755) ||
	    mkfile("root/a/data.txt", 0644) ||
	    mkfile("root/a/sub/deep.sh", 0755))
		return -1;
	snprintf(p, sizeof p, "%s/root/fifo", base);
	if (mkfifo(p, 0755) != 0)
		return -1;
	/* The escaping links are absolute, so they leave however they can. */
	snprintf(t, sizeof t, "%s/outside/evil.sh", base);
	if (mklink(t, "root/escape.sh"))
		return -1;
	snprintf(t, sizeof t, "%s/outside/sub", base);
	if (mklink(t, "root/escdir"))
		return -1;
	if (mklink("../../outside/evil.sh", "root/a/rel.sh"))
		return -1;
	if (mklink("a/b.sh", "root/link.sh") || mklink("a", "root/linkdir") ||
	    mklink("nowhere", "root/dangling"))
		return -1;
	return 0;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void
remove_tree(void)
{
	struct stat	 st;

	if (base[0] == '\0')
		return;
	CHECK_EQ_INT(nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
	CHECK(lstat(base, &st) == -1 && errno == ENOENT);
}

/* fsmap_script with its outputs checked: the file and the prefix. */
static void
script_found(int line, const char *path, const char *rel, size_t prefix)
{
	char			 file[PATH_MAX], want[PATH_MAX];
	size_t			 pre = (size_t)-1;
	enum fsmap_result	 r;

	UNIT_CTX("line %d: \"%s\"", line, path);
	r = fsmap_script(root, path, file, sizeof file, &pre);
	if (CHECK_EQ_INT(r, FSMAP_FOUND)) {
		snprintf(want, sizeof want, "%s%s", root, rel);
		CHECK_STR(file, want);
		CHECK_EQ_INT(pre, prefix);
	}
	UNIT_CTX_CLEAR();
}

static void
script_is(int line, const char *path, enum fsmap_result want)
{
	char	 file[PATH_MAX];
	size_t	 pre = 12345;

	UNIT_CTX("line %d: \"%s\"", line, path);
	CHECK_EQ_INT(fsmap_script(root, path, file, sizeof file, &pre), want);
	CHECK_EQ_INT(pre, 12345);	/* untouched unless found */
	UNIT_CTX_CLEAR();
}

static void
file_is(int line, const char *path, enum fsmap_result want)
{
	char	 file[PATH_MAX], full[PATH_MAX];

	UNIT_CTX("line %d: \"%s\"", line, path);
	if (CHECK_EQ_INT(fsmap_file(root, path, file, sizeof file), want) &&
	    want == FSMAP_FOUND) {
		snprintf(full, sizeof full, "%s%s", root, path);
		CHECK_STR(file, full);
	}
	UNIT_CTX_CLEAR();
}

static void
test_script(void)
{
	/* The first regular file along the path; the rest is PATH_INFO. */
	script_found(__LINE__, "/a/b.sh/extra/x", "/a/b.sh",
	    strlen("/a/b.sh"));
	script_found(__LINE__, "/a/b.sh", "/a/b.sh", strlen("/a/b.sh"));
	/*
	 * The walk ends at the script: what follows, empty segments and all,
	 * is PATH_INFO ("/" here, "//x" below), not a 404.
	 */
	script_found(__LINE__, "/a/b.sh/", "/a/b.sh", strlen("/a/b.sh"));
	script_found(__LINE__, "/a/b.sh//x", "/a/b.sh", strlen("/a/b.sh"));
	script_found(__LINE__, "/top.sh", "/top.sh", strlen("/top.sh"));
	script_found(__LINE__, "/top.sh/a/b.sh", "/top.sh",
	    strlen("/top.sh"));
	script_found(__LINE__, "/a/sub/deep.sh/p", "/a/sub/deep.sh",
	    strlen("/a/sub/deep.sh"));

	/* Nothing there, or the path stops at a directory. */
	script_is(__LINE__, "/missing", FSMAP_NOT_FOUND);
	script_is(__LINE__, "/missing/b.sh", FSMAP_NOT_FOUND);
	script_is(__LINE__, "/a/missing", FSMAP_NOT_FOUND);
	script_is(__LINE__, "/a", FSMAP_NOT_FOUND);
	script_is(__LINE__, "/a/", FSMAP_NOT_FOUND);
	script_is(__LINE__, "/a/sub", FSMAP_NOT_FOUND);
	script_is(__LINE__, "/a/empty/", FSMAP_NOT_FOUND);
	script_is(__LINE__, "/", FSMAP_NOT_FOUND);
	script_is(__LINE__, "//", FSMAP_NOT_FOUND);
	script_is(__LINE__, "//top.sh", FSMAP_NOT_FOUND);
	script_is(__LINE__, "/a//b.sh", FSMAP_NOT_FOUND);
	script_is(__LINE__, "", FSMAP_NOT_FOUND);
	script_is(__LINE__, "top.sh", FSMAP_NOT_FOUND);	/* not a path */
	script_is(__LINE__, "/dangling", FSMAP_NOT_FOUND);
	script_is(__LINE__, "/fifo", FSMAP_NOT_FOUND);	/* not regular */

	/* Not executable. */
	script_is(__LINE__, "/plain.txt", FSMAP_FORBIDDEN);
	script_is(__LINE__, "/a/data.txt", FSMAP_FORBIDDEN);
	script_is(__LINE__, "/a/data.txt/x", FSMAP_FORBIDDEN);

	/* Symlinks: leading out is forbidden, staying in is fine. */
	script_is(__LINE__, "/escape.sh", FSMAP_FORBIDDEN);
	script_is(__LINE__, "/escape.sh/x", FSMAP_FORBIDDEN);
	script_is(__LINE__, "/escdir/x.sh", FSMAP_FORBIDDEN);
	script_is(__LINE__, "/a/rel.sh", FSMAP_FORBIDDEN);
	script_is(__LINE__, "/linkdir/rel.sh/x", FSMAP_FORBIDDEN);
	script_found(__LINE__, "/link.sh", "/link.sh", strlen("/link.sh"));
	script_found(__LINE__, "/link.sh/more", "/link.sh",
	    strlen("/link.sh"));
	script_found(__LINE__, "/linkdir/b.sh/x", "/linkdir/b.sh",
	    strlen("/linkdir/b.sh"));

	/* A buffer too small for the name: not found, never cut short. */
	{
		char	 small[8];
		size_t	 pre = 12345;

		CHECK_EQ_INT(fsmap_script(root, "/top.sh", small, sizeof small,
		    &pre), FSMAP_NOT_FOUND);
		CHECK_EQ_INT(pre, 12345);
	}
}

static void
test_script_root_slash(void)
{
	char	 rootslash[PATH_MAX + 1], file[PATH_MAX];
	size_t	 pre = 0;

	/* A root given with a trailing slash still maps (as "//a/b.sh"). */
	snprintf(rootslash, sizeof rootslash, "%s/", root);
	CHECK_EQ_INT(fsmap_script(rootslash, "/a/b.sh/x", file, sizeof file,
	    &pre), FSMAP_FOUND);
	CHECK_EQ_INT(pre, strlen("/a/b.sh"));
}

static void
test_file(void)
{
	file_is(__LINE__, "/plain.txt", FSMAP_FOUND);
	file_is(__LINE__, "/top.sh", FSMAP_FOUND);
	file_is(__LINE__, "/a/data.txt", FSMAP_FOUND);
	file_is(__LINE__, "/a", FSMAP_FOUND);		/* a directory */
	file_is(__LINE__, "/a/", FSMAP_FOUND);
	file_is(__LINE__, "/", FSMAP_FOUND);
	file_is(__LINE__, "/link.sh", FSMAP_FOUND);
	file_is(__LINE__, "/linkdir/data.txt", FSMAP_FOUND);
	file_is(__LINE__, "/missing", FSMAP_NOT_FOUND);
	file_is(__LINE__, "/a/b.sh/extra", FSMAP_NOT_FOUND);
	file_is(__LINE__, "/dangling", FSMAP_NOT_FOUND);
	file_is(__LINE__, "/escape.sh", FSMAP_FORBIDDEN);
	file_is(__LINE__, "/escdir", FSMAP_FORBIDDEN);
	file_is(__LINE__, "/escdir/x.sh", FSMAP_FORBIDDEN);
	file_is(__LINE__, "/a/rel.sh", FSMAP_FORBIDDEN);

	{
		char	 small[8];

		CHECK_EQ_INT(fsmap_file(root, "/plain.txt", small,
		    sizeof small), FSMAP_NOT_FOUND);
	}
}

/* http_path_decode into a roomy buffer; NULL for a refused path. */
static const char *
decode(const char *target)
{
	static char	 out[256];

	if (http_path_decode(target, out, sizeof out) != 0)
		return NULL;
	return out;
}

static void
test_path_decode(void)
{
	static const char *const refused[] = {
		"",
		"a",
		"a/b",
		"?x",
		"%2Fa",			/* not starting with '/' */
		"/..",
		"/../x",
		"/a/..",
		"/a/../b",
		"/a/b/../../..",
		"/.",
		"/./",
		"/a/./b",
		"/a/.",
		"/%2e%2e",
		"/%2E%2E/x",
		"/a/%2e%2e",
		"/a/.%2e/b",
		"/a/%2e./b",
		"/%2e",
		"/a/%2e/b",
		"/a%2Fb",
		"/a%2fb",
		"/%2F",
		"/%00",
		"/a%00.sh",
		"/a\\b",
		"/a%5cb",		/* an encoded backslash too */
		"/a%5Cb",
		"/\\..\\x",
		"/a%4",			/* truncated escapes */
		"/a%",
		"/%4?x",
		"/a%4?1",
		"/a%zz",
		"/a%g0",
		"/a%0g",
		"/a%-1",
	};
	char	 small[4];
	size_t	 i;

	CHECK_STR(decode("/"), "/");
	CHECK_STR(decode("/a/b.sh"), "/a/b.sh");
	CHECK_STR(decode("/a%20b"), "/a b");
	CHECK_STR(decode("/%41%42%43"), "/ABC");
	CHECK_STR(decode("/%7e%7E"), "/~~");
	CHECK_STR(decode("/caf%C3%A9"), "/caf\xc3\xa9");
	CHECK_STR(decode("/100%25"), "/100%");
	CHECK_STR(decode("/%3F"), "/?");	/* an encoded '?' is data */
	CHECK_STR(decode("/%25%32%46"), "/%2F");/* decoded once only */
	/* Dots that are not whole segments are ordinary. */
	CHECK_STR(decode("/a.sh"), "/a.sh");
	CHECK_STR(decode("/..a"), "/..a");
	CHECK_STR(decode("/a.."), "/a..");
	CHECK_STR(decode("/.hidden"), "/.hidden");
	CHECK_STR(decode("/.../x"), "/.../x");
	CHECK_STR(decode("/a/b./c"), "/a/b./c");
	/* Empty segments are the mapper's business, not refused here. */
	CHECK_STR(decode("//"), "//");
	CHECK_STR(decode("/a//b"), "/a//b");
	/* Stops at '?': the query is not decoded or checked. */
	CHECK_STR(decode("/a?b"), "/a");
	CHECK_STR(decode("/a%20b?x=%00/../.."), "/a b");
	CHECK_STR(decode("/x?%"), "/x");
	CHECK_STR(decode("/?"), "/");

	for (i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		UNIT_CTX("refused[%zu] \"%s\"", i, refused[i]);
		CHECK(decode(refused[i]) == NULL);
	}
	UNIT_CTX_CLEAR();

	/* The output buffer: room for the NUL, or refused. */
	CHECK_EQ_INT(http_path_decode("/ab", small, sizeof small), 0);
	CHECK_STR(small, "/ab");
	CHECK_EQ_INT(http_path_decode("/abc", small, sizeof small), -1);
	CHECK_EQ_INT(http_path_decode("/%41bc", small, sizeof small), -1);
	CHECK_EQ_INT(http_path_decode("/%41b", small, sizeof small), 0);
	CHECK_STR(small, "/Ab");
}

int
main(void)
{
	int	 built;

	built = build_tree() == 0;
	if (!CHECK(built))
		perror("build_tree");
	else {
		test_script();
		test_script_root_slash();
		test_file();
	}
	remove_tree();
	test_path_decode();
	return unit_done();
}
