/*
 * What `--devconsole --pty` serves, embedded by the build: the terminal page
 * (src/devconsole-pty.html) and the xterm.js files it loads
 * (third_party/xterm). The rule in Makefile.am writes src/embedded.c, one
 * byte array per file with its length and an ETag made from its cksum.
 */
#ifndef WSB_EMBEDDED_H
#define WSB_EMBEDDED_H

#include <stddef.h>

#define EMBEDDED(name)							\
	extern const unsigned char	 name[];			\
	extern const size_t		 name##_len;			\
	extern const char		 name##_etag[]

EMBEDDED(devconsole_pty_html);
EMBEDDED(xterm_js);
EMBEDDED(xterm_css);
EMBEDDED(addon_fit_js);

#undef EMBEDDED

#endif
