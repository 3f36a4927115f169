/*
 * The --devconsole page: src/devconsole.html, made into a C string by the
 * build (the rule in Makefile.am writes src/devconsole-html.c), so the page
 * is edited as HTML and served as it is, without a file to find at run time.
 */
#ifndef WSB_DEVCONSOLE_H
#define WSB_DEVCONSOLE_H

#include <stddef.h>

extern const char	 devconsole_html[];	/* the page, NUL-terminated */
extern const size_t	 devconsole_html_len;	/* its length, without the NUL */

#endif
