/*
 * config.c's config_parse: the input split on NUL bytes is argv[1..], each
 * argument in its own allocation. config_parse never exits: it returns -1
 * with one line in err, which must then be a NUL-terminated string within
 * errlen (the first input byte sizes err, exactly). Whatever it returns,
 * config_free must leave nothing behind (LeakSanitizer checks), and on
 * success the command it found must be a tail of argv. When there is a
 * command, config_resolve_command looks it up in a fixed PATH.
 */
#include <stdbool.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"

#define MAXARGS	64

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config	 c;
	char		*argv[MAXARGS + 2], *err, *rerr;
	const uint8_t	*p, *end, *nul;
	size_t		 errlen, n;
	int		 argc = 0, i, rc;

	if (size < 1)
		return 0;
	errlen = data[0] % 128 + 1;
	if ((err = malloc(errlen)) == NULL)
		return 0;
	argv[argc++] = strdup("wsbridge");
	for (p = data + 1, end = data + size; p < end && argc <= MAXARGS;
	    p = nul + 1) {
		if ((nul = memchr(p, '\0', (size_t)(end - p))) == NULL)
			nul = end;
		n = (size_t)(nul - p);
		if ((argv[argc] = malloc(n + 1)) == NULL)
			abort();
		memcpy(argv[argc], p, n);
		argv[argc++][n] = '\0';
	}
	argv[argc] = NULL;

	memset(err, 'E', errlen);
	rc = config_parse(&c, argc, argv, err, errlen);
	CHECK(rc == 0 || rc == -1);
	if (rc == -1)
		CHECK(memchr(err, '\0', errlen) != NULL);
	else if (c.action == ACTION_SERVE) {
		CHECK(c.connect_url != NULL || c.command != NULL ||
		    c.dir != NULL);
		if (c.command != NULL) {
			for (i = 1; i < argc; i++) {
				if (c.command == &argv[i])
					break;
			}
			CHECK(i < argc);
			CHECK(c.command[argc - i] == NULL);
			if ((rerr = malloc(64)) == NULL)
				abort();
			if (config_resolve_command(&c,
			    "/nonexistent::/usr/bin", rerr, 64) != 0)
				CHECK(memchr(rerr, '\0', 64) != NULL);
			else
				CHECK(c.command_path != NULL);
			free(rerr);
		}
		CHECK(c.port >= 0 && c.port <= 65535);
		CHECK(c.max_message >= 1);
		CHECK(c.naddresses <= CONFIG_MAX_ADDRESSES);
		CHECK(c.nheaders <= CONFIG_MAX_HEADERS);
		CHECK(c.nprotocols <= CONFIG_MAX_PROTOCOLS);
		CHECK(c.addresses[c.naddresses] == NULL);
		CHECK(c.headers[c.nheaders] == NULL);
		CHECK(c.protocols[c.nprotocols] == NULL);
		CHECK(config_loglevel_name(c.loglevel) != NULL);
	}
	config_free(&c);
	for (i = 0; i < argc; i++)
		free(argv[i]);
	free(err);
	return 0;
}
