/*
 * The messages between the server and its spawner process (spawner.c):
 * one SOCK_SEQPACKET message each, a fixed header and, for a request, the
 * program's path, its arguments and its environment as NUL-ended strings,
 * and with SPAWNMSG_TTY one more: the path of the terminal that becomes the
 * child's controlling terminal (--pty). The child's three fds travel beside
 * a request as SCM_RIGHTS.
 */
#ifndef WSB_SPAWNMSG_H
#define WSB_SPAWNMSG_H

#include <stddef.h>
#include <stdint.h>

enum spawnmsg_type {
	SPAWNMSG_REQUEST = 1,	/* server → spawner: run this */
	SPAWNMSG_DONE,		/* spawner → server: pid, or value = errno */
	SPAWNMSG_EXITED,	/* spawner → server: pid ended, value = status */
};

#define SPAWNMSG_INHERIT_ENV	UINT32_MAX	/* nenv: the spawner's own */
#define SPAWNMSG_MAX		(128 * 1024)	/* a request, at most */
#define SPAWNMSG_MAX_STRINGS	8192		/* argv and env, at most */
#define SPAWNMSG_TTY		0x1		/* flags: a terminal's path */

struct spawnmsg {
	uint32_t	 type;
	int32_t		 pid;
	int32_t		 value;
	uint32_t	 nargv, nenv;
	uint32_t	 flags;		/* a request's: SPAWNMSG_TTY or 0 */
};

/* A decoded request: pointers into the message, arrays NULL-ended. */
struct spawnreq {
	const char	*path;
	char		**argv;
	char		**envp;		/* NULL: inherit */
	const char	*tty;		/* NULL: none (see spawn_direct) */
};

size_t	 spawnmsg_encode(unsigned char *, size_t, const char *,
	     char *const [], char *const [], const char *);
int	 spawnmsg_decode(unsigned char *, size_t, struct spawnreq *);
void	 spawnreq_free(struct spawnreq *);

#endif
