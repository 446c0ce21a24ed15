// The fastest exec storm this machine produces: vfork() + execve("/bin/true") in a loop, each
// child waited for. Usage: execstorm COUNT MAX_MS; prints "<execs> <seconds>" when done.
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
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
	long count = argc > 1 ? atol(argv[1]) : 20000;
	double max_s = (argc > 2 ? atof(argv[2]) : 60000) / 1000;
	char *const args[] = { "/bin/true", NULL };
	char *const env[] = { NULL };
	double t0 = now();
	long n;

	for (n = 0; n < count && now() - t0 < max_s; n++) {
		pid_t p = vfork();

		if (p == 0) {
			execve(args[0], args, env);
			_exit(127);
		}
		if (p < 0) {
			perror("vfork");
			return 1;
		}
		waitpid(p, NULL, 0);
	}
	printf("%ld %.3f\n", n, now() - t0);
	return 0;
}
