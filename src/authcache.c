/*
 * Both tables are fixed arrays scanned whole: a few hundred entries cost
 * less than the hash they save, and memory cannot grow with the number of
 * clients or guesses. Digests are compared in constant time, so a lookup
 * tells nothing about how close a guess came.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "authcache.h"
#include "authparse.h"

void
authcache_init(struct authcache *c, const unsigned char *key)
{
	memset(c, 0, sizeof *c);
	memcpy(c->key, key, sizeof c->key);
}

/* After the password file changed: every remembered success may be stale. */
void
authcache_clear(struct authcache *c)
{
	memset(c->slots, 0, sizeof c->slots);
	c->next = 0;
}

/* HMAC(key, user NUL password): the NUL keeps "a:bc" and "ab:c" apart. */
bool
authcache_mac(const struct authcache *c, const char *user, const char *pass,
    unsigned char *mac)
{
	unsigned char	 msg[AUTH_USER_MAX + 1 + AUTH_PASS_MAX];
	unsigned int	 len = 32;
	size_t		 ul = strlen(user), pl = strlen(pass);
	bool		 ok;

	if (ul > AUTH_USER_MAX || pl > AUTH_PASS_MAX)
		return false;
	memcpy(msg, user, ul + 1);
	memcpy(msg + ul + 1, pass, pl);
	ok = HMAC(EVP_sha256(), c->key, sizeof c->key, msg, ul + 1 + pl, mac,
	    &len) != NULL && len == 32;
	explicit_bzero(msg, sizeof msg);
	return ok;
}

bool
authcache_find(struct authcache *c, const unsigned char *mac, uint64_t now)
{
	struct authcache_slot	*s;
	bool			 found = false;
	size_t			 i;

	for (i = 0; i < AUTHCACHE_SLOTS; i++) {
		s = &c->slots[i];
		if (s->expires != 0 && s->expires <= now)
			memset(s, 0, sizeof *s);
		/* Every slot is compared: no early exit to time. */
		if (s->expires != 0 && CRYPTO_memcmp(s->mac, mac, 32) == 0)
			found = true;
	}
	return found;
}

/* An empty or expired slot if there is one, else the next in turn. */
void
authcache_add(struct authcache *c, const unsigned char *mac, uint64_t now)
{
	struct authcache_slot	*s = NULL;
	size_t			 i;

	for (i = 0; i < AUTHCACHE_SLOTS && s == NULL; i++) {
		if (c->slots[i].expires <= now)
			s = &c->slots[i];
	}
	if (s == NULL) {
		s = &c->slots[c->next];
		c->next = (c->next + 1) % AUTHCACHE_SLOTS;
	}
	memcpy(s->mac, mac, 32);
	s->expires = now + AUTHCACHE_TTL_MS;
}

void
authfail_init(struct authfail *f)
{
	memset(f, 0, sizeof *f);
}

static struct authfail_slot *
fail_find(struct authfail *f, const char *addr)
{
	size_t	 i;

	for (i = 0; i < AUTHFAIL_SLOTS; i++) {
		if (f->slots[i].addr[0] != '\0' &&
		    strcmp(f->slots[i].addr, addr) == 0)
			return &f->slots[i];
	}
	return NULL;
}

/* Milliseconds this address must still wait, 0 if none. */
uint64_t
authfail_blocked(struct authfail *f, const char *addr, uint64_t now)
{
	struct authfail_slot	*s = fail_find(f, addr);

	if (s == NULL)
		return 0;
	if (now - s->last >= AUTHFAIL_FORGET_MS && now >= s->blocked_until) {
		memset(s, 0, sizeof *s);
		return 0;
	}
	return s->blocked_until > now ? s->blocked_until - now : 0;
}

/*
 * Counts one failure. From the AUTHFAIL_FREE-th on, each blocks the address
 * twice as long as the one before, up to a ceiling. When the table is
 * full, the entry quiet the longest goes: an attacker with many addresses
 * can push others out, but memory stays bounded.
 */
void
authfail_failed(struct authfail *f, const char *addr, uint64_t now)
{
	struct authfail_slot	*s = fail_find(f, addr), *old = NULL;
	uint64_t		 block;
	size_t			 i;
	unsigned		 over;

	if (s != NULL && now - s->last >= AUTHFAIL_FORGET_MS &&
	    now >= s->blocked_until)
		memset(s, 0, sizeof *s);	/* an old story: start over */
	if (s == NULL || s->addr[0] == '\0') {
		for (i = 0; i < AUTHFAIL_SLOTS && s == NULL; i++) {
			if (f->slots[i].addr[0] == '\0')
				s = &f->slots[i];
			else if (old == NULL || f->slots[i].last < old->last)
				old = &f->slots[i];
		}
		if (s == NULL)
			s = old;
		if (s->addr[0] == '\0' || strcmp(s->addr, addr) != 0) {
			memset(s, 0, sizeof *s);
			snprintf(s->addr, sizeof s->addr, "%s", addr);
		}
	}
	s->failures++;
	s->last = now;
	if (s->failures < AUTHFAIL_FREE)
		return;
	over = s->failures - AUTHFAIL_FREE;
	block = over >= 20 ? AUTHFAIL_BLOCK_MAX_MS :
	    (uint64_t)AUTHFAIL_BLOCK_MS << over;
	if (block > AUTHFAIL_BLOCK_MAX_MS)
		block = AUTHFAIL_BLOCK_MAX_MS;
	s->blocked_until = now + block;
}

void
authfail_succeeded(struct authfail *f, const char *addr)
{
	struct authfail_slot	*s = fail_find(f, addr);

	if (s != NULL)
		memset(s, 0, sizeof *s);
}

/*
 * Two NUL-terminated strings, in time that depends on their lengths only:
 * crypt's output against the stored hash.
 */
bool
auth_equal(const char *a, const char *b)
{
	size_t		 la = strlen(a), lb = strlen(b), i, n;
	unsigned char	 d = la != lb;

	n = la > lb ? la : lb;
	for (i = 0; i < n; i++)
		d |= (unsigned char)(i < la ? a[i] : 0) ^
		    (unsigned char)(i < lb ? b[i] : 0);
	return d == 0;
}
