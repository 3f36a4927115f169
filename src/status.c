/*
 * The close code tells a client how its command ended, in the range RFC 6455
 * leaves to applications: 4000+N for exit N, 4128+S for signal S, which is the
 * shell's 128+S convention shifted by 4000. Exit 0 is a plain 1000.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "status.h"

static const struct {
	int		 sig;
	const char	*name;
} signames[] = {
	{ SIGHUP, "SIGHUP" }, { SIGINT, "SIGINT" }, { SIGQUIT, "SIGQUIT" },
	{ SIGILL, "SIGILL" }, { SIGTRAP, "SIGTRAP" }, { SIGABRT, "SIGABRT" },
	{ SIGBUS, "SIGBUS" }, { SIGFPE, "SIGFPE" }, { SIGKILL, "SIGKILL" },
	{ SIGUSR1, "SIGUSR1" }, { SIGSEGV, "SIGSEGV" }, { SIGUSR2, "SIGUSR2" },
	{ SIGPIPE, "SIGPIPE" }, { SIGALRM, "SIGALRM" }, { SIGTERM, "SIGTERM" },
	{ SIGCHLD, "SIGCHLD" }, { SIGCONT, "SIGCONT" }, { SIGSTOP, "SIGSTOP" },
	{ SIGTSTP, "SIGTSTP" }, { SIGTTIN, "SIGTTIN" }, { SIGTTOU, "SIGTTOU" },
	{ SIGURG, "SIGURG" }, { SIGXCPU, "SIGXCPU" }, { SIGXFSZ, "SIGXFSZ" },
	{ SIGVTALRM, "SIGVTALRM" }, { SIGPROF, "SIGPROF" },
	{ SIGWINCH, "SIGWINCH" }, { SIGIO, "SIGIO" }, { SIGSYS, "SIGSYS" },
	{ SIGPWR, "SIGPWR" }, { SIGSTKFLT, "SIGSTKFLT" },
};

const char *
status_signame(int sig)
{
	static __thread char	 other[16];
	size_t			 i;

	for (i = 0; i < sizeof signames / sizeof signames[0]; i++) {
		if (signames[i].sig == sig)
			return signames[i].name;
	}
	snprintf(other, sizeof other, "SIG%d", sig);
	return other;
}

uint16_t
status_close_code(int wstatus)
{
	if (WIFEXITED(wstatus)) {
		if (WEXITSTATUS(wstatus) == 0)
			return CLOSE_NORMAL;
		return CLOSE_EXIT_BASE + WEXITSTATUS(wstatus);
	}
	if (WIFSIGNALED(wstatus))
		return CLOSE_SIGNAL_BASE + WTERMSIG(wstatus);
	return CLOSE_INTERNAL;
}

void
status_close_reason(int wstatus, char *buf, size_t len)
{
	if (WIFEXITED(wstatus))
		snprintf(buf, len, "exit %d", WEXITSTATUS(wstatus));
	else if (WIFSIGNALED(wstatus))
		snprintf(buf, len, "killed by %s",
		    status_signame(WTERMSIG(wstatus)));
	else
		snprintf(buf, len, "unknown status %d", wstatus);
}

/* The access log's last field: exit=N or signal=NAME. */
void
status_log_field(int wstatus, char *buf, size_t len)
{
	if (WIFEXITED(wstatus))
		snprintf(buf, len, "exit=%d", WEXITSTATUS(wstatus));
	else if (WIFSIGNALED(wstatus))
		snprintf(buf, len, "signal=%s",
		    status_signame(WTERMSIG(wstatus)));
	else
		snprintf(buf, len, "exit=-");
}

/*
 * A client's exit status from the close that ended it: what a wsbridge
 * server relays (1000 for exit 0, 4000+N) comes back as N; anything else
 * is 255, as ssh does for its own failures.
 */
int
status_from_close(uint16_t code)
{
	if (code == CLOSE_NORMAL)
		return 0;
	if (code >= CLOSE_EXIT_BASE && code <= CLOSE_EXIT_BASE + 255)
		return code - CLOSE_EXIT_BASE;
	return 255;
}
