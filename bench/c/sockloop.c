/* TCP over loopback for the netproc benchmark: `sockloop <size> <count>` forks a receiver,
 * sends <count> messages of <size> bytes (TCP_NODELAY), the receiver reads them all; prints the
 * elapsed nanoseconds and the number of send and recv calls made. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(int argc, char **argv)
{
	size_t size = atol(argv[1]);
	long count = atol(argv[2]), sends = 0, i;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM, 0), one = 1, c, s, st;
	char *buf = calloc(1, size);
	long long t0;
	pid_t pid;

	bind(l, (struct sockaddr *)&a, sizeof(a));
	listen(l, 1);
	getsockname(l, (struct sockaddr *)&a, &al);
	pid = fork();
	if (pid == 0) {
		long long want = (long long)size * count, got = 0, calls = 0;
		ssize_t n;
		s = accept(l, NULL, NULL);
		while (got < want && (n = read(s, buf, size)) > 0) {
			got += n;
			calls++;
		}
		if (write(1, "", 0) < 0 || got != want)
			return 1;
		printf("recv_calls %lld\n", calls);
		return 0;
	}
	c = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c, (struct sockaddr *)&a, sizeof(a)) < 0)
		return 2;
	t0 = now();
	for (i = 0; i < count; i++) {
		size_t off = 0;
		while (off < size) {
			ssize_t n = write(c, buf + off, size - off);
			if (n <= 0)
				return 3;
			off += n;
			sends++;
		}
	}
	shutdown(c, SHUT_WR);
	waitpid(pid, &st, 0);
	printf("ns %lld\nsend_calls %ld\n", now() - t0, sends);
	fflush(stdout);
	return WEXITSTATUS(st);
}
