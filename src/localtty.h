/*
 * Client mode with --pty: our own terminal, on the main thread. Raw mode
 * while the session runs, restored on every way out; its window size.
 */
#ifndef WSB_LOCALTTY_H
#define WSB_LOCALTTY_H

#include <stdbool.h>

int	 localtty_raw(void);
void	 localtty_restore(void);
bool	 localtty_size(unsigned *, unsigned *);

#endif
