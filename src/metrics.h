/*
 * Counters for --metrics, kept with atomics because both threads end
 * sessions. Rendered in the Prometheus text format.
 */
#ifndef WSB_METRICS_H
#define WSB_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define METRICS_CLOSED_BY	6	/* enum closed_by values */

struct metrics {
	_Atomic uint64_t	 sessions_total;
	_Atomic uint64_t	 handshake_failures;
	_Atomic uint64_t	 spawn_failures;
	_Atomic uint64_t	 exits_zero;
	_Atomic uint64_t	 exits_nonzero;
	_Atomic uint64_t	 exits_signal;
	_Atomic uint64_t	 closed_by[METRICS_CLOSED_BY];
	_Atomic uint64_t	 close_normal;		/* 1000 */
	_Atomic uint64_t	 close_going_away;	/* 1001 */
	_Atomic uint64_t	 close_abnormal;	/* 1006 */
	_Atomic uint64_t	 close_protocol;	/* 1002, 1007, 1009 */
	_Atomic uint64_t	 close_exit;		/* 4000-4255 */
	_Atomic uint64_t	 close_other;
	_Atomic uint64_t	 msgs_in, msgs_out, bytes_in, bytes_out;
	_Atomic uint64_t	 to_child_hwm, to_client_hwm;
};

struct metrics_session {
	int		 established;
	int		 spawned;
	int		 exited;
	int		 wstatus;
	int		 closed_by;
	unsigned	 close_code;
	uint64_t	 msgs_in, msgs_out, bytes_in, bytes_out;
};

void	 metrics_session_end(struct metrics *, const struct metrics_session *);
void	 metrics_queue_level(_Atomic uint64_t *, uint64_t);
size_t	 metrics_render(const struct metrics *, unsigned, char *, size_t);

#endif
