/*
 * spawnmsg.c: a request encodes and decodes to the same program, arguments
 * and environment; what does not fit is refused; and the decoder refuses
 * every malformed message, cut at every byte or with a byte changed.
 */
#include <stdlib.h>

#include "../../src/spawnmsg.h"
#include "unit.h"

static unsigned char	 buf[SPAWNMSG_MAX];

static void
test_round_trip(void)
{
	char		*argv[] = { "/bin/sh", "-c", "echo \"$X\"", NULL };
	char		*envp[] = { "X=1", "EMPTY=", "PATH=/bin", NULL };
	struct spawnreq	 req;
	size_t		 len;

	len = spawnmsg_encode(buf, sizeof buf, "/bin/sh", argv, envp, NULL);
	CHECK(len > sizeof(struct spawnmsg));
	CHECK_EQ_INT(spawnmsg_decode(buf, len, &req), 0);
	CHECK_STR(req.path, "/bin/sh");
	CHECK_STR(req.argv[0], "/bin/sh");
	CHECK_STR(req.argv[2], "echo \"$X\"");
	CHECK(req.argv[3] == NULL);
	CHECK(req.envp != NULL);
	CHECK_STR(req.envp[1], "EMPTY=");
	CHECK(req.envp[3] == NULL);
	spawnreq_free(&req);
}

static void
test_inherited_and_empty_env(void)
{
	char		*argv[] = { "cat", NULL };
	char		*none[] = { NULL };
	struct spawnreq	 req;
	size_t		 len;

	len = spawnmsg_encode(buf, sizeof buf, "/bin/cat", argv, NULL, NULL);
	CHECK_EQ_INT(spawnmsg_decode(buf, len, &req), 0);
	CHECK(req.envp == NULL);	/* the spawner's own */
	spawnreq_free(&req);
	len = spawnmsg_encode(buf, sizeof buf, "/bin/cat", argv, none, NULL);
	CHECK_EQ_INT(spawnmsg_decode(buf, len, &req), 0);
	CHECK(req.envp != NULL && req.envp[0] == NULL);	/* empty, not ours */
	spawnreq_free(&req);
}

/* --pty: the terminal's path rides after the environment. */
static void
test_tty(void)
{
	char		*argv[] = { "bash", NULL };
	char		*envp[] = { "TERM=xterm-256color", NULL };
	struct spawnreq	 req;
	size_t		 len, plain;

	len = spawnmsg_encode(buf, sizeof buf, "/bin/bash", argv, envp,
	    "/dev/pts/7");
	CHECK(len > 0);
	CHECK_EQ_INT(spawnmsg_decode(buf, len, &req), 0);
	CHECK_STR(req.tty, "/dev/pts/7");
	CHECK_STR(req.envp[0], "TERM=xterm-256color");
	spawnreq_free(&req);
	CHECK(req.tty == NULL);
	/* Without the flag the path is a stray string; with it, required. */
	((struct spawnmsg *)(void *)buf)->flags = 0;
	CHECK_EQ_INT(spawnmsg_decode(buf, len, &req), -1);
	plain = spawnmsg_encode(buf, sizeof buf, "/bin/bash", argv, envp, NULL);
	CHECK_EQ_INT(spawnmsg_decode(buf, plain, &req), 0);
	CHECK(req.tty == NULL);
	spawnreq_free(&req);
	((struct spawnmsg *)(void *)buf)->flags = SPAWNMSG_TTY;
	CHECK_EQ_INT(spawnmsg_decode(buf, plain, &req), -1);
	/* Unknown flags, and an empty path, are refused. */
	((struct spawnmsg *)(void *)buf)->flags = 2;
	CHECK_EQ_INT(spawnmsg_decode(buf, plain, &req), -1);
	CHECK_EQ_INT(spawnmsg_encode(buf, sizeof buf, "/bin/bash", argv, envp,
	    ""), 0);
}

static void
test_refused_encodings(void)
{
	char		*noargs[] = { NULL };
	char		*argv[] = { "x", NULL };
	static char	 big[SPAWNMSG_MAX];
	char		*envp[] = { big, NULL };

	CHECK_EQ_INT(spawnmsg_encode(buf, sizeof buf, "/bin/x", noargs, NULL,
	    NULL), 0);
	memset(big, 'a', sizeof big - 1);
	CHECK_EQ_INT(spawnmsg_encode(buf, sizeof buf, "/bin/x", argv, envp,
	    NULL), 0);
	CHECK_EQ_INT(spawnmsg_encode(buf, 4, "/bin/x", argv, NULL, NULL), 0);
}

/* Every prefix of a good request, and every one-byte change, is safe. */
static void
test_cuts_and_changes(void)
{
	char		*argv[] = { "a", "bb", NULL };
	char		*envp[] = { "C=3", NULL };
	unsigned char	 copy[256];
	struct spawnreq	 req;
	size_t		 len, cut, i;
	int		 bad = 0;

	len = spawnmsg_encode(buf, sizeof buf, "/p", argv, envp, NULL);
	CHECK(len < sizeof copy);
	for (cut = 0; cut < len; cut++) {
		memcpy(copy, buf, len);
		if (spawnmsg_decode(copy, cut, &req) == 0) {
			bad++;
			spawnreq_free(&req);
		}
	}
	CHECK_EQ_INT(bad, 0);	/* a cut request is never taken */
	memcpy(copy, buf, len);
	copy[len] = 'x';
	CHECK_EQ_INT(spawnmsg_decode(copy, len + 1, &req), -1);
	for (i = 0; i < len; i++) {
		memcpy(copy, buf, len);
		copy[i] ^= 0x5a;
		if (spawnmsg_decode(copy, len, &req) == 0)
			spawnreq_free(&req);	/* taken or not: no crash */
	}
	memcpy(copy, buf, len);
	((struct spawnmsg *)(void *)copy)->type = SPAWNMSG_DONE;
	CHECK_EQ_INT(spawnmsg_decode(copy, len, &req), -1);
	/* A request's pid and value are 0: nothing unread rides along. */
	memcpy(copy, buf, len);
	((struct spawnmsg *)(void *)copy)->value = 1;
	CHECK_EQ_INT(spawnmsg_decode(copy, len, &req), -1);
}

int
main(void)
{
	test_round_trip();
	test_inherited_and_empty_env();
	test_tty();
	test_refused_encodings();
	test_cuts_and_changes();
	return unit_done();
}
