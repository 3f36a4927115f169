/*
 * spawnlimit: how many short-lived children this machine can run per second,
 * the ceiling for wsload's `spawn` scenario.
 *
 * --procs P worker processes (default: number of online CPUs) side by side,
 * each looping for --seconds T:
 *   mode echo (default): three pipes as a server makes them (stdin, stdout,
 *     stderr), posix_spawn COMMAND in its own process group, write one line
 *     of --size bytes, read the echo back, close stdin, read stdout to EOF,
 *     waitpid. That is the child's share of one wsload `spawn` session.
 *   mode bare: posix_spawn COMMAND with stdio on /dev/null, waitpid.
 *   mode pipe: no spawning rate at all: one worker, one COMMAND, --rounds
 *     round trips of one --size line through its stdin and stdout, each
 *     waited for with poll() as an event loop would. That is the child's
 *     share of one wsload `latency` round trip; added to wsecho's p50 it
 *     is the lowest p50 any server that runs a child could reach here.
 *     Prints scenario=spawnlimit mode=pipe rounds=K p50_us=... p99_us=...
 * COMMAND defaults to `cat`; give another after `--`.
 * --hold-fds N: each worker first opens N extra close-on-exec fds (as a
 *   server holding N/4 sessions would), to show how the spawn cost grows with
 *   the size of the spawning process's fd table.
 * Prints one line: scenario=spawnlimit mode=... procs=P seconds=T spawns=N
 * rate=R (spawns per second, all workers together).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *what)
{
	fprintf(stderr, "spawnlimit: %s: %s\n", what, strerror(errno));
	exit(2);
}

static char *
find_in_path(const char *name)
{
	const char *path = getenv("PATH");
	char *dup, *dir, *save = NULL, buf[4096];

	if (strchr(name, '/'))
		return strdup(name);
	if (path == NULL)
		path = "/usr/bin:/bin";
	dup = strdup(path);
	for (dir = strtok_r(dup, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		snprintf(buf, sizeof(buf), "%s/%s", dir, name);
		if (access(buf, X_OK) == 0) {
			free(dup);
			return strdup(buf);
		}
	}
	free(dup);
	return NULL;
}

/*
 * COMMAND with its stdin and stdout on pipes, and its stderr too when err
 * is not NULL; our ends are in[1], out[0] and err[0].
 */
static pid_t
spawn_piped(const char *exe, char **argv, posix_spawnattr_t *attr,
    int in[2], int out[2], int *err)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int rc;

	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) ||
	    (err != NULL && pipe2(err, O_CLOEXEC)))
		die("pipe2");
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	if (err != NULL)
		posix_spawn_file_actions_adddup2(&fa, err[1], 2);
	rc = posix_spawn(&pid, exe, &fa, attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(in[0]);
	close(out[1]);
	if (err != NULL)
		close(err[1]);
	if (rc != 0) {
		errno = rc;
		die("posix_spawn");
	}
	return pid;
}

static int
one_echo(const char *exe, char **argv, const char *msg, size_t len,
    posix_spawnattr_t *attr)
{
	int in[2], out[2], err[2];
	pid_t pid;
	char buf[65536];
	size_t got = 0, off = 0;
	ssize_t r;
	int st;

	pid = spawn_piped(exe, argv, attr, in, out, err);
	while (off < len) {
		r = write(in[1], msg + off, len - off);
		if (r <= 0) {
			if (r == -1 && errno == EINTR)
				continue;
			break;
		}
		off += (size_t)r;
	}
	while (got < len) {
		r = read(out[0], buf, sizeof(buf));
		if (r <= 0) {
			if (r == -1 && errno == EINTR)
				continue;
			break;
		}
		got += (size_t)r;
	}
	close(in[1]);
	while ((r = read(out[0], buf, sizeof(buf))) != 0)
		if (r == -1 && errno != EINTR)
			break;
	close(out[0]);
	close(err[0]);
	while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
		;
	return got >= len ? 0 : -1;
}

static int
one_bare(const char *exe, char **argv, posix_spawnattr_t *attr)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int st, rc;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	rc = posix_spawn(&pid, exe, &fa, attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		errno = rc;
		die("posix_spawn");
	}
	while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
		;
	return 0;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Writes all of msg, then reads until as many bytes came back. */
static int
round_trip(int in, int out, const char *msg, size_t len)
{
	struct pollfd pfd = { .fd = out, .events = POLLIN };
	char buf[65536];
	size_t off = 0, got = 0;
	ssize_t r;

	while (off < len) {
		if ((r = write(in, msg + off, len - off)) <= 0) {
			if (r == -1 && errno == EINTR)
				continue;
			return -1;
		}
		off += (size_t)r;
	}
	while (got < len) {
		if (poll(&pfd, 1, 5000) != 1)
			return -1;
		if ((r = read(out, buf, sizeof(buf))) <= 0) {
			if (r == -1 && errno == EINTR)
				continue;
			return -1;
		}
		got += (size_t)r;
	}
	return 0;
}

static int
pipe_latency(const char *exe, char **argv, const char *msg, size_t len,
    posix_spawnattr_t *attr, long rounds)
{
	const long warmup = 200;
	int in[2], out[2], st;
	double *us, t;
	pid_t pid;
	long k;

	if ((us = calloc((size_t)rounds, sizeof *us)) == NULL)
		die("calloc");
	pid = spawn_piped(exe, argv, attr, in, out, NULL);
	for (k = -warmup; k < rounds; k++) {
		t = now();
		if (round_trip(in[1], out[0], msg, len) != 0) {
			fprintf(stderr, "spawnlimit: pipe round trip %ld failed\n",
			    k);
			free(us);
			return 1;
		}
		if (k >= 0)
			us[k] = (now() - t) * 1e6;
	}
	close(in[1]);
	close(out[0]);
	while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
		;
	qsort(us, (size_t)rounds, sizeof *us, cmp_double);
	printf("scenario=spawnlimit mode=pipe rounds=%ld size=%zu p50_us=%.1f "
	    "p99_us=%.1f\n", rounds, len - 1, us[rounds / 2],
	    us[rounds * 99 / 100]);
	free(us);
	return 0;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: spawnlimit [--procs P] [--seconds T] [--mode echo|bare|pipe]"
	    " [--rounds K] [--size S] [--hold-fds N] [-- COMMAND ARGS...]\n");
}

int
main(int argc, char **argv)
{
	long procs = sysconf(_SC_NPROCESSORS_ONLN), size = 16, i, hold = 0;
	double seconds = 2.0;
	int bare = 0, pipe_mode = 0, failed = 0;
	long rounds = 2000;
	char *defcmd[] = { "cat", NULL };
	char **cmd = defcmd, *exe, *msg;
	volatile long *counts;
	posix_spawnattr_t attr;
	pid_t *pids;
	long total = 0;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0) {
			if (i + 1 < argc)
				cmd = argv + i + 1;
			break;
		}
		if (strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		}
		if (i + 1 >= argc) {
			usage(stderr);
			return 2;
		}
		if (strcmp(a, "--procs") == 0)
			procs = atol(argv[++i]);
		else if (strcmp(a, "--seconds") == 0)
			seconds = atof(argv[++i]);
		else if (strcmp(a, "--size") == 0)
			size = atol(argv[++i]);
		else if (strcmp(a, "--hold-fds") == 0)
			hold = atol(argv[++i]);
		else if (strcmp(a, "--rounds") == 0)
			rounds = atol(argv[++i]);
		else if (strcmp(a, "--mode") == 0) {
			i++;
			if (strcmp(argv[i], "bare") == 0)
				bare = 1;
			else if (strcmp(argv[i], "pipe") == 0)
				pipe_mode = 1;
			else if (strcmp(argv[i], "echo") != 0) {
				usage(stderr);
				return 2;
			}
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (procs < 1 || procs > 1024 || seconds <= 0 || seconds > 600 ||
	    size < 0 || size > 60000 || hold < 0 || hold > 1000000 ||
	    rounds < 1 || rounds > 10000000) {
		fprintf(stderr, "spawnlimit: bad --procs, --seconds, --size, "
		    "--rounds or --hold-fds\n");
		return 2;
	}
	exe = find_in_path(cmd[0]);
	if (exe == NULL) {
		fprintf(stderr, "spawnlimit: %s: not found in PATH\n", cmd[0]);
		return 2;
	}
	msg = malloc((size_t)size + 1);
	if (msg == NULL)
		die("malloc");
	for (i = 0; i < size; i++)
		msg[i] = (char)('a' + i % 26);
	msg[size] = '\n';
	counts = mmap(NULL, sizeof(long) * (size_t)procs, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (counts == MAP_FAILED)
		die("mmap");
	if ((pids = calloc((size_t)procs, sizeof(pid_t))) == NULL)
		die("calloc");
	signal(SIGPIPE, SIG_IGN);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
	if (pipe_mode) {
		failed = pipe_latency(exe, cmd, msg, (size_t)size + 1, &attr,
		    rounds);
		free(pids);
		free(msg);
		return failed;
	}

	for (i = 0; i < procs; i++) {
		pids[i] = fork();
		if (pids[i] == -1)
			die("fork");
		if (pids[i] == 0) {
			double end;
			long n = 0, k;
			int base = hold > 0 ? open("/dev/null", O_RDONLY | O_CLOEXEC) : -1;

			for (k = 1; k < hold; k++)
				if (fcntl(base, F_DUPFD_CLOEXEC, 3) == -1) {
					fprintf(stderr, "spawnlimit: --hold-fds: "
					    "%ld opened: %s\n", k, strerror(errno));
					_exit(4);
				}
			end = now() + seconds;

			while (now() < end) {
				if (bare)
					one_bare(exe, cmd, &attr);
				else if (one_echo(exe, cmd, msg, (size_t)size + 1,
				    &attr) != 0)
					_exit(3);
				n++;
			}
			counts[i] = n;
			_exit(0);
		}
	}
	for (i = 0; i < procs; i++) {
		int st;

		while (waitpid(pids[i], &st, 0) == -1 && errno == EINTR)
			;
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			failed++;
		total += counts[i];
	}
	printf("scenario=spawnlimit mode=%s procs=%ld hold_fds=%ld seconds=%.3f "
	    "spawns=%ld rate=%.1f failed_workers=%d\n", bare ? "bare" : "echo",
	    procs, hold, seconds, total, (double)total / seconds, failed);
	free(pids);
	free(msg);
	return failed ? 1 : 0;
}
