/*
 * The monotonic clock for deadlines and timeouts: it does not jump when
 * the wall clock is set. CLOCK_MONOTONIC cannot fail with a valid clock id
 * and pointer, so its result is not checked.
 */
#include <stdint.h>
#include <time.h>

#include "monotime.h"

time_t
mono_sec(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

uint64_t
mono_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
