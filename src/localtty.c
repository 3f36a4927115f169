/*
 * Our terminal as a --pty client's local end: raw mode (cfmakeraw: no echo,
 * no line editing, no signals from keys, so Ctrl-C is a byte for the remote
 * program), and the window size the server is told.
 *
 * Raw mode must not outlive us, whichever way we go. The orderly ends (the
 * remote's close, an error, SIGINT/SIGTERM/SIGHUP, which libevent turns
 * into a stop in main.c) restore it in local.c when the session ends, and
 * atexit() catches any exit() on the way. A signal that kills us (SIGQUIT,
 * SIGABRT, a crash) gets a handler that restores the terminal and raises
 * the signal again with its default action.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "localtty.h"
#include "log.h"

static struct termios	 saved;
static volatile sig_atomic_t is_raw;

static const int fatal_signals[] = {
	SIGQUIT, SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS,
	SIGXCPU, SIGXFSZ, SIGUSR1, SIGUSR2, SIGALRM, SIGVTALRM, SIGPROF,
};

/* Async-signal-safe: tcsetattr is, and is_raw is the only state. */
void
localtty_restore(void)
{
	if (!is_raw)
		return;
	is_raw = 0;
	/* TCSAFLUSH would drop keys typed for the shell that follows. */
	(void)tcsetattr(STDIN_FILENO, TCSADRAIN, &saved);
}

static void
on_fatal(int sig)
{
	int	 e = errno;

	localtty_restore();
	errno = e;
	/* SA_RESETHAND put the default back: this one kills us. */
	raise(sig);
}

static void
catch_fatal(void)
{
	struct sigaction	 sa;
	size_t			 i;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_fatal;
	sa.sa_flags = SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof fatal_signals / sizeof fatal_signals[0]; i++) {
		struct sigaction	 old;

		/* Leave alone what someone chose to ignore or handle. */
		if (sigaction(fatal_signals[i], NULL, &old) == 0 &&
		    old.sa_handler == SIG_DFL)
			sigaction(fatal_signals[i], &sa, NULL);
	}
}

/*
 * Puts stdin's terminal in raw mode, remembering its mode for
 * localtty_restore. Only for a terminal; 0 when done.
 */
int
localtty_raw(void)
{
	static bool	 hooked;
	struct termios	 raw;

	if (is_raw)
		return 0;
	if (tcgetattr(STDIN_FILENO, &saved) == -1) {
		log_error("terminal: tcgetattr: %s", strerror(errno));
		return -1;
	}
	if (!hooked) {
		if (atexit(localtty_restore) != 0)
			return -1;
		catch_fatal();
		hooked = true;
	}
	raw = saved;
	cfmakeraw(&raw);
	/* Reads return what is there, at least a byte: keys as typed. */
	raw.c_cc[VMIN] = 1;
	raw.c_cc[VTIME] = 0;
	is_raw = 1;
	if (tcsetattr(STDIN_FILENO, TCSADRAIN, &raw) == -1) {
		is_raw = 0;
		log_error("terminal: raw mode: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * The window size of our terminal: stdin's, or stdout's when stdin is not
 * one (a pipe in, a screen out). False when neither says.
 */
bool
localtty_size(unsigned *cols, unsigned *rows)
{
	struct winsize	 ws;

	if ((ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == -1 &&
	    ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == -1) ||
	    ws.ws_col == 0 || ws.ws_row == 0)
		return false;
	*cols = ws.ws_col;
	*rows = ws.ws_row;
	return true;
}
