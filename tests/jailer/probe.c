/* jail-probe: a stand-in VMM for tests/jailer/jailer.sh, run by kindling-jailer inside the
 * jail (static: the jail has no libc). It reports what the jail lets it do, one line each.
 *   jail-probe --id ID open PATH...         open O_RDWR: "open PATH: ok" or "... errno NAME"
 *   jail-probe --id ID open-when PATH       wait (10 s at most) for PATH to appear, then open
 *   jail-probe --id ID nofile               open /dev/urandom until it fails: "nofile N ERRNO"
 *   jail-probe --id ID fsize BYTES          write BYTES to /fsize-test in 1 KiB steps:
 *                                           "fsize WRITTEN ERRNO" (the process must survive)
 *   jail-probe --id ID sleep SECONDS        stay alive to be looked at from outside
 *   jail-probe --id ID fds                  the open descriptors above stderr: "fds 7 9" or "fds" */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *errname(int e)
{
	switch (e) {
	case 0: return "none";
	case EPERM: return "EPERM";
	case EACCES: return "EACCES";
	case ENOENT: return "ENOENT";
	case EMFILE: return "EMFILE";
	case EFBIG: return "EFBIG";
	case ENXIO: return "ENXIO";
	case ENODEV: return "ENODEV";
	default: return strerror(e);
	}
}

static int try_open(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		printf("open %s: errno %s\n", path, errname(errno));
		return 1;
	}
	printf("open %s: ok\n", path);
	close(fd);
	return 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
	if (argc < 4 || strcmp(argv[1], "--id")) {
		fprintf(stderr, "usage: jail-probe --id ID open|open-when|nofile|fsize|sleep ARGS\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	argv += 3;
	argc -= 3;
	if (!strcmp(argv[0], "open")) {
		int bad = 0;

		for (int i = 1; i < argc; i++)
			bad |= try_open(argv[i]);
		return bad;
	}
	if (!strcmp(argv[0], "open-when") && argc == 2) {
		struct stat st;

		for (int i = 0; i < 1000 && stat(argv[1], &st) < 0; i++)
			sleep_ms(10);
		return try_open(argv[1]);
	}
	if (!strcmp(argv[0], "nofile")) {
		int n = 0;

		while (open("/dev/urandom", O_RDONLY) >= 0)
			n++;
		printf("nofile %d %s\n", n, errname(errno));
		return 0;
	}
	if (!strcmp(argv[0], "fsize") && argc == 2) {
		long want = atol(argv[1]), done = 0;
		char buf[1024] = { 0 };
		int fd = open("/fsize-test", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), e = 0;

		if (fd < 0) {
			printf("fsize open: errno %s\n", errname(errno));
			return 1;
		}
		while (done < want) {
			ssize_t w = write(fd, buf, sizeof(buf));

			if (w < 0) {
				e = errno;
				break;
			}
			done += w;
		}
		close(fd);
		printf("fsize %ld %s\n", done, errname(e));
		return 0;
	}
	if (!strcmp(argv[0], "fds")) {
		printf("fds");
		for (int fd = 3; fd < 4096; fd++)
			if (fcntl(fd, F_GETFD) >= 0)
				printf(" %d", fd);
		printf("\n");
		return 0;
	}
	if (!strcmp(argv[0], "sleep") && argc == 2) {
		sleep((unsigned)atoi(argv[1]));
		return 0;
	}
	fprintf(stderr, "jail-probe: unknown command %s\n", argv[0]);
	return 2;
}
