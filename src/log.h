/* One line per event on stderr, safe to call from either thread. */
#ifndef WSB_LOG_H
#define WSB_LOG_H

#include <stdbool.h>

#include "config.h"

void	 log_set_level(enum log_level);
bool	 log_enabled(enum log_level);
void	 log_msg(enum log_level, const char *, ...)
	     __attribute__((format(printf, 2, 3)));

#define log_debug(...)	log_msg(LL_DEBUG, __VA_ARGS__)
#define log_trace(...)	log_msg(LL_TRACE, __VA_ARGS__)
#define log_access(...)	log_msg(LL_ACCESS, __VA_ARGS__)
#define log_info(...)	log_msg(LL_INFO, __VA_ARGS__)
#define log_error(...)	log_msg(LL_ERROR, __VA_ARGS__)
#define log_fatal(...)	log_msg(LL_FATAL, __VA_ARGS__)

#endif
