/*
 * Each line is formatted in full and written with one write(2), so lines
 * from the two threads never interleave and no lock is needed.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static _Atomic int	 log_level = LL_ACCESS;

static const char *const level_tags[] = {
	"DEBUG", "TRACE", "ACCESS", "INFO", "ERROR", "FATAL",
};

void
log_set_level(enum log_level level)
{
	atomic_store(&log_level, (int)level);
}

bool
log_enabled(enum log_level level)
{
	return (int)level >= atomic_load(&log_level);
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	char		 line[4096];
	struct timespec	 ts;
	struct tm	 tm;
	va_list		 ap;
	size_t		 n;
	int		 m;

	if (!log_enabled(level))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(line + n, sizeof line - n, ".%03ldZ %s ",
	    ts.tv_nsec / 1000000, level_tags[level]);
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof line - n, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += (size_t)m;
	if (n > sizeof line - 2)
		n = sizeof line - 2;	/* truncated: still one whole line */
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) == -1) {
		/* Nowhere left to report it. */
	}
}
