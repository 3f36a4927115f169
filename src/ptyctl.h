/*
 * --pty's small control protocol, pure: the window size from the upgrade's
 * URL query (?cols=N&rows=M) and the control messages a client that chose
 * the wsbridge.pty subprotocol sends as text, one JSON object each:
 * {"type":"resize","cols":N,"rows":M}. See man wsbridge, --pty.
 */
#ifndef WSB_PTYCTL_H
#define WSB_PTYCTL_H

#include <stddef.h>

#define PTYCTL_SUBPROTOCOL	"wsbridge.pty"
#define PTYCTL_MSG_MAX		256	/* a control message, at most */
#define PTY_SIZE_MAX		1000	/* columns or rows */
#define PTY_DEFAULT_COLS	80
#define PTY_DEFAULT_ROWS	24

struct ptysize {
	unsigned	 cols, rows;
};

void	 ptyctl_query_size(const char *, struct ptysize *);
int	 ptyctl_parse(const char *, size_t, struct ptysize *);

#endif
