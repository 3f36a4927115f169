/*
 * The text formats of --basic-auth and --auth-header: the password file
 * (one "user:hash" a line) and an Authorization: Basic header. Pure: no
 * I/O, so both are unit-tested and fuzzed.
 */
#ifndef WSB_AUTHPARSE_H
#define WSB_AUTHPARSE_H

#include <stdbool.h>
#include <stddef.h>

#define AUTH_USER_MAX	128	/* bytes of a user name, NUL excluded */
#define AUTH_PASS_MAX	512	/* bytes of a password, NUL excluded */
#define AUTH_HASH_MAX	256
#define HTPASSWD_MAX_USERS 65536

struct htpasswd_entry {
	char	*user;
	char	*hash;
};

struct htpasswd {
	struct htpasswd_entry	*v;
	size_t			 n;
	char			*buf;		/* owns every string above */
};

bool		 auth_user_ok(const char *, size_t);
bool		 auth_hash_ok(const char *);
int		 htpasswd_parse(struct htpasswd *, const char *, size_t, char *,
		     size_t);
const char	*htpasswd_lookup(const struct htpasswd *, const char *);
void		 htpasswd_free(struct htpasswd *);
int		 auth_basic_parse(const char *, char *, size_t, char *, size_t);
int		 auth_basic_encode(const char *, const char *, char *, size_t);

#endif
