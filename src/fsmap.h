/* Mapping a decoded URL path onto a directory, without escaping it. */
#ifndef WSB_FSMAP_H
#define WSB_FSMAP_H

#include <stddef.h>

enum fsmap_result {
	FSMAP_FOUND,
	FSMAP_NOT_FOUND,	/* 404 */
	FSMAP_FORBIDDEN,	/* 403: outside the root, or not executable */
};

enum fsmap_result fsmap_script(const char *, const char *, char *, size_t,
		     size_t *);
enum fsmap_result fsmap_file(const char *, const char *, char *, size_t);

#endif
