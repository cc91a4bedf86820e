/* An example page-fault handler for snapshots loaded with the Uffd memory backend, speaking
 * Firecracker v1.7.0's protocol (its examples/uffd/valid_handler.rs does the same):
 *
 *   uffd-handler [--no-serve] SOCKET MEMFILE
 *
 * listens on SOCKET, accepts the VMM's one connection, receives the memory layout (a JSON
 * array of {base_host_virt_addr, size, offset, page_size_kib}) with the userfaultfd
 * (SCM_RIGHTS), maps MEMFILE and answers each page fault with UFFDIO_COPY of that page from
 * the file. It exits when the VMM hangs up. --no-serve takes the userfaultfd and then never
 * reads a fault: a handler gone silent, for tests. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_REGIONS 8

struct region {
	uint64_t base, size, offset, page_size_kib;
};

static void die(const char *what)
{
	fprintf(stderr, "uffd-handler: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* The JSON the VMM sends (serde's rendering of Vec<GuestRegionUffdMapping>): objects of
 * unsigned integer fields. Returns the number of regions, or -1. */
static int parse_layout(const char *s, struct region *r, int max)
{
	int n = 0;

	while ((s = strchr(s, '{')) != NULL) {
		const char *end = strchr(s, '}');
		unsigned seen = 0;

		if (!end || n == max)
			return -1;
		memset(&r[n], 0, sizeof(r[n]));
		for (const char *k = s; (k = strchr(k, '"')) && k < end;) {
			static const char *const names[] = { "base_host_virt_addr", "size", "offset", "page_size_kib" };
			const char *q = strchr(k + 1, '"');
			char *num_end;
			unsigned long long v;
			int f = -1;

			if (!q || q > end)
				return -1;
			for (int i = 0; i < 4; i++)
				if ((size_t)(q - k - 1) == strlen(names[i]) && !strncmp(k + 1, names[i], strlen(names[i])))
					f = i;
			k = q + 1;
			while (*k == ' ' || *k == ':')
				k++;
			v = strtoull(k, &num_end, 10);
			if (f < 0 || num_end == k)
				return -1;
			k = num_end;
			seen |= 1u << f;
			(&r[n].base)[f] = v;
		}
		if (seen != 0xf)
			return -1;
		n++;
		s = end + 1;
	}
	return n;
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct region reg[MAX_REGIONS];
	char body[1024], cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = body, .iov_len = sizeof(body) - 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;
	int serve = 1, lfd, conn, uffd = -1, nreg, mfd;
	const uint8_t *file;
	struct stat st;
	ssize_t n;

	if (argc > 1 && !strcmp(argv[1], "--no-serve")) {
		serve = 0;
		argv++;
		argc--;
	}
	if (argc != 3 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: uffd-handler [--no-serve] SOCKET MEMFILE\n");
		return 2;
	}
	mfd = open(argv[2], O_RDONLY | O_CLOEXEC);
	if (mfd < 0 || fstat(mfd, &st) < 0)
		die(argv[2]);
	file = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, mfd, 0);
	if (file == MAP_FAILED)
		die("mmap");
	/* Bound under a temporary name and renamed once listening: whoever sees SOCKET can
	 * connect to it (a VMM started as soon as the path exists is not refused). */
	if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s.tmp", argv[1]) >= (int)sizeof(sa.sun_path)) {
		fprintf(stderr, "uffd-handler: socket path too long\n");
		return 2;
	}
	unlink(sa.sun_path);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 1) < 0 ||
	    rename(sa.sun_path, argv[1]) < 0)
		die(argv[1]);
	conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (conn < 0)
		die("accept");
	n = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC);
	if (n <= 0)
		die("recvmsg");
	body[n] = '\0';
	for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
			memcpy(&uffd, CMSG_DATA(cm), sizeof(int));
	nreg = parse_layout(body, reg, MAX_REGIONS);
	if (uffd < 0 || nreg <= 0) {
		fprintf(stderr, "uffd-handler: bad handshake: %s\n", body);
		return 1;
	}
	for (int i = 0; i < nreg; i++) {
		/* kindling's memory files have a trailer after RAM: at least, not exactly, RAM. */
		if (reg[i].offset + reg[i].size > (uint64_t)st.st_size || reg[i].page_size_kib != 4) {
			fprintf(stderr, "uffd-handler: region %d does not fit %s\n", i, argv[2]);
			return 1;
		}
	}
	fprintf(stderr, "uffd-handler: serving %d region(s)%s\n", nreg, serve ? "" : " (not really: --no-serve)");
	for (;;) {
		struct pollfd p[2] = { { .fd = conn, .events = POLLRDHUP }, { .fd = uffd, .events = POLLIN } };
		struct uffd_msg m;

		if (poll(p, serve ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		if (p[0].revents)
			return 0; /* the VMM went away */
		if (read(uffd, &m, sizeof(m)) != sizeof(m)) {
			if (errno == EAGAIN)
				continue;
			die("read uffd");
		}
		if (m.event != UFFD_EVENT_PAGEFAULT)
			continue; /* no other event was asked for */
		uint64_t addr = m.arg.pagefault.address & ~4095ull;
		int i;

		for (i = 0; i < nreg; i++)
			if (addr >= reg[i].base && addr - reg[i].base < reg[i].size)
				break;
		if (i == nreg) {
			fprintf(stderr, "uffd-handler: fault at %#llx outside guest memory\n", (unsigned long long)addr);
			return 1;
		}
		struct uffdio_copy c = { .dst = addr,
					 .src = (uint64_t)(uintptr_t)(file + reg[i].offset + (addr - reg[i].base)),
					 .len = 4096 };
		/* EEXIST: the page arrived meanwhile (another thread faulted on it first). */
		if (ioctl(uffd, UFFDIO_COPY, &c) < 0 && errno != EEXIST && errno != EAGAIN)
			die("UFFDIO_COPY");
	}
}
