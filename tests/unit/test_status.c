/*
 * status.c: how a child's wait status becomes a close code, a close reason
 * and the access log's last field. Statuses are built with W_EXITCODE /
 * W_STOPCODE and, to be sure they match the kernel's, by real children.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../src/status.h"
#include "unit.h"

#ifndef W_EXITCODE
#define W_EXITCODE(ret, sig)	((ret) << 8 | (sig))
#endif
#ifndef W_STOPCODE
#define W_STOPCODE(sig)		((sig) << 8 | 0x7f)
#endif
#ifndef WCOREFLAG
#define WCOREFLAG		0x80
#endif

/*
 * Code, reason and log field of one status, all at once; failures name the
 * caller's line and the status.
 */
#define check_status(w, code, reason, field) \
	check_status_at(__LINE__, (w), (code), (reason), (field))

static void
check_status_at(int line, int wstatus, int code, const char *reason,
    const char *field)
{
	char	 buf[128], saved[sizeof unit_ctx];

	memcpy(saved, unit_ctx, sizeof saved);
	UNIT_CTX("%s%scheck_status from line %d, status 0x%x", saved,
	    saved[0] ? ", " : "", line, (unsigned)wstatus);
	CHECK_EQ_INT(status_close_code(wstatus), code);
	memset(buf, 'Z', sizeof buf);
	status_close_reason(wstatus, buf, sizeof buf);
	CHECK_STR(buf, reason);
	/* A close reason must fit a control frame (123 bytes). */
	CHECK(strlen(buf) <= 123);
	memset(buf, 'Z', sizeof buf);
	status_log_field(wstatus, buf, sizeof buf);
	CHECK_STR(buf, field);
	memcpy(unit_ctx, saved, sizeof saved);
}

static void
test_constants(void)
{
	CHECK_EQ_INT(CLOSE_NORMAL, 1000);
	CHECK_EQ_INT(CLOSE_GOING_AWAY, 1001);
	CHECK_EQ_INT(CLOSE_PROTOCOL, 1002);
	CHECK_EQ_INT(CLOSE_ABNORMAL, 1006);
	CHECK_EQ_INT(CLOSE_BAD_DATA, 1007);
	CHECK_EQ_INT(CLOSE_TOO_BIG, 1009);
	CHECK_EQ_INT(CLOSE_INTERNAL, 1011);
	CHECK_EQ_INT(CLOSE_EXIT_BASE, 4000);
	CHECK_EQ_INT(CLOSE_SIGNAL_BASE, 4128);
}

static void
test_exits(void)
{
	char	 reason[32], field[32];
	int	 n, bad = 0;

	check_status(W_EXITCODE(0, 0), 1000, "exit 0", "exit=0");
	check_status(W_EXITCODE(1, 0), 4001, "exit 1", "exit=1");
	check_status(W_EXITCODE(3, 0), 4003, "exit 3", "exit=3");
	check_status(W_EXITCODE(126, 0), 4126, "exit 126", "exit=126");
	check_status(W_EXITCODE(127, 0), 4127, "exit 127", "exit=127");
	check_status(W_EXITCODE(128, 0), 4128, "exit 128", "exit=128");
	check_status(W_EXITCODE(255, 0), 4255, "exit 255", "exit=255");

	/* Every exit status N in 1..255 is 4000+N, "exit N", "exit=N". */
	for (n = 1; n <= 255; n++) {
		char	 r[32], fl[32];

		snprintf(reason, sizeof reason, "exit %d", n);
		snprintf(field, sizeof field, "exit=%d", n);
		status_close_reason(W_EXITCODE(n, 0), r, sizeof r);
		status_log_field(W_EXITCODE(n, 0), fl, sizeof fl);
		if (status_close_code(W_EXITCODE(n, 0)) != 4000 + n ||
		    strcmp(r, reason) != 0 || strcmp(fl, field) != 0)
			bad++;
	}
	CHECK_EQ_INT(bad, 0);
}

static void
test_signals(void)
{
	static const struct {
		int		 sig;
		const char	*name;
	} named[] = {
		{ SIGHUP, "SIGHUP" }, { SIGINT, "SIGINT" },
		{ SIGQUIT, "SIGQUIT" }, { SIGILL, "SIGILL" },
		{ SIGTRAP, "SIGTRAP" }, { SIGABRT, "SIGABRT" },
		{ SIGBUS, "SIGBUS" }, { SIGFPE, "SIGFPE" },
		{ SIGKILL, "SIGKILL" }, { SIGUSR1, "SIGUSR1" },
		{ SIGSEGV, "SIGSEGV" }, { SIGUSR2, "SIGUSR2" },
		{ SIGPIPE, "SIGPIPE" }, { SIGALRM, "SIGALRM" },
		{ SIGTERM, "SIGTERM" }, { SIGCHLD, "SIGCHLD" },
		{ SIGCONT, "SIGCONT" }, { SIGSTOP, "SIGSTOP" },
		{ SIGTSTP, "SIGTSTP" }, { SIGTTIN, "SIGTTIN" },
		{ SIGTTOU, "SIGTTOU" }, { SIGURG, "SIGURG" },
		{ SIGXCPU, "SIGXCPU" }, { SIGXFSZ, "SIGXFSZ" },
		{ SIGVTALRM, "SIGVTALRM" }, { SIGPROF, "SIGPROF" },
		{ SIGWINCH, "SIGWINCH" }, { SIGSYS, "SIGSYS" },
	};
	char	 reason[64], field[64];
	size_t	 i;
	int	 s, bad;

	check_status(W_EXITCODE(0, SIGKILL), 4137, "killed by SIGKILL",
	    "signal=SIGKILL");
	check_status(W_EXITCODE(0, SIGHUP), 4129, "killed by SIGHUP",
	    "signal=SIGHUP");
	check_status(W_EXITCODE(0, SIGTERM), 4143, "killed by SIGTERM",
	    "signal=SIGTERM");
	check_status(W_EXITCODE(0, SIGPIPE), 4141, "killed by SIGPIPE",
	    "signal=SIGPIPE");
	check_status(W_EXITCODE(0, SIGINT), 4130, "killed by SIGINT",
	    "signal=SIGINT");
	/* A core dump does not change the code. */
	check_status(W_EXITCODE(0, SIGSEGV) | WCOREFLAG, 4139,
	    "killed by SIGSEGV", "signal=SIGSEGV");
	check_status(W_EXITCODE(0, SIGABRT) | WCOREFLAG, 4128 + SIGABRT,
	    "killed by SIGABRT", "signal=SIGABRT");

	for (i = 0; i < sizeof named / sizeof named[0]; i++) {
		UNIT_CTX("%s", named[i].name);
		CHECK_STR(status_signame(named[i].sig), named[i].name);
		snprintf(reason, sizeof reason, "killed by %s", named[i].name);
		snprintf(field, sizeof field, "signal=%s", named[i].name);
		check_status(W_EXITCODE(0, named[i].sig), 4128 + named[i].sig,
		    reason, field);
	}
	UNIT_CTX_CLEAR();
	/* SIGIO is SIGPOLL on Linux; either name is right. */
	CHECK(strcmp(status_signame(SIGIO), "SIGIO") == 0 ||
	    strcmp(status_signame(SIGIO), "SIGPOLL") == 0);

	/* Signals without a name still get one, and the right code. */
#ifdef SIGRTMIN
	s = SIGRTMIN + 1;
	snprintf(reason, sizeof reason, "killed by SIG%d", s);
	snprintf(field, sizeof field, "signal=SIG%d", s);
	check_status(W_EXITCODE(0, s), 4128 + s, reason, field);
#endif
	CHECK_STR(status_signame(0), "SIG0");
	CHECK_STR(status_signame(99), "SIG99");
	CHECK_STR(status_signame(-1), "SIG-1");
	CHECK_STR(status_signame(2147483647), "SIG2147483647");

	/* Every signal 1..64 maps into 4129..4192, inside 4000-4999. */
	bad = 0;
	for (s = 1; s <= 64; s++) {
		int	 w = W_EXITCODE(0, s);

		if (!WIFSIGNALED(w) || status_close_code(w) != 4128 + s ||
		    status_signame(s) == NULL ||
		    strncmp(status_signame(s), "SIG", 3) != 0)
			bad++;
	}
	CHECK_EQ_INT(bad, 0);
	/* Known names are unaffected by an unknown one before them. */
	(void)status_signame(70);
	CHECK_STR(status_signame(SIGKILL), "SIGKILL");
}

static void
test_other_statuses(void)
{
	char	 buf[64];

	/* Stopped or continued: not an end; an internal error if asked. */
	CHECK_EQ_INT(status_close_code(W_STOPCODE(SIGSTOP)), CLOSE_INTERNAL);
	CHECK_EQ_INT(status_close_code(W_STOPCODE(SIGTSTP)), CLOSE_INTERNAL);
	status_close_reason(W_STOPCODE(SIGSTOP), buf, sizeof buf);
	CHECK_PREFIX(buf, "unknown status");
	CHECK(strncmp(buf, "exit", 4) != 0 && strncmp(buf, "killed", 6) != 0);
	status_log_field(W_STOPCODE(SIGSTOP), buf, sizeof buf);
	CHECK_STR(buf, "exit=-");
#ifdef WIFCONTINUED
	CHECK_EQ_INT(status_close_code(0xffff), CLOSE_INTERNAL);
	status_log_field(0xffff, buf, sizeof buf);
	CHECK_STR(buf, "exit=-");
#endif
}

static void
test_truncation(void)
{
	char	 buf[16];

	/* Short buffers: cut, NUL-terminated, nothing written past len. */
	memset(buf, 'Z', sizeof buf);
	status_close_reason(W_EXITCODE(0, SIGKILL), buf, 8);
	CHECK_STR(buf, "killed ");
	CHECK_EQ_INT(buf[8], 'Z');
	memset(buf, 'Z', sizeof buf);
	status_log_field(W_EXITCODE(0, SIGVTALRM), buf, 5);
	CHECK_STR(buf, "sign");
	CHECK_EQ_INT(buf[5], 'Z');
	memset(buf, 'Z', sizeof buf);
	status_close_reason(W_EXITCODE(255, 0), buf, 1);
	CHECK_STR(buf, "");
	CHECK_EQ_INT(buf[1], 'Z');
	memset(buf, 'Z', sizeof buf);
	status_log_field(W_EXITCODE(255, 0), buf, 0);
	CHECK_EQ_INT(buf[0], 'Z');
}

/*
 * Linux's own signals (SIGPWR, SIGSTKFLT) are logged by name too.
 */
static void
test_signals_linux_names(void)
{
#ifdef SIGSTKFLT
	CHECK_STR(status_signame(SIGSTKFLT), "SIGSTKFLT");
#endif
#ifdef SIGPWR
	CHECK_STR(status_signame(SIGPWR), "SIGPWR");
	check_status(W_EXITCODE(0, SIGPWR), 4128 + SIGPWR, "killed by SIGPWR",
	    "signal=SIGPWR");
#endif
}

static void
test_real_children(void)
{
	check_status(real_status(0, 0), 1000, "exit 0", "exit=0");
	check_status(real_status(3, 0), 4003, "exit 3", "exit=3");
	check_status(real_status(255, 0), 4255, "exit 255", "exit=255");
	/* exit(256) is exit 0 to the parent. */
	check_status(real_status(256, 0), 1000, "exit 0", "exit=0");
	check_status(real_status(0, SIGKILL), 4137, "killed by SIGKILL",
	    "signal=SIGKILL");
	check_status(real_status(0, SIGTERM), 4143, "killed by SIGTERM",
	    "signal=SIGTERM");
	check_status(real_status(0, SIGHUP), 4129, "killed by SIGHUP",
	    "signal=SIGHUP");
	check_status(real_status(0, SIGPIPE), 4141, "killed by SIGPIPE",
	    "signal=SIGPIPE");
	check_status(real_status(0, SIGUSR1), 4128 + SIGUSR1,
	    "killed by SIGUSR1", "signal=SIGUSR1");
	/* Dumps core by default (the limit is 0): same code either way. */
	check_status(real_status(0, SIGQUIT), 4128 + SIGQUIT,
	    "killed by SIGQUIT", "signal=SIGQUIT");
}

int
main(void)
{
	test_constants();
	test_exits();
	test_signals();
	test_other_statuses();
	test_truncation();
	test_real_children();
	test_signals_linux_names();
	return unit_done();
}
