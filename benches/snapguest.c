/* /init of the snapshot lab bench (benches/snaplab.py): maps 128 MiB that it does not touch,
 * says SNAP-READY on the console, then answers console lines:
 *   ping   -> "PONG"                      (how the bench sees a restored guest running)
 *   touch  -> "TOUCH-NS <ns>"             (one byte written per 4 KiB page of the 128 MiB,
 *                                          timed in the guest; once per boot)
 * The post-restore fault test of Firecracker (its fast_page_fault_helper) does the same
 * writes: after a restore they fault both in the guest and on the host's copy-on-write. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define LEN (128ul << 20)

static long long ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000000000ll + t.tv_nsec;
}

int main(void)
{
	char *buf = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char line[128];
	int touched = 0;

	setvbuf(stdout, NULL, _IONBF, 0);
	if (buf == MAP_FAILED) {
		puts("SNAP-FAILED mmap");
		for (;;)
			pause();
	}
	puts("SNAP-READY");
	for (;;) {
		if (!fgets(line, sizeof(line), stdin)) {
			clearerr(stdin);
			continue;
		}
		if (!strncmp(line, "ping", 4)) {
			puts("PONG");
		} else if (!strncmp(line, "touch", 5) && !touched) {
			long long t0 = ns();

			for (size_t i = 0; i < LEN; i += 4096)
				((volatile char *)buf)[i] = 1;
			printf("TOUCH-NS %lld\n", ns() - t0);
			touched = 1;
		}
	}
}
