/* The monotonic clock, in the units its callers count in. */
#ifndef WSB_MONOTIME_H
#define WSB_MONOTIME_H

#include <stdint.h>
#include <time.h>

time_t		 mono_sec(void);
uint64_t	 mono_ms(void);

#endif
