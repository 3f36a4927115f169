/*
 * The accounting of a session's end (session-end.c), for session_free.
 */
#ifndef WSB_SESSION_END_H
#define WSB_SESSION_END_H

struct session;

void	 session_log_end(struct session *);
void	 session_count_end(struct session *);
void	 session_client_result(struct session *);

#endif
