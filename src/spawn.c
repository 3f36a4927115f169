/*
 * Starting a process of ours: the pipes it gets (close-on-exec, so no
 * other child inherits them; our ends non-blocking, the child's blocking
 * as programs expect) and the spawn. Both a session's child (child.c) and
 * a CGI script (httpd.c) start here, so neither reaches into the other.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "server.h"
#include "spawn.h"
#include "spawner.h"

static int
set_nonblocking(int fd)
{
	int	 flags;

	if ((flags = fcntl(fd, F_GETFL)) == -1)
		return -1;
	return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

/*
 * A close-on-exec pipe whose end p[ours] is ours and non-blocking; the
 * child gets the other end as an ordinary blocking pipe.
 */
int
spawn_pipe(int p[2], int ours)
{
	p[0] = p[1] = -1;
	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	return set_nonblocking(p[ours]);
}

void
spawn_pipe_close(int p[2])
{
	int	 i;

	for (i = 0; i < 2; i++) {
		if (p[i] >= 0)
			close(p[i]);
		p[i] = -1;
	}
}

/*
 * A session's three pipes, in the order of enum spawn_pipe_fd. They are
 * made before its upgrade is accepted (listener.c): a server out of file
 * descriptors then answers 503, rather than 1011 after the handshake. On
 * failure nothing stays open and errno says why.
 */
int
spawn_make_pipes(int fds[SPAWN_PIPE_FDS])
{
	int	 error;

	fds[0] = fds[1] = fds[2] = fds[3] = fds[4] = fds[5] = -1;
	if (spawn_pipe(fds + PIPE_IN_CHILD, 1) == 0 &&
	    spawn_pipe(fds + PIPE_OUT_OURS, 0) == 0 &&
	    spawn_pipe(fds + PIPE_ERR_OURS, 0) == 0)
		return 0;
	error = errno;
	spawn_close_pipes(fds);
	errno = error;
	return -1;
}

/*
 * A new pseudo-terminal: our end (the master, non-blocking) in *m, the
 * terminal side opened by its name (which goes to name) in *s, both
 * close-on-exec and neither our controlling terminal (O_NOCTTY). The
 * terminal side is set up while we hold it, before a child has it. On
 * failure nothing stays open and errno says why.
 */
static int
open_pty(int *m, int *s, char *name, size_t len)
{
	int	 error;

	*s = -1;
	if ((*m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC)) == -1)
		return -1;
	if (grantpt(*m) == 0 && unlockpt(*m) == 0 &&
	    ptsname_r(*m, name, len) == 0 &&
	    (*s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC)) != -1 &&
	    set_nonblocking(*m) == 0)
		return 0;
	error = errno;
	if (*s >= 0)
		close(*s);
	close(*m);
	*m = *s = -1;
	errno = error;
	return -1;
}

static void
close_pty(int m, int s)
{
	int	 error = errno;

	close(s);
	close(m);
	errno = error;
}

/*
 * --unbuffer: the child's stdout becomes the terminal side of a new
 * pseudo-terminal instead of a pipe, so that C stdio, Python, Perl and the
 * like, finding a terminal, write line by line. Raw mode: no CR before LF,
 * no echo, no signals from the line discipline, every byte as it is. It is
 * not the child's controlling terminal (O_NOCTTY). Our end, the master,
 * reads like the pipe's read end; when every holder of the terminal side
 * has closed it, read() gives what is left and then EIO, our EOF. On
 * failure the stdout pipe is gone, the others stay, and errno says why.
 */
int
spawn_pty_stdout(int fds[SPAWN_PIPE_FDS])
{
	struct termios	 t;
	char		 name[64];
	int		 m, s;

	spawn_pipe_close(fds + PIPE_OUT_OURS);
	if (open_pty(&m, &s, name, sizeof name) == -1)
		return -1;
	if (tcgetattr(s, &t) == -1) {
		close_pty(m, s);
		return -1;
	}
	cfmakeraw(&t);
	if (tcsetattr(s, TCSANOW, &t) == -1) {
		close_pty(m, s);
		return -1;
	}
	fds[PIPE_OUT_OURS] = m;
	fds[PIPE_OUT_CHILD] = s;
	return 0;
}

/*
 * --pty: the child's stdin, stdout and stderr become one terminal, a new
 * pseudo-terminal in the mode the kernel gives a new one (cooked: echo,
 * lines, signals from ^C and ^Z), cols x rows. It replaces the three
 * pipes. Ours: the master twice, so that the network thread keeps its two
 * paths, writing "stdin" (fds[PIPE_IN_OURS], a dup) and reading "stdout"
 * (fds[PIPE_OUT_OURS]); the terminal hangs up only once both are closed
 * (see net_service). The child's: fds[PIPE_IN_CHILD] is the terminal side,
 * which only holds it open until the child has opened it by name (name,
 * see spawn_direct); the other two are -1, and there is no stderr pipe.
 * On failure nothing stays open and errno says why.
 */
int
spawn_pty(int fds[SPAWN_PIPE_FDS], unsigned cols, unsigned rows,
    char *name, size_t len)
{
	struct winsize	 ws;
	int		 m, s, dup_m;

	spawn_close_pipes(fds);
	if (open_pty(&m, &s, name, len) == -1)
		return -1;
	memset(&ws, 0, sizeof ws);
	ws.ws_col = (unsigned short)cols;
	ws.ws_row = (unsigned short)rows;
	if (ioctl(m, TIOCSWINSZ, &ws) == -1 ||
	    (dup_m = fcntl(m, F_DUPFD_CLOEXEC, 0)) == -1) {
		close_pty(m, s);
		return -1;
	}
	fds[PIPE_IN_OURS] = dup_m;
	fds[PIPE_OUT_OURS] = m;
	fds[PIPE_IN_CHILD] = s;
	return 0;
}

void
spawn_close_pipes(int fds[SPAWN_PIPE_FDS])
{
	spawn_pipe_close(fds + PIPE_IN_CHILD);
	spawn_pipe_close(fds + PIPE_OUT_OURS);
	spawn_pipe_close(fds + PIPE_ERR_OURS);
}

/*
 * A child: through the spawner when there is one (its fd table is small, so
 * a spawn costs the same however many sessions are open), else from here.
 * See spawn_direct for what the child gets, and tty (NULL: none). Returns
 * 0 or an errno value.
 */
int
spawn_start(struct server *srv, const char *path, char *const argv[],
    char *const envp[], const int fds[3], const char *tty, pid_t *pid)
{
	int	 error;

	if ((error = spawner_spawn(srv->spawner, path, argv, envp, fds, tty,
	    pid)) == -1)
		error = spawn_direct(path, argv, envp, fds, tty, pid);
	return error;
}
