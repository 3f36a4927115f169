/*
 * A tiny assertion kit for the unit tests. Every CHECK counts as one check;
 * a failing one prints file:line, the expression and (for the typed forms)
 * both values, plus the current context if UNIT_CTX set one. unit_done()
 * prints "FILE: N passed, M failed" and returns the exit status for main.
 *
 *	CHECK(cond)			any truth value
 *	CHECK_EQ_INT(got, want)		integers (compared as long long)
 *	CHECK_STR(got, want)		C strings, NULL-safe
 *	CHECK_MEM(got, glen, want, wlen) byte ranges
 *	CHECK_PREFIX(s, prefix)		s starts with prefix
 *	CHECK_CONTAINS(s, sub)		sub occurs in s
 *	UNIT_CTX(fmt, ...)		context shown with later failures
 *	UNIT_CTX_CLEAR()
 */
#ifndef WSB_UNIT_H
#define WSB_UNIT_H

#include <errno.h>
#include <stdarg.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>

static int	 unit_npassed;
static int	 unit_nfailed;
static char	 unit_ctx[256];

static inline int
unit_fail_head(const char *file, int line)
{
	unit_nfailed++;
	fprintf(stderr, "%s:%d: FAIL", file, line);
	if (unit_ctx[0] != '\0')
		fprintf(stderr, " [%s]", unit_ctx);
	fprintf(stderr, ": ");
	return 0;
}

static inline int
unit_check(int ok, const char *file, int line, const char *expr)
{
	if (ok) {
		unit_npassed++;
		return 1;
	}
	unit_fail_head(file, line);
	fprintf(stderr, "%s\n", expr);
	return 0;
}

static inline int
unit_check_int(long long got, long long want, const char *file, int line,
    const char *egot, const char *ewant)
{
	if (got == want) {
		unit_npassed++;
		return 1;
	}
	unit_fail_head(file, line);
	fprintf(stderr, "%s == %s: got %lld, want %lld\n", egot, ewant, got,
	    want);
	return 0;
}

static inline void
unit_print_byte(unsigned char c)
{
	if (c == '"' || c == '\\')
		fprintf(stderr, "\\%c", c);
	else if (c >= 32 && c < 127)
		fputc(c, stderr);
	else
		fprintf(stderr, "\\x%02x", c);
}

static inline void
unit_print_bytes(const char *s, size_t n)
{
	size_t	 i;

	fputc('"', stderr);
	for (i = 0; i < n; i++)
		unit_print_byte((unsigned char)s[i]);
	fputc('"', stderr);
}

/* Up to the NUL, read byte by byte (not strlen first, then indexed). */
static inline void
unit_print_str(const char *s)
{
	if (s == NULL) {
		fprintf(stderr, "(null)");
		return;
	}
	fputc('"', stderr);
	for (; *s != '\0'; s++)
		unit_print_byte((unsigned char)*s);
	fputc('"', stderr);
}

static inline int
unit_check_str(const char *got, const char *want, const char *file, int line,
    const char *egot, const char *ewant)
{
	int	 ok;

	if (got == NULL || want == NULL)
		ok = got == want;
	else
		ok = strcmp(got, want) == 0;
	if (ok) {
		unit_npassed++;
		return 1;
	}
	unit_fail_head(file, line);
	fprintf(stderr, "%s == %s: got ", egot, ewant);
	unit_print_str(got);
	fprintf(stderr, ", want ");
	unit_print_str(want);
	fputc('\n', stderr);
	return 0;
}

static inline int
unit_check_mem(const void *got, size_t glen, const void *want, size_t wlen,
    const char *file, int line, const char *egot, const char *ewant)
{
	if (glen == wlen && (glen == 0 || memcmp(got, want, glen) == 0)) {
		unit_npassed++;
		return 1;
	}
	unit_fail_head(file, line);
	fprintf(stderr, "%s == %s: got ", egot, ewant);
	unit_print_bytes(got, glen);
	fprintf(stderr, " (%zu bytes), want ", glen);
	unit_print_bytes(want, wlen);
	fprintf(stderr, " (%zu bytes)\n", wlen);
	return 0;
}

static inline int
unit_check_sub(const char *s, const char *sub, int prefix, const char *file,
    int line, const char *es, const char *esub)
{
	int	 ok;

	if (s == NULL || sub == NULL)
		ok = 0;
	else if (prefix)
		ok = strncmp(s, sub, strlen(sub)) == 0;
	else
		ok = strstr(s, sub) != NULL;
	if (ok) {
		unit_npassed++;
		return 1;
	}
	unit_fail_head(file, line);
	fprintf(stderr, "%s %s %s: got ", es,
	    prefix ? "starts with" : "contains", esub);
	unit_print_str(s);
	fprintf(stderr, ", want %s ", prefix ? "prefix" : "substring");
	unit_print_str(sub);
	fputc('\n', stderr);
	return 0;
}

static inline void unit_set_ctx(const char *, ...)
    __attribute__((format(printf, 1, 2)));

static inline void
unit_set_ctx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(unit_ctx, sizeof unit_ctx, fmt, ap);
	va_end(ap);
}

static inline int
unit_done_at(const char *file)
{
	const char	*base = strrchr(file, '/');

	base = base != NULL ? base + 1 : file;
	printf("%s: %d passed, %d failed\n", base, unit_npassed, unit_nfailed);
	fflush(stdout);
	return unit_nfailed == 0 ? 0 : 1;
}

#define CHECK(cond) \
	unit_check((cond) ? 1 : 0, __FILE__, __LINE__, #cond)
#define CHECK_EQ_INT(got, want) \
	unit_check_int((long long)(got), (long long)(want), __FILE__, \
	    __LINE__, #got, #want)
#define CHECK_STR(got, want) \
	unit_check_str((got), (want), __FILE__, __LINE__, #got, #want)
#define CHECK_MEM(got, glen, want, wlen) \
	unit_check_mem((got), (glen), (want), (wlen), __FILE__, __LINE__, \
	    #got, #want)
#define CHECK_PREFIX(s, prefix) \
	unit_check_sub((s), (prefix), 1, __FILE__, __LINE__, #s, #prefix)
#define CHECK_CONTAINS(s, sub) \
	unit_check_sub((s), (sub), 0, __FILE__, __LINE__, #s, #sub)
#define UNIT_CTX(...)		unit_set_ctx(__VA_ARGS__)
#define UNIT_CTX_CLEAR()	(unit_ctx[0] = '\0')
#define unit_done()		unit_done_at(__FILE__)

/*
 * Forks a child that ends as told (exit code, or killed by sig when sig is
 * not 0) and returns its status as waitpid reports it; -1 if fork or
 * waitpid fails. The child sends itself the signal, after putting it back
 * to its default and unblocking it: what we inherited (SIGHUP ignored
 * under nohup, SIGQUIT in a background job) must not change the result,
 * and a signal sent before the child reset it would be lost, leaving it
 * waiting forever.
 */
static inline int
real_status(int exit_code, int sig)
{
	struct rlimit	 no_core = { 0, 0 };
	sigset_t	 set;
	pid_t		 pid;
	int		 st = -1;

	/* An ignored SIGCHLD would reap the child for us: waitpid fails. */
	signal(SIGCHLD, SIG_DFL);
	fflush(NULL);
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		setrlimit(RLIMIT_CORE, &no_core);
		if (sig == 0)
			_exit(exit_code);
		signal(sig, SIG_DFL);
		sigemptyset(&set);
		sigaddset(&set, sig);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		raise(sig);
		_exit(126);	/* not killed: the check shows exit 126 */
	}
	while (waitpid(pid, &st, 0) == -1) {
		if (errno != EINTR)
			return -1;
	}
	return st;
}

#endif
