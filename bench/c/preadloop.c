/* Page-cache-bound reads for the cachestat benchmark: `preadloop <file> <count>` reads the
 * (cached) file in 4 KiB preads, wrapping around, <count> times; prints the elapsed nanoseconds. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int fd = open(argv[1], O_RDONLY);
	long count = atol(argv[2]), i;
	struct stat st;
	struct timespec a, b;
	char buf[4096];
	off_t off = 0;

	if (fd < 0 || fstat(fd, &st) < 0)
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (i = 0; i < count; i++) {
		if (pread(fd, buf, sizeof(buf), off) != sizeof(buf))
			return 2;
		off += sizeof(buf);
		if (off + (off_t)sizeof(buf) > st.st_size)
			off = 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("ns %lld\n", (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec));
	return 0;
}
