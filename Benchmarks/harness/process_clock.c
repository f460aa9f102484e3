/* Times one process for the attach row of Benchmarks/run: starts COMMAND with its stdout on a pipe and
 * prints "attached_ns EXIT_NS cpu_ns" where attached_ns is the time from just before fork to the first
 * stdout line starting with PREFIX (-1 when none came), exit_ns the time to its exit, and cpu_ns the
 * user + system CPU time the process used (wait4's rusage; sleeping in the kernel, such as waiting for an
 * RCU grace period when a tracepoint's last user leaves, is not CPU time).
 *
 *   process_clock PREFIX COMMAND [ARG...]
 *
 * The command's stderr goes to /dev/null; a non-zero exit status is an error (exit 1). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s PREFIX COMMAND [ARG...]\n", argv[0]);
		return 2;
	}
	const char *prefix = argv[1];
	size_t prefix_length = strlen(prefix);
	int out[2];
	if (pipe2(out, O_CLOEXEC) != 0) {
		perror("pipe2");
		return 1;
	}
	long long start = now_ns();
	pid_t child = fork();
	if (child < 0) {
		perror("fork");
		return 1;
	}
	if (child == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(out[1], 1);
		if (null >= 0)
			dup2(null, 2);
		execv(argv[2], argv + 2);
		_exit(127);
	}
	close(out[1]);

	long long attached = -1;
	char line[4096];
	size_t used = 0;
	for (;;) {
		ssize_t got = read(out[0], line + used, sizeof(line) - 1 - used);
		if (got <= 0)
			break;
		used += (size_t)got;
		/* Look at complete lines only; keep a partial one for the next read. */
		char *cursor = line;
		char *newline;
		while ((newline = memchr(cursor, '\n', used - (size_t)(cursor - line))) != NULL) {
			if (attached < 0 && (size_t)(newline - cursor) >= prefix_length &&
			    memcmp(cursor, prefix, prefix_length) == 0)
				attached = now_ns() - start;
			cursor = newline + 1;
		}
		used -= (size_t)(cursor - line);
		memmove(line, cursor, used);
		if (used == sizeof(line) - 1)
			used = 0; /* an over-long line: not one we look for */
	}
	int status;
	struct rusage usage;
	if (wait4(child, &status, 0, &usage) != child) {
		perror("wait4");
		return 1;
	}
	long long exited = now_ns() - start;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "process_clock: %s failed (status %d)\n", argv[2], status);
		return 1;
	}
	long long cpu = ((long long)usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1000000000LL +
			((long long)usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1000LL;
	printf("%lld %lld %lld\n", attached, exited, cpu);
	return 0;
}
