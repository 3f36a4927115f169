/*
 * Every path is checked twice: by its text (http_path_decode refuses "..",
 * encoded slashes and NULs) and by where it really leads (realpath must stay
 * under the root's realpath), so a symlink inside the root cannot point
 * outside it.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsmap.h"

static bool
inside(const char *root, const char *path)
{
	char	 rroot[PATH_MAX], rpath[PATH_MAX];
	size_t	 n;

	if (realpath(root, rroot) == NULL || realpath(path, rpath) == NULL)
		return false;
	n = strlen(rroot);
	if (n == 1)
		return true;	/* the root is "/" */
	return strncmp(rpath, rroot, n) == 0 &&
	    (rpath[n] == '/' || rpath[n] == '\0');
}

/*
 * --dir: walks the path one segment at a time; the first regular file is
 * the script, and *prefix is how much of the path names it (SCRIPT_NAME);
 * the rest is PATH_INFO.
 */
enum fsmap_result
fsmap_script(const char *root, const char *path, char *file, size_t len,
    size_t *prefix)
{
	struct stat	 st;
	size_t		 end = 0, n;

	while (path[end] == '/') {
		n = strcspn(path + end + 1, "/");
		if (n == 0)
			return FSMAP_NOT_FOUND;		/* "//" or a bare "/" */
		end += 1 + n;
		if (snprintf(file, len, "%s%.*s", root, (int)end, path) >=
		    (int)len)
			return FSMAP_NOT_FOUND;
		if (stat(file, &st) != 0)
			return FSMAP_NOT_FOUND;
		if (!inside(root, file))
			return FSMAP_FORBIDDEN;
		if (S_ISDIR(st.st_mode))
			continue;
		if (!S_ISREG(st.st_mode))
			return FSMAP_NOT_FOUND;
		if (access(file, X_OK) != 0)
			return FSMAP_FORBIDDEN;
		*prefix = end;
		return FSMAP_FOUND;
	}
	return FSMAP_NOT_FOUND;
}

/* --staticdir and --cgidir: the whole path names the file (or directory). */
enum fsmap_result
fsmap_file(const char *root, const char *path, char *file, size_t len)
{
	struct stat	 st;

	if (snprintf(file, len, "%s%s", root, path) >= (int)len)
		return FSMAP_NOT_FOUND;
	if (stat(file, &st) != 0)
		return FSMAP_NOT_FOUND;
	if (!inside(root, file))
		return FSMAP_FORBIDDEN;
	return FSMAP_FOUND;
}
