/*
 * --basic-auth's memory, both tables bounded and pure (the time is passed
 * in, in milliseconds of a monotonic clock), so they are unit-tested:
 *
 * - recent successes, so that a client opening many sessions pays for one
 *   slow hash: a keyed hash (HMAC-SHA256 under a random key made at
 *   start-up) of user and password, never the password itself;
 * - failures by client address, for answering 429 to guessing.
 */
#ifndef WSB_AUTHCACHE_H
#define WSB_AUTHCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTHCACHE_SLOTS		256
#define AUTHCACHE_TTL_MS	60000	/* a success is remembered this long */
#define AUTHCACHE_KEY		32

#define AUTHFAIL_SLOTS		1024
#define AUTHFAIL_FREE		5	/* failures before the first block */
#define AUTHFAIL_BLOCK_MS	1000	/* the first block; doubles after */
#define AUTHFAIL_BLOCK_MAX_MS	300000
#define AUTHFAIL_FORGET_MS	900000	/* quiet this long: start over */
#define AUTHFAIL_ADDR		64

struct authcache_slot {
	unsigned char	 mac[32];
	uint64_t	 expires;	/* 0: empty */
};

struct authcache {
	unsigned char		 key[AUTHCACHE_KEY];
	struct authcache_slot	 slots[AUTHCACHE_SLOTS];
	size_t			 next;		/* round-robin victim */
};

struct authfail_slot {
	char		 addr[AUTHFAIL_ADDR];	/* "": empty */
	unsigned	 failures;
	uint64_t	 last;			/* last failure */
	uint64_t	 blocked_until;
};

struct authfail {
	struct authfail_slot	 slots[AUTHFAIL_SLOTS];
};

void	 authcache_init(struct authcache *, const unsigned char *);
void	 authcache_clear(struct authcache *);
bool	 authcache_mac(const struct authcache *, const char *, const char *,
	     unsigned char *);
bool	 authcache_find(struct authcache *, const unsigned char *, uint64_t);
void	 authcache_add(struct authcache *, const unsigned char *, uint64_t);

void	 authfail_init(struct authfail *);
uint64_t authfail_blocked(struct authfail *, const char *, uint64_t);
void	 authfail_failed(struct authfail *, const char *, uint64_t);
void	 authfail_succeeded(struct authfail *, const char *);

bool	 auth_equal(const char *, const char *);

#endif
