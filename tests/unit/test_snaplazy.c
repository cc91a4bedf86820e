/* Lazy verification of a signed snapshot's memory (vmm/snaplazy.c) on this host's
 * userfaultfd, no KVM: anonymous RAM registered, touched from other threads (through the
 * kernel, as KVM touches it, and directly, as device emulation does), served with the memory
 * file's bytes (holes and the zero end as zeros, mapped to the zero page); a flipped byte in
 * a chunk (data, a hole, a zero page of a sparse chunk, a zero end moved down) stops it: the
 * toucher gets EFAULT, never the bytes; a short or unreadable file is a clear error. The
 * handler runs without its seccomp filter here: the sanitizers' thread set-up makes calls
 * (sigaltstack, mmap) that SECCOMP_LAZY rightly refuses; tests/seccomp/harness.c covers it. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "mem.h"
#include "snapauth.h"
#include "snaplazy.h"
#include "test.h"

#define PAGE 4096u
#define RAM (10u << 20) /* five chunks */
#define ZERO_FROM (8u << 20)
#define CHUNKS (RAM / SNAPAUTH_CHUNK)

/* chunk 0: data but every third page; chunk 1: 10 data pages, the rest holes; chunk 2: a
 * hole; chunk 3: data; chunk 4: past the zero end. */
static uint8_t *make_ram(size_t *data_pages)
{
	uint8_t *ram = calloc(1, RAM);

	*data_pages = 0;
	for (size_t pg = 0; ram && pg < RAM / PAGE; pg++) {
		size_t c = pg * PAGE / SNAPAUTH_CHUNK, in = pg % (SNAPAUTH_CHUNK / PAGE);

		if ((c == 0 && in % 3) || (c == 1 && in < 10) || c == 3) {
			for (size_t b = 0; b < PAGE; b += 8)
				memcpy(ram + pg * PAGE + b, &(uint64_t){ pg * 0x9e3779b97f4a7c15ull + b }, 8);
			(*data_pages)++;
		}
	}
	return ram;
}

/* The memory file: RAM's data pages, the rest holes. */
static int write_file(const char *path, const uint8_t *ram, size_t len)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	static const uint8_t zero[PAGE];

	if (fd < 0 || ftruncate(fd, (off_t)len) < 0)
		return -1;
	for (size_t off = 0; off < len && off < RAM; off += PAGE) {
		if (memcmp(ram + off, zero, PAGE) && pwrite(fd, ram + off, PAGE, (off_t)off) != PAGE)
			return -1;
	}
	return fd;
}

static int flip_at(int fd, off_t off)
{
	uint8_t b;

	if (pread(fd, &b, 1, off) != 1)
		return -1;
	b ^= 0x40;
	return pwrite(fd, &b, 1, off) == 1 ? 0 : -1;
}

static int fail_calls;
static char fail_why[300];

static void on_fail(void *opaque, const char *why)
{
	(void)opaque;
	__atomic_fetch_add(&fail_calls, 1, __ATOMIC_SEQ_CST);
	snprintf(fail_why, sizeof(fail_why), "%s", why);
}

/* Reads pages through the kernel (write() to a pipe copies from them, faulting as KVM's
 * accesses do) into out; err: 0, or the errno that stopped it. */
struct toucher {
	const uint8_t *ram;
	const size_t *pages;
	size_t nr;
	uint8_t *out;
	size_t done;
	int err;
};

static void *touch(void *arg)
{
	struct toucher *t = arg;
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0) {
		t->err = errno;
		return NULL;
	}
	for (t->done = 0; t->done < t->nr; t->done++) {
		size_t off = t->pages[t->done] * PAGE;

		if (write(p[1], t->ram + off, PAGE) != PAGE) {
			t->err = errno;
			break;
		}
		if (read(p[0], t->out + off, PAGE) != PAGE) {
			t->err = EIO;
			break;
		}
	}
	close(p[0]);
	close(p[1]);
	return NULL;
}

/* Runs a toucher thread; 0 if it ended within 10 s. */
static int run_toucher(struct toucher *t)
{
	struct timespec ts;
	pthread_t th;

	if (pthread_create(&th, NULL, touch, t))
		return -1;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	if (pthread_timedjoin_np(th, NULL, &ts)) {
		printf("  the toucher is still waiting after 10 s\n");
		return -1;
	}
	return 0;
}

struct lazy_vm {
	struct guest_mem m;
	struct snaplazy l;
	char err[400];
};

/* RAM registered for fd, the handler started. 1: no userfaultfd here. */
static int start(struct lazy_vm *v, int fd, uint64_t zero_from, const uint8_t (*digests)[SNAPAUTH_DIGEST])
{
	struct mem_range end = { zero_from, RAM - zero_from };
	int r;

	fail_calls = 0;
	fail_why[0] = 0;
	if (mem_create(&v->m, RAM))
		return -1;
	r = snaplazy_attach(&v->l, &v->m, fd, &end, zero_from && zero_from < RAM, digests, CHUNKS, v->err,
			    sizeof(v->err));
	if (r == -EPERM || r == -ENOSYS) {
		mem_destroy(&v->m);
		return 1;
	}
	if (r) {
		printf("  attach: %s\n", v->err);
		mem_destroy(&v->m);
		return -1;
	}
	return snaplazy_start(&v->l, false, on_fail, NULL) ? -1 : 0;
}

static void stop(struct lazy_vm *v)
{
	snaplazy_release(&v->l);
	mem_destroy(&v->m);
}

TEST(snaplazy_serves_checked_chunks)
{
	char path[] = "/tmp/kindling-lazy-XXXXXX";
	uint8_t (*digests)[SNAPAUTH_DIGEST] = malloc(CHUNKS * SNAPAUTH_DIGEST);
	uint8_t *ram, *out = calloc(1, RAM);
	size_t data_pages, ws[RAM / PAGE / 37 + 1], nr = 0;
	struct lazy_vm v;
	struct toucher t;
	int fd, r;

	CHECK(digests && out && (ram = make_ram(&data_pages)) != NULL);
	snapauth_digest_ram(ram, RAM, digests);
	CHECK(mkstemp(path) >= 0);
	CHECK((fd = write_file(path, ram, RAM)) >= 0);
	r = start(&v, fd, ZERO_FROM, (const uint8_t(*)[SNAPAUTH_DIGEST])digests);
	if (r == 1)
		SKIP("no userfaultfd here (vm.unprivileged_userfaultfd=0 and no CAP_SYS_PTRACE?)");
	CHECK(r == 0);
	/* A working set spread over every chunk, as a vCPU's (through the kernel, as KVM). */
	for (size_t pg = 5; pg < RAM / PAGE; pg += 37)
		ws[nr++] = pg;
	t = (struct toucher){ .ram = v.m.map, .pages = ws, .nr = nr, .out = out };
	CHECK(run_toucher(&t) == 0);
	CHECK(t.err == 0 && t.done == nr);
	for (size_t i = 0; i < nr; i++)
		CHECK(memcmp(out + ws[i] * PAGE, ram + ws[i] * PAGE, PAGE) == 0);
	/* Every byte, directly (as device emulation reads rings): the file's, zeros elsewhere. */
	CHECK(memcmp(v.m.map, ram, RAM) == 0);
	CHECK(!snaplazy_failed(&v.l) && fail_calls == 0);
	stop(&v);
	/* Each chunk read and checked once; the hole and the zero end not read; zero pages of a
	 * sparse chunk not copied (the zero page instead). */
	CHECK(v.l.chunks_read == 3 && v.l.chunks_zero == 2);
	CHECK(v.l.pages_copied == data_pages);
	close(fd);
	unlink(path);
	free(ram);
	free(out);
	free(digests);
}

TEST(snaplazy_flipped_byte_never_reaches_the_toucher)
{
	char path[] = "/tmp/kindling-lazy-XXXXXX";
	uint8_t (*digests)[SNAPAUTH_DIGEST] = malloc(CHUNKS * SNAPAUTH_DIGEST);
	uint8_t *ram, *out = malloc(RAM);
	size_t data_pages;
	struct {
		off_t off;
		size_t page; /* the page the toucher then reads */
		const char *chunk;
	} flips[] = {
		{ (3u << 20) * 2 + 100, (6u << 20) / PAGE + 3, "chunk 3 " }, /* data */
		{ (4u << 20) + 7, (4u << 20) / PAGE + 200, "chunk 2 " },     /* a hole, made data */
		{ (2u << 20) + 40 * PAGE, (2u << 20) / PAGE, "chunk 1 " },  /* a zero page of a sparse chunk */
		{ SNAPAUTH_CHUNK - 1, 1, "chunk 0 " },                       /* the last byte of chunk 0 */
	};
	int fd;

	CHECK(digests && out && (ram = make_ram(&data_pages)) != NULL);
	snapauth_digest_ram(ram, RAM, digests);
	CHECK(mkstemp(path) >= 0);
	CHECK((fd = write_file(path, ram, RAM)) >= 0);
	for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
		/* A good page first (chunk 4, zero; chunk 0 for the others), then the bad one. */
		size_t pages[2] = { flips[i].page < RAM / PAGE / 5 ? (9u << 20) / PAGE : 0, flips[i].page };
		struct toucher t;
		struct lazy_vm v;
		int r;

		CHECK(flip_at(fd, flips[i].off) == 0);
		r = start(&v, fd, ZERO_FROM, (const uint8_t(*)[SNAPAUTH_DIGEST])digests);
		if (r == 1)
			SKIP("no userfaultfd here (vm.unprivileged_userfaultfd=0 and no CAP_SYS_PTRACE?)");
		CHECK(r == 0);
		memset(out, 0xaa, RAM);
		t = (struct toucher){ .ram = v.m.map, .pages = pages, .nr = 2, .out = out };
		CHECK(run_toucher(&t) == 0);
		if (t.done != 1 || t.err != EFAULT || !snaplazy_failed(&v.l) || fail_calls != 1 ||
		    !strstr(fail_why, flips[i].chunk) || !strstr(fail_why, "does not match")) {
			printf("  flip at %lld: done %zu, err %d, failed %d, calls %d: %s\n", (long long)flips[i].off, t.done,
			       t.err, snaplazy_failed(&v.l), fail_calls, fail_why);
			CHECK(0);
		}
		CHECK(memcmp(out + pages[0] * PAGE, ram + pages[0] * PAGE, PAGE) == 0);
		/* Not one byte of the refused chunk came through. */
		for (size_t b = 0; b < PAGE; b++)
			CHECK(out[pages[1] * PAGE + b] == 0xaa);
		stop(&v);
		CHECK(flip_at(fd, flips[i].off) == 0); /* back */
	}
	close(fd);
	unlink(path);
	free(ram);
	free(out);
	free(digests);
}

/* A zero end moved down (a trailer edited) would zero data the digests cover: refused,
 * though nothing is read. */
TEST(snaplazy_zero_end_moved_down)
{
	char path[] = "/tmp/kindling-lazy-XXXXXX";
	uint8_t (*digests)[SNAPAUTH_DIGEST] = malloc(CHUNKS * SNAPAUTH_DIGEST);
	uint8_t *ram, *out = malloc(RAM);
	size_t data_pages, page = (6u << 20) / PAGE;
	struct toucher t;
	struct lazy_vm v;
	int fd, r;

	CHECK(digests && out && (ram = make_ram(&data_pages)) != NULL);
	snapauth_digest_ram(ram, RAM, digests);
	CHECK(mkstemp(path) >= 0);
	CHECK((fd = write_file(path, ram, RAM)) >= 0);
	r = start(&v, fd, 6u << 20, (const uint8_t(*)[SNAPAUTH_DIGEST])digests);
	if (r == 1)
		SKIP("no userfaultfd here");
	CHECK(r == 0);
	t = (struct toucher){ .ram = v.m.map, .pages = &page, .nr = 1, .out = out };
	CHECK(run_toucher(&t) == 0);
	CHECK(t.done == 0 && t.err == EFAULT && snaplazy_failed(&v.l) && strstr(fail_why, "chunk 3 "));
	stop(&v);
	close(fd);
	unlink(path);
	free(ram);
	free(out);
	free(digests);
}

/* A memory file shorter than its RAM (cut inside chunk 1's data), or one that cannot be
 * read: a clear error naming the chunk, and nothing reaches the toucher. */
TEST(snaplazy_short_or_unreadable_file)
{
	char path[] = "/tmp/kindling-lazy-XXXXXX";
	uint8_t (*digests)[SNAPAUTH_DIGEST] = malloc(CHUNKS * SNAPAUTH_DIGEST);
	uint8_t *ram, *out = malloc(RAM);
	size_t data_pages, page = (2u << 20) / PAGE + 1, first = 0;
	struct toucher t;
	struct lazy_vm v;
	int fd, wfd, r;

	CHECK(digests && out && (ram = make_ram(&data_pages)) != NULL);
	snapauth_digest_ram(ram, RAM, digests);
	CHECK(mkstemp(path) >= 0);
	CHECK((fd = write_file(path, ram, (2u << 20) + 5 * PAGE)) >= 0);
	r = start(&v, fd, ZERO_FROM, (const uint8_t(*)[SNAPAUTH_DIGEST])digests);
	if (r == 1)
		SKIP("no userfaultfd here");
	CHECK(r == 0);
	t = (struct toucher){ .ram = v.m.map, .pages = &page, .nr = 1, .out = out };
	CHECK(run_toucher(&t) == 0);
	if (t.err != EFAULT || !strstr(fail_why, "cannot read chunk 1 of the memory file")) {
		printf("  short file: err %d: %s\n", t.err, fail_why);
		CHECK(0);
	}
	stop(&v);
	/* Write-only: the handler's pread fails. */
	CHECK((wfd = open(path, O_WRONLY | O_CLOEXEC)) >= 0);
	r = start(&v, wfd, ZERO_FROM, (const uint8_t(*)[SNAPAUTH_DIGEST])digests);
	CHECK(r == 0);
	t = (struct toucher){ .ram = v.m.map, .pages = &first, .nr = 1, .out = out };
	CHECK(run_toucher(&t) == 0);
	if (t.err != EFAULT || !strstr(fail_why, "cannot read chunk 0 of the memory file") ||
	    !strstr(fail_why, strerror(EBADF))) {
		printf("  write-only file: err %d: %s\n", t.err, fail_why);
		CHECK(0);
	}
	stop(&v);
	/* Digests for another RAM size: refused at attach. */
	CHECK(mem_create(&v.m, RAM) == 0);
	CHECK(snaplazy_attach(&v.l, &v.m, fd, NULL, 0, (const uint8_t(*)[SNAPAUTH_DIGEST])digests, CHUNKS - 1, v.err,
			      sizeof(v.err)) == -EINVAL);
	mem_destroy(&v.m);
	close(wfd);
	close(fd);
	unlink(path);
	free(ram);
	free(out);
	free(digests);
}
