/* Guest RAM layout and checked access. */
#include "mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int mem_layout(struct guest_mem *m, uint64_t ram_size, uint8_t *host)
{
	uint64_t low = ram_size < MEM_GAP_START ? ram_size : MEM_GAP_START;

	memset(m, 0, sizeof(*m));
	if (ram_size == 0 || ram_size & 0xfff)
		return -EINVAL;
	m->ram_size = ram_size;
	m->region[0] = (struct mem_region){ .gpa = 0, .size = low, .host = host };
	m->nr_regions = 1;
	if (ram_size > low) {
		m->region[1] = (struct mem_region){
			.gpa = MEM_GAP_END,
			.size = ram_size - low,
			.host = host ? host + low : NULL,
		};
		m->nr_regions = 2;
	}
	return 0;
}

/* Guest RAM starts on a 2 MiB boundary of the VMM's address space, as it does in guest
 * physical memory, so that a 2 MiB range of guest RAM is a 2 MiB range of the mapping: KVM
 * can then map it with one large page wherever the host has a huge page under it (an
 * anonymous transparent huge page, or a huge page of a snapshot file's page cache: wset.c
 * makes those), and where the guest maps it large too (its kernel text, its direct map).
 * mmap(NULL, ...) gives 4 KiB alignment only (Linux before 6.7, and file mappings), and
 * with guest and host addresses out of step KVM maps every page on its own. In the lab: a
 * clone's KVM exits 1160 -> 790 with the snapshot's kernel text in huge pages, a cold
 * boot's 4000 -> 3470 (README). */
void *mem_mmap_aligned(size_t size, int prot, int flags, int fd)
{
	uint8_t *res = mmap(NULL, size + MEM_HUGE_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uint8_t *at, *p;

	if (res == MAP_FAILED)
		return MAP_FAILED;
	at = (uint8_t *)(((uintptr_t)res + MEM_HUGE_SIZE - 1) & ~(uintptr_t)(MEM_HUGE_SIZE - 1));
	p = mmap(at, size, prot, flags | MAP_FIXED, fd, 0);
	if (p == MAP_FAILED) {
		int e = errno;

		munmap(res, size + MEM_HUGE_SIZE);
		errno = e;
		return MAP_FAILED;
	}
	/* The reservation's ends, before and after the mapping. */
	if (at > res)
		munmap(res, (size_t)(at - res));
	if (res + MEM_HUGE_SIZE > at)
		munmap(at + size, (size_t)(res + MEM_HUGE_SIZE - at));
	return p;
}

/* Maps ram_size bytes of RAM (anonymous when fd is -1) and lays them out. */
static int map_ram(struct guest_mem *m, uint64_t ram_size, int flags, int fd)
{
	void *p;
	int r;

	if (ram_size == 0 || ram_size & 0xfff || ram_size > (1ull << 46))
		return -EINVAL;
	p = mem_mmap_aligned(ram_size, PROT_READ | PROT_WRITE, flags | MAP_NORESERVE, fd);
	if (p == MAP_FAILED)
		return -errno;
	r = mem_layout(m, ram_size, p);
	if (r) {
		munmap(p, ram_size);
		return r;
	}
	m->map = p;
	m->map_size = ram_size;
	/* Guest RAM is the bulk of a core dump and holds guest secrets. */
	madvise(p, ram_size, MADV_DONTDUMP);
	return 0;
}

int mem_create(struct guest_mem *m, uint64_t ram_size)
{
	int r = map_ram(m, ram_size, MAP_PRIVATE | MAP_ANONYMOUS, -1);

	if (!r)
		m->anon = true;
	return r;
}

/* A fresh 4 KiB page costs a fault each: the VMM's copy of a 10 MB vmlinux took ~2600 of
 * them, 60 ms on a nested host where each costs ~20 us (benches/setup.sh). Huge pages while
 * the kernel and initrd are copied in take that to a few dozen. Only while they are: the
 * guest's own later faults keep the host's policy, because with huge pages its first touch
 * of a 2 MiB range makes all of it resident and khugepaged would collapse partly used ranges,
 * which a host packing many VMs does not want by default. Both calls cover the whole mapping,
 * so it stays one VMA (benches/api.sh and the smaps readers find guest RAM as one mapping);
 * pages made huge meanwhile stay huge. Under the host's "madvise" policy (or when it cannot
 * be read, e.g. in a jail without /sys) the advice is given, then taken back with
 * MADV_NOHUGEPAGE, which under that policy is what unadvised memory gets; under "always"
 * the memory has huge pages anyway and under "never" it cannot, so nothing is done. */
static bool thp_policy_madvise(void)
{
	char buf[64];
	ssize_t n;
	int fd = open("/sys/kernel/mm/transparent_hugepage/enabled", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return true;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return true;
	buf[n] = 0;
	return strstr(buf, "[madvise]") != NULL;
}

void mem_use_hugepages(struct guest_mem *m)
{
	/* Failing (THP compiled out) leaves 4 KiB pages, as before. */
	m->thp_advised = m->anon && m->map && thp_policy_madvise() &&
			 madvise(m->map, m->map_size, MADV_HUGEPAGE) == 0;
}

void mem_end_hugepages(struct guest_mem *m)
{
	if (m->thp_advised)
		(void)madvise(m->map, m->map_size, MADV_NOHUGEPAGE);
	m->thp_advised = false;
}

/* The guest's free memory is mostly in the all-zero parts of its RAM in a snapshot (the
 * end of RAM, and the largest runs of zero pages below it), and it is what the guest hands
 * out first after a restore. Mapped from the file, a first write to one of their pages
 * costs a zero page in the file's page cache and then a copy of it (tmpfs allocates both);
 * anonymous, one zeroed page, as in a VM that was booted. Only the ranges the snapshot's
 * writer listed: finding every hole of a fragmented file (SEEK_HOLE) and mapping each costs
 * tens of ms (measured: 2047 holes, 10-15 ms of lseek and 10-25 ms of mmap), which a restore
 * cannot afford; one mmap costs ~5 us here (benches/holemap), so the writer lists few. */
bool mem_zero_range_ok(const struct mem_range *z, uint64_t ram_size)
{
	return !(z->off & 0xfff) && !(z->len & 0xfff) && z->len >= MEM_ZERO_MIN && z->off < ram_size &&
	       z->len <= ram_size - z->off;
}

int mem_map_fd(struct guest_mem *m, uint64_t ram_size, int fd, bool private, const struct mem_range *zero,
	       size_t nr_zero)
{
	struct stat st;
	bool any = false;
	int r;

	if (ram_size == 0 || ram_size & 0xfff || ram_size > (1ull << 46))
		return -EINVAL;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	/* A shorter file would SIGBUS the VMM on the first access past its end. */
	if ((uint64_t)st.st_size < ram_size)
		return -EOVERFLOW;
	r = map_ram(m, ram_size, private ? MAP_PRIVATE : MAP_SHARED, fd);
	if (r || !private)
		return r;
	for (size_t i = 0; i < nr_zero; i++) {
		if (!mem_zero_range_ok(&zero[i], ram_size))
			continue;
		/* No falling back to the file's bytes: a signed snapshot's check took this range
		 * as zeros (snapauth_verify_mem), and the file may hold something else there. */
		if (mmap(m->map + zero[i].off, zero[i].len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) == MAP_FAILED) {
			r = -errno;
			mem_destroy(m);
			return r;
		}
		any = true;
	}
	/* One call over all of RAM: the new mappings do not inherit it. */
	if (any)
		madvise(m->map, ram_size, MADV_DONTDUMP);
	return 0;
}

void mem_small_pages(struct guest_mem *m, const struct mem_range *zero, size_t nr_zero)
{
	for (size_t i = 0; m->map && i < nr_zero; i++) {
		if (mem_zero_range_ok(&zero[i], m->map_size))
			(void)madvise(m->map + zero[i].off, zero[i].len, MADV_NOHUGEPAGE);
	}
}

int mem_memfd(uint64_t ram_size)
{
	int fd = memfd_create("kindling-guest-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)ram_size) < 0 || fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

size_t mem_bitmap_words(const struct guest_mem *m)
{
	return (size_t)((m->ram_size / 4096 + 63) / 64);
}

int mem_track_dirty(struct guest_mem *m)
{
	if (!m->dirty)
		m->dirty = calloc(mem_bitmap_words(m), sizeof(uint64_t));
	return m->dirty ? 0 : -ENOMEM;
}

void mem_mark_dirty(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	const uint8_t *p;
	size_t first, last;

	if (!m->dirty || !len)
		return;
	p = mem_ptr(m, gpa, len);
	if (!p)
		return;
	first = (size_t)(p - m->map) / 4096;
	last = (size_t)(p - m->map + len - 1) / 4096;
	for (size_t i = first; i <= last; i++)
		__atomic_fetch_or(&m->dirty[i / 64], 1ull << (i % 64), __ATOMIC_RELAXED);
}

void mem_take_dirty(struct guest_mem *m, uint64_t *bitmap)
{
	if (!m->dirty)
		return;
	for (size_t i = 0; i < mem_bitmap_words(m); i++)
		bitmap[i] |= __atomic_exchange_n(&m->dirty[i], 0, __ATOMIC_RELAXED);
}

void mem_untake_dirty(struct guest_mem *m, const uint64_t *bitmap)
{
	if (!m->dirty)
		return;
	for (size_t i = 0; i < mem_bitmap_words(m); i++)
		__atomic_fetch_or(&m->dirty[i], bitmap[i], __ATOMIC_RELAXED);
}

void mem_destroy(struct guest_mem *m)
{
	free(m->dirty);
	if (m->map)
		munmap(m->map, m->map_size);
	memset(m, 0, sizeof(*m));
}

void *mem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	if (len == 0)
		len = 1;
	for (int i = 0; i < m->nr_regions; i++) {
		const struct mem_region *r = &m->region[i];

		if (gpa < r->gpa)
			continue;
		uint64_t off = gpa - r->gpa;
		/* Written so that no sum can wrap: off < size and len <= size - off. */
		if (off < r->size && len <= r->size - off)
			return r->host ? r->host + off : NULL;
	}
	return NULL;
}

uint64_t mem_low_end(const struct guest_mem *m)
{
	return m->region[0].gpa + m->region[0].size;
}
