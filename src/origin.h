/* websocketd's --origin and --sameorigin rules, as pure functions. */
#ifndef WSB_ORIGIN_H
#define WSB_ORIGIN_H

#include <stdbool.h>

bool	 origin_allowed(const char *origin, const char *const *allowed,
	     bool sameorigin, const char *host, bool tls);

#endif
