/* I/O benchmark helper, built static so the same binary runs in a guest and on the lab
 * host. Each mode prints one number on stdout:
 *   iotool seqread DEV MIB           sequential 1 MiB O_DIRECT reads -> MB/s
 *   iotool randread DEV COUNT        4 KiB O_DIRECT random reads, queue depth 1 -> IOPS
 *   iotool sink PORT                 accepts one TCP connection, reads to EOF -> Mbit/s
 *   iotool source HOST PORT MIB      connects (retrying up to 600 s), sends MIB MiB of
 *                                    zeros, waits for the peer to close -> Mbit/s
 *   iotool meter PORT SKIP_KIB       as sink, but -> three numbers: the seconds from the
 *                                    first byte until SKIP_KIB KiB had arrived, then the
 *                                    bytes and seconds from there to the end (a rate once
 *                                    a rate limiter's burst and initial budget are spent)
 *   iotool flood HOST PORT SECONDS   sends 1400-byte UDP datagrams as fast as it can for
 *                                    SECONDS -> datagrams per second
 * Times are taken from the first byte to the end, on CLOCK_MONOTONIC. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>

#define MIB (1u << 20)

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "iotool: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void *buffer(size_t n)
{
	void *p;

	if (posix_memalign(&p, 4096, n))
		die("posix_memalign");
	memset(p, 0, n);
	return p;
}

static int seqread(const char *dev, long mib)
{
	int fd = open(dev, O_RDONLY | O_DIRECT);
	char *buf = buffer(MIB);
	double t0;

	if (fd < 0)
		die(dev);
	t0 = now();
	for (long i = 0; i < mib; i++) {
		if (pread(fd, buf, MIB, (off_t)i * MIB) != MIB)
			die("pread");
	}
	printf("%.1f\n", (double)mib / (now() - t0) * MIB / 1e6);
	return 0;
}

static int randread(const char *dev, long count)
{
	int fd = open(dev, O_RDONLY | O_DIRECT);
	char *buf = buffer(4096);
	uint64_t size, blocks, x = 88172645463325252ull;
	double t0;

	if (fd < 0)
		die(dev);
	if (ioctl(fd, BLKGETSIZE64, &size) < 0)
		die("BLKGETSIZE64");
	blocks = size / 4096;
	t0 = now();
	for (long i = 0; i < count; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift: same offsets every run */
		if (pread(fd, buf, 4096, (off_t)(x % blocks) * 4096) != 4096)
			die("pread");
	}
	printf("%.0f\n", (double)count / (now() - t0));
	return 0;
}

/* A listening TCP socket on PORT, any address; the one connection accepted on it. */
static int accept_one(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int one = 1, s = socket(AF_INET, SOCK_STREAM, 0), c;

	if (s < 0)
		die("socket");
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 1) < 0)
		die("bind/listen");
	c = accept(s, NULL, NULL);
	if (c < 0)
		die("accept");
	close(s);
	return c;
}

static int meter(int port, long skip_kib)
{
	uint64_t total = 0, skip = (uint64_t)skip_kib * 1024, at_mark = 0;
	char *buf = buffer(MIB);
	int c = accept_one(port);
	double t0 = 0, t_mark = 0;
	ssize_t n;

	while ((n = read(c, buf, MIB)) > 0) {
		if (!total)
			t0 = now();
		total += (uint64_t)n;
		if (!t_mark && total >= skip) {
			t_mark = now();
			at_mark = total;
		}
	}
	if (!t_mark)
		t_mark = now();
	printf("%.6f %llu %.6f\n", t_mark - t0, (unsigned long long)(total - at_mark), now() - t_mark);
	close(c);
	return 0;
}

static int flood(const char *host, int port, double secs)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	char *buf = buffer(1400);
	double t0 = now(), end = t0 + secs;
	unsigned long sent = 0;

	if (s < 0)
		die("socket");
	if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
		die("address");
	while (now() < end) {
		for (int i = 0; i < 64; i++) {
			/* A full tap queue drops, it does not block: ENOBUFS is part of a flood. */
			if (sendto(s, buf, 1400, 0, (struct sockaddr *)&a, sizeof(a)) == 1400)
				sent++;
			else if (errno != ENOBUFS && errno != EAGAIN && errno != ECONNREFUSED)
				die("sendto");
		}
	}
	printf("%.0f\n", (double)sent / (now() - t0));
	return 0;
}

static int sink(int port)
{
	char *buf = buffer(MIB);
	int c = accept_one(port);
	uint64_t total = 0;
	double t0 = 0;
	ssize_t n;

	while ((n = read(c, buf, MIB)) > 0) {
		if (!total)
			t0 = now();
		total += (uint64_t)n;
	}
	printf("%.1f\n", (double)total * 8 / (now() - t0) / 1e6);
	close(c);
	return 0;
}

static int source(const char *host, int port, long mib)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	char *buf = buffer(MIB);
	double t0, deadline = now() + 600;
	int s;

	if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
		die("address");
	for (;;) {
		s = socket(AF_INET, SOCK_STREAM, 0);
		if (s < 0)
			die("socket");
		if (connect(s, (struct sockaddr *)&a, sizeof(a)) == 0)
			break;
		close(s);
		if (now() > deadline)
			die("connect");
		usleep(100000);
	}
	t0 = now();
	for (long i = 0; i < mib; i++) {
		size_t off = 0;

		while (off < MIB) {
			ssize_t n = write(s, buf + off, MIB - off);

			if (n < 0)
				die("write");
			off += (size_t)n;
		}
	}
	shutdown(s, SHUT_WR);
	while (read(s, buf, MIB) > 0)
		;
	printf("%.1f\n", (double)mib * MIB * 8 / (now() - t0) / 1e6);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "seqread"))
		return seqread(argv[2], atol(argv[3]));
	if (argc == 4 && !strcmp(argv[1], "randread"))
		return randread(argv[2], atol(argv[3]));
	if (argc == 3 && !strcmp(argv[1], "sink"))
		return sink(atoi(argv[2]));
	if (argc == 5 && !strcmp(argv[1], "source"))
		return source(argv[2], atoi(argv[3]), atol(argv[4]));
	if (argc == 4 && !strcmp(argv[1], "meter"))
		return meter(atoi(argv[2]), atol(argv[3]));
	if (argc == 5 && !strcmp(argv[1], "flood"))
		return flood(argv[2], atoi(argv[3]), atof(argv[4]));
	fprintf(stderr, "usage: iotool seqread DEV MIB | randread DEV COUNT | sink PORT | source HOST PORT MIB\n"
			"       | meter PORT SKIP_KIB | flood HOST PORT SECONDS\n");
	return 2;
}
