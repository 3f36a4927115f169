/* How a child's end maps to a WebSocket close frame and to words. */
#ifndef WSB_STATUS_H
#define WSB_STATUS_H

#include <stddef.h>
#include <stdint.h>

/* Close codes of RFC 6455 that the bridge sends or records. */
#define CLOSE_NORMAL		1000
#define CLOSE_GOING_AWAY	1001
#define CLOSE_PROTOCOL		1002
#define CLOSE_ABNORMAL		1006
#define CLOSE_BAD_DATA		1007
#define CLOSE_TOO_BIG		1009
#define CLOSE_INTERNAL		1011
#define CLOSE_EXIT_BASE		4000	/* 4000+N: exit status N */
#define CLOSE_SIGNAL_BASE	4128	/* 4128+S: killed by signal S */

/* A client refused with 401: sysexits' EX_NOPERM. */
#define STATUS_UNAUTHORIZED	77

uint16_t	 status_close_code(int wstatus);
void		 status_close_reason(int wstatus, char *buf, size_t len);
void		 status_log_field(int wstatus, char *buf, size_t len);
const char	*status_signame(int sig);
int		 status_from_close(uint16_t);

#endif
