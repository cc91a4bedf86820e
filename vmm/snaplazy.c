/* Lazy per-chunk verification of a signed snapshot's memory (snaplazy.h). */
#include "snaplazy.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "ramfence.h"
#include "vmm_seccomp.h"

#define PAGE 4096u

static bool page_zero(const uint8_t *p)
{
	static const uint8_t zero[PAGE];

	return memcmp(p, zero, PAGE) == 0;
}

static int wake(struct snaplazy *l, uint8_t *dst, size_t len)
{
	struct uffdio_range r = { .start = (uintptr_t)dst, .len = len };

	return ioctl(l->uffd, UFFDIO_WAKE, &r) < 0 ? -errno : 0;
}

/* Maps [dst, dst+len) with src's bytes (UFFDIO_COPY), or with the zero page (src NULL:
 * UFFDIO_ZEROPAGE, which allocates nothing until the guest writes), and wakes the faults
 * waiting there. A page already present (a fault read after its chunk was served, which
 * the kernel allows) is left as it is and its waiters woken. */
static int fill(struct snaplazy *l, uint8_t *dst, const uint8_t *src, size_t len)
{
	while (len) {
		int64_t done;
		int r;

		if (src) {
			struct uffdio_copy c = { .dst = (uintptr_t)dst, .src = (uintptr_t)src, .len = len };

			r = ioctl(l->uffd, UFFDIO_COPY, &c);
			done = c.copy;
		} else {
			struct uffdio_zeropage z = { .range = { .start = (uintptr_t)dst, .len = len } };

			r = ioctl(l->uffd, UFFDIO_ZEROPAGE, &z);
			done = z.zeropage;
		}
		if (r == 0)
			return 0;
		/* EAGAIN: part done (done bytes), or the mm was changing: go on from there. */
		if (errno != EEXIST && errno != EAGAIN)
			return -errno;
		if (done < 0)
			done = 0;
		if (errno == EEXIST) {
			r = wake(l, dst, PAGE);
			if (r)
				return r;
			done = PAGE;
		}
		if ((uint64_t)done > len)
			return -EIO;
		dst += done;
		if (src)
			src += done;
		len -= (size_t)done;
	}
	return 0;
}

/* The chunk's pages into RAM: runs of data pages copied, runs of zero pages (holes of a
 * sparse chunk) mapped to the zero page, so that they cost no memory. */
static int fill_chunk(struct snaplazy *l, uint8_t *dst, const uint8_t *src, size_t len)
{
	size_t run = 0;
	bool zero_run = false;

	for (size_t at = 0; at <= len; at += PAGE) {
		bool z = at < len && page_zero(src + at);

		if (at < len && (run == 0 || z == zero_run)) {
			zero_run = z;
			run += PAGE;
			continue;
		}
		if (run) {
			int r = fill(l, dst + at - run, zero_run ? NULL : src + at - run, run);

			if (r)
				return r;
			if (!zero_run)
				l->pages_copied += run / PAGE;
		}
		zero_run = z;
		run = PAGE;
	}
	return 0;
}

/* The first fault in a chunk: read, check, and only then copy. A later fault in a served
 * chunk is one the kernel queued before the copy woke it (or a page dropped since, which
 * nothing here does: anonymous memory reads zero then). */
static int serve(struct snaplazy *l, uint64_t addr)
{
	uint64_t off = (addr - (uintptr_t)l->base) & ~(uint64_t)(PAGE - 1);
	uint8_t d[SNAPAUTH_DIGEST];
	uint32_t i;
	bool zero;
	int r;

	l->faults++;
	if (addr < (uintptr_t)l->base || off >= l->ram_size) {
		snprintf(l->why, sizeof(l->why), "lazy verification: a fault at %#llx, outside guest RAM",
			 (unsigned long long)addr);
		return -EFAULT;
	}
	i = (uint32_t)(off / SNAPAUTH_CHUNK);
	if (l->served[i])
		return fill(l, l->base + off, NULL, PAGE);
	r = snapauth_read_chunk(l->mem_fd, l->ram_size, l->zero, l->nr_zero, i, l->buf, d, &zero);
	if (r < 0) {
		errorf_errno(l->why, sizeof(l->why), -r, "lazy verification: cannot read chunk %u of the memory file", i);
		return r;
	}
	if (snapauth_digest_cmp(d, l->digests[i])) {
		r = snapauth_chunk_mismatch(l->why, sizeof(l->why), l->ram_size, i);
		errwrap(l->why, sizeof(l->why), r, "lazy verification (first touched by the guest or the VMM)");
		return r;
	}
	if (zero) {
		l->chunks_zero++;
		r = fill(l, l->base + (uint64_t)i * SNAPAUTH_CHUNK, NULL, (size_t)r);
	} else {
		l->chunks_read++;
		r = fill_chunk(l, l->base + (uint64_t)i * SNAPAUTH_CHUNK, l->buf, (size_t)r);
	}
	if (r) {
		errorf_errno(l->why, sizeof(l->why), -r, "lazy verification: cannot map chunk %u", i);
		return r;
	}
	l->served[i] = 1;
	return 0;
}

/* Withdraws the RAM (ramfence_fence): whatever waited on a chunk fails, and none of it
 * reads a page that was not verified. */
static void fence(struct snaplazy *l)
{
	if (!l->len || l->uffd < 0)
		return;
	ramfence_fence(l->uffd, l->base, l->len, l->why[0] ? l->why : "the VM is being torn down");
	l->len = 0;
}

/* The handler: its own thread, because any thread may be the one waiting on a fault (the
 * VMM thread's device emulation too). It allocates nothing: its filter has no mmap or brk. */
static void *handler(void *arg)
{
	struct snaplazy *l = arg;
	struct uffd_msg msg[16];

	if (l->seccomp && seccomp_install(SECCOMP_LAZY)) {
		snprintf(l->why, sizeof(l->why), "cannot install the lazy verifier's seccomp filter");
		goto failed;
	}
	for (;;) {
		struct pollfd p[2] = { { .fd = l->uffd, .events = POLLIN }, { .fd = l->wake_fd, .events = POLLIN } };
		ssize_t n;

		if (ppoll(p, 2, NULL, NULL) < 0) {
			if (errno == EINTR)
				continue;
			errorf_errno(l->why, sizeof(l->why), errno, "lazy verification: ppoll");
			goto failed;
		}
		if (p[1].revents & POLLIN)
			break; /* snaplazy_release */
		if (p[0].revents & POLLERR) {
			snprintf(l->why, sizeof(l->why), "lazy verification: the userfaultfd failed");
			goto failed;
		}
		n = read(l->uffd, msg, sizeof(msg));
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0) {
			errorf_errno(l->why, sizeof(l->why), errno, "lazy verification: reading the userfaultfd");
			goto failed;
		}
		for (size_t i = 0; i < (size_t)n / sizeof(msg[0]); i++) {
			if (msg[i].event == UFFD_EVENT_PAGEFAULT && serve(l, msg[i].arg.pagefault.address))
				goto failed;
		}
	}
	fence(l);
	return NULL;
failed:
	__atomic_store_n(&l->failed, true, __ATOMIC_SEQ_CST);
	log_error("%s", l->why);
	if (l->fail)
		l->fail(l->opaque, l->why);
	fence(l);
	return NULL;
}

int snaplazy_attach(struct snaplazy *l, struct guest_mem *m, int fd, const struct mem_range *zero, size_t nr_zero,
		    const uint8_t (*digests)[SNAPAUTH_DIGEST], uint32_t nr_chunks, char *err, size_t errlen)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .range = { .start = (uintptr_t)m->map, .len = m->map_size },
				       .mode = UFFDIO_REGISTER_MODE_MISSING };
	int r;

	memset(l, 0, sizeof(*l));
	l->uffd = l->mem_fd = l->wake_fd = -1;
	l->active = true;
	if (nr_chunks != snapauth_nr_chunks(m->ram_size) || m->map_size < m->ram_size) {
		r = errorf(err, errlen, -EINVAL, "%u chunk digests for %llu bytes of RAM", nr_chunks,
			   (unsigned long long)m->ram_size);
		goto fail;
	}
	l->ram_size = m->ram_size;
	l->nr_zero = nr_zero;
	l->nr_chunks = nr_chunks;
	l->digests = malloc((size_t)nr_chunks * SNAPAUTH_DIGEST);
	l->served = calloc(nr_chunks, 1);
	l->buf = malloc(SNAPAUTH_CHUNK);
	l->zero = calloc(nr_zero ? nr_zero : 1, sizeof(*l->zero));
	if (!l->digests || !l->served || !l->buf || !l->zero) {
		r = errorf(err, errlen, -ENOMEM, "out of memory");
		goto fail;
	}
	memcpy(l->digests, digests, (size_t)nr_chunks * SNAPAUTH_DIGEST);
	if (nr_zero)
		memcpy(l->zero, zero, nr_zero * sizeof(*zero));
	l->mem_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	l->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->mem_fd < 0 || l->wake_fd < 0) {
		r = errorf_errno(err, errlen, errno, "lazy verification");
		goto fail;
	}
	/* Non-blocking: poll() says when a fault is there, and a read never waits. Faults from
	 * the kernel (KVM's accesses to guest memory) too, not only user mode. */
	l->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (l->uffd < 0 && errno == EPERM) {
		r = errorf(err, errlen, -EPERM,
			   "userfaultfd: not permitted (without CAP_SYS_PTRACE, e.g. in a jail, the host needs "
			   "vm.unprivileged_userfaultfd=1); --snapshot-verify full needs none");
		goto fail;
	}
	if (l->uffd < 0) {
		r = errorf_errno(err, errlen, errno, "userfaultfd");
		goto fail;
	}
	if (ioctl(l->uffd, UFFDIO_API, &api) < 0) {
		r = errorf_errno(err, errlen, errno, "UFFDIO_API");
		goto fail;
	}
	/* A page already there would never fault, and so never be checked: none should be. */
	madvise(m->map, m->map_size, MADV_DONTNEED);
	if (ioctl(l->uffd, UFFDIO_REGISTER, &reg) < 0) {
		r = errorf_errno(err, errlen, errno, "UFFDIO_REGISTER");
		goto fail;
	}
	/* Before any thread's filter (no rt_sigaction there): a device that touches the RAM
	 * once it is withdrawn ends the VMM with the reason, not a crash. */
	r = ramfence_install(m->map, m->map_size);
	if (r) {
		errorf(err, errlen, r, "cannot install the guest RAM fault handler: %s", strerror(-r));
		ioctl(l->uffd, UFFDIO_UNREGISTER, &reg.range);
		goto fail;
	}
	l->base = m->map;
	l->len = m->map_size;
	if ((reg.ioctls & ((1ull << _UFFDIO_COPY) | (1ull << _UFFDIO_ZEROPAGE) | (1ull << _UFFDIO_WAKE))) !=
	    ((1ull << _UFFDIO_COPY) | (1ull << _UFFDIO_ZEROPAGE) | (1ull << _UFFDIO_WAKE))) {
		r = errorf(err, errlen, -EOPNOTSUPP, "this kernel's userfaultfd cannot copy or zero guest RAM");
		goto fail;
	}
	return 0;
fail:
	/* Nothing ran on this RAM yet: unregistered, it is plain anonymous memory again. */
	if (l->len)
		ioctl(l->uffd, UFFDIO_UNREGISTER, &reg.range);
	l->len = 0;
	snaplazy_release(l);
	return r;
}

int snaplazy_start(struct snaplazy *l, bool seccomp, void (*fail)(void *opaque, const char *why), void *opaque)
{
	sigset_t all, old;
	int r;

	l->fail = fail;
	l->opaque = opaque;
	l->seccomp = seccomp;
	/* Every signal blocked, inherited: a process-directed one must not land in a thread
	 * whose filter has no handler's calls. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = -pthread_create(&l->thread, NULL, handler, l);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		return r;
	pthread_setname_np(l->thread, "kindling-lazy");
	l->thread_started = true;
	return 0;
}

bool snaplazy_failed(const struct snaplazy *l)
{
	return __atomic_load_n(&l->failed, __ATOMIC_SEQ_CST);
}

void snaplazy_release(struct snaplazy *l)
{
	if (!l->active)
		return;
	if (l->thread_started) {
		uint64_t one = 1;

		/* The handler fences the RAM on its way out, under its own filter. */
		if (write(l->wake_fd, &one, sizeof(one)) < 0)
			log_debug("lazy verifier wake-up: %s", strerror(errno));
		pthread_join(l->thread, NULL);
		l->thread_started = false;
		log_debug("lazy verification: %llu faults, %llu chunks read and checked, %llu zero chunks, %llu pages "
			  "copied", (unsigned long long)l->faults, (unsigned long long)l->chunks_read,
			  (unsigned long long)l->chunks_zero, (unsigned long long)l->pages_copied);
	}
	fence(l);
	if (l->uffd >= 0)
		close(l->uffd);
	if (l->mem_fd >= 0)
		close(l->mem_fd);
	if (l->wake_fd >= 0)
		close(l->wake_fd);
	l->uffd = l->mem_fd = l->wake_fd = -1;
	free(l->digests);
	free(l->served);
	free(l->buf);
	free(l->zero);
	l->zero = NULL;
	l->digests = NULL;
	l->served = l->buf = NULL;
	l->active = false;
}
