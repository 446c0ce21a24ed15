// Synthetic event producer for bench/events.bench.ts: for each line on stdin, calls getppid()
// in a tight loop for MS milliseconds or N calls, whichever ends first (N from the line if it
// holds a number, else MAX_CALLS), then prints the number of calls. Usage: getppid_loop MS [MAX_CALLS]
// Each call fires bpf/evbench.bpf.c once (when its target_tgid is this process).
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double ms = argc > 1 ? atof(argv[1]) : 3000;
	unsigned long long max_calls = argc > 2 ? strtoull(argv[2], NULL, 10) : ~0ULL;
	char line[64];

	printf("%d\n", getpid());
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		unsigned long long calls = 0, n = strtoull(line, NULL, 10);
		unsigned long long limit = n ? n : max_calls;
		double end = now() + ms / 1000;

		while (now() < end && calls < limit) {
			/* The raw syscall: glibc does not cache getppid, but be explicit. */
			for (int i = 0; i < 1000 && calls < limit; i++, calls++)
				syscall(SYS_getppid);
		}
		printf("%llu\n", calls);
		fflush(stdout);
	}
	return 0;
}
