/* Snapshot memory files: RAM with its zero pages as holes, a trailer naming the snapshot,
 * and every wrong file refused when opened for a restore. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snapmem.h"
#include "test.h"

static const uint8_t id1[16] = { 1, 2, 3 }, id2[16] = { 9 };

/* 1 MiB of RAM with three non-zero pages. */
static int make_ram(struct guest_mem *m, uint8_t **p)
{
	*p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (*p == MAP_FAILED || mem_layout(m, 1 << 20, *p))
		return -1;
	m->map = *p;
	m->map_size = 1 << 20;
	(*p)[0] = 0xaa;
	(*p)[5 * 4096 + 7] = 0xbb;
	(*p)[255 * 4096 + 4095] = 0xcc;
	return 0;
}

TEST(snapmem_roundtrip_sparse)
{
	char dir[] = "/tmp/kindling-snapmem-XXXXXX", path[64], err[256];
	struct guest_mem m;
	struct stat st;
	uint8_t *ram, buf[4096];
	int fd;

	CHECK(mkdtemp(dir));
	CHECK(make_ram(&m, &ram) == 0);
	snprintf(path, sizeof(path), "%s/mem", dir);
	CHECK(snapmem_write(path, &m, NULL, id1, NULL, false, NULL, 0, NULL, err, sizeof(err)) == 0);
	CHECK(stat(path, &st) == 0);
	CHECK(st.st_size == (1 << 20) + 4096);
	/* Three data pages and the trailer: the rest are holes. */
	CHECK(st.st_blocks * 512 <= 8 * 4096);
	fd = snapmem_open(path, 1 << 20, id1, NULL, err, sizeof(err));
	CHECK(fd >= 0);
	CHECK(pread(fd, buf, 4096, 5 * 4096) == 4096 && buf[7] == 0xbb && buf[6] == 0);
	CHECK(pread(fd, buf, 4096, 255 * 4096) == 4096 && buf[4095] == 0xcc);
	close(fd);
	/* Another snapshot's id, another RAM size: refused with the reason. */
	CHECK(snapmem_open(path, 1 << 20, id2, NULL, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "another snapshot") != NULL);
	CHECK(snapmem_open(path, 2 << 20, id1, NULL, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "bytes") != NULL);
	unlink(path);
	rmdir(dir);
	munmap(ram, 1 << 20);
}

TEST(snapmem_refuses_wrong_files)
{
	char dir[] = "/tmp/kindling-snapmem-XXXXXX", path[64], err[256];
	int fd;

	CHECK(mkdtemp(dir));
	CHECK(snapmem_open("/nonexistent/mem", 1 << 20, id1, NULL, err, sizeof(err)) == -ENOENT);
	CHECK(snapmem_open(dir, 1 << 20, id1, NULL, err, sizeof(err)) == -EINVAL);
	CHECK(snapmem_open("/dev/zero", 1 << 20, id1, NULL, err, sizeof(err)) == -EINVAL);
	snprintf(path, sizeof(path), "%s/fifo", dir);
	CHECK(mkfifo(path, 0600) == 0);
	CHECK(snapmem_open(path, 1 << 20, id1, NULL, err, sizeof(err)) == -EINVAL); /* and did not block */
	unlink(path);
	/* The right size and no trailer: not a kindling memory file. */
	snprintf(path, sizeof(path), "%s/plain", dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	CHECK(fd >= 0 && ftruncate(fd, (1 << 20) + 4096) == 0);
	close(fd);
	CHECK(snapmem_open(path, 1 << 20, id1, NULL, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "not a kindling memory file") != NULL);
	unlink(path);
	rmdir(dir);
}

TEST(snapmem_write_leaves_nothing_on_failure)
{
	char err[256];
	struct guest_mem m;
	uint8_t *ram;

	CHECK(make_ram(&m, &ram) == 0);
	CHECK(snapmem_write("/nonexistent-dir/mem", &m, NULL, id1, NULL, false, NULL, 0, NULL, err, sizeof(err)) == -ENOENT);
	/* A directory as the final name: the rename fails and the temporary file goes. */
	char dir[] = "/tmp/kindling-snapmem-XXXXXX", path[64];
	CHECK(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/d", dir);
	CHECK(mkdir(path, 0700) == 0);
	CHECK(snapmem_write(path, &m, NULL, id1, NULL, true, NULL, 0, NULL, err, sizeof(err)) < 0);
	CHECK(rmdir(path) == 0);
	CHECK(rmdir(dir) == 0); /* empty: no temporary file left */
	munmap(ram, 1 << 20);
}

/* Full, then a diff of two pages on top of it, merged: the base then holds the diff's
 * pages, keeps its own elsewhere, and goes with the diff's id. */
TEST(snapmem_diff_and_merge)
{
	char dir[] = "/tmp/kindling-snapmem-XXXXXX", base[64], diff[64], other[64], err[256];
	uint64_t dirty[4] = { 0 };
	struct guest_mem m;
	uint8_t *ram, buf[4096];
	int fd;

	CHECK(mkdtemp(dir));
	CHECK(make_ram(&m, &ram) == 0);
	snprintf(base, sizeof(base), "%s/base", dir);
	snprintf(diff, sizeof(diff), "%s/diff", dir);
	snprintf(other, sizeof(other), "%s/other", dir);
	CHECK(snapmem_write(base, &m, NULL, id1, NULL, false, NULL, 0, NULL, err, sizeof(err)) == 0);
	ram[5 * 4096 + 7] = 0x11; /* changed */
	ram[9 * 4096] = 0x22;     /* new */
	ram[0] = 0x33;            /* changed, but not marked dirty: must not reach the base */
	dirty[0] = 1ull << 5 | 1ull << 9;
	CHECK(snapmem_write(diff, &m, dirty, id2, id1, false, NULL, 0, NULL, err, sizeof(err)) == 0);
	/* A diff does not load alone. */
	CHECK(snapmem_open(diff, 1 << 20, id2, NULL, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "merge it into its base") != NULL);
	/* Not on top of another base, nor a full file as the diff. */
	CHECK(snapmem_write(other, &m, NULL, id2, NULL, false, NULL, 0, NULL, err, sizeof(err)) == 0);
	CHECK(snapmem_merge(other, diff, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "not taken on top of") != NULL);
	CHECK(snapmem_merge(base, other, err, sizeof(err)) == -EINVAL);
	CHECK(snapmem_merge(base, diff, err, sizeof(err)) == 0);
	CHECK(snapmem_open(base, 1 << 20, id1, NULL, err, sizeof(err)) == -EINVAL); /* the old id is gone */
	fd = snapmem_open(base, 1 << 20, id2, NULL, err, sizeof(err));
	CHECK(fd >= 0);
	CHECK(pread(fd, buf, 4096, 0) == 4096 && buf[0] == 0xaa);
	CHECK(pread(fd, buf, 4096, 5 * 4096) == 4096 && buf[7] == 0x11);
	CHECK(pread(fd, buf, 4096, 9 * 4096) == 4096 && buf[0] == 0x22);
	CHECK(pread(fd, buf, 4096, 255 * 4096) == 4096 && buf[4095] == 0xcc);
	close(fd);
	unlink(base);
	unlink(diff);
	unlink(other);
	rmdir(dir);
	munmap(ram, 1 << 20);
}

/* The trailer says where the all-zero end of RAM starts: after the last non-zero page of a
 * full file, the later of base's and diff's after a merge; a value that is not a page
 * boundary within RAM is refused as damage. */
TEST(snapmem_zero_end)
{
	char dir[] = "/tmp/kindling-snapmem-XXXXXX", base[64], diff[64], err[256];
	uint64_t dirty[4] = { 0 }, zero_from = 1, bad = 4097;
	struct guest_mem m;
	uint8_t *ram;
	int fd;

	CHECK(mkdtemp(dir));
	CHECK(make_ram(&m, &ram) == 0);
	snprintf(base, sizeof(base), "%s/base", dir);
	snprintf(diff, sizeof(diff), "%s/diff", dir);
	ram[255 * 4096 + 4095] = 0; /* the last non-zero page is now page 5 */
	CHECK(snapmem_write(base, &m, NULL, id1, NULL, false, NULL, 0, NULL, err, sizeof(err)) == 0);
	fd = snapmem_open(base, 1 << 20, id1, &zero_from, err, sizeof(err));
	CHECK(fd >= 0 && zero_from == 6 * 4096);
	close(fd);
	/* A diff writing page 40: the merged file is zero from page 41. */
	ram[40 * 4096] = 0x44;
	dirty[0] = 1ull << 40;
	CHECK(snapmem_write(diff, &m, dirty, id2, id1, false, NULL, 0, NULL, err, sizeof(err)) == 0);
	CHECK(snapmem_merge(base, diff, err, sizeof(err)) == 0);
	fd = snapmem_open(base, 1 << 20, id2, &zero_from, err, sizeof(err));
	CHECK(fd >= 0 && zero_from == 41 * 4096);
	close(fd);
	/* Damaged: the field (bytes 64..71 of the trailer) off a page boundary. */
	fd = open(base, O_WRONLY);
	CHECK(fd >= 0 && pwrite(fd, &bad, sizeof(bad), (1 << 20) + 64) == sizeof(bad));
	close(fd);
	CHECK(snapmem_open(base, 1 << 20, id2, &zero_from, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "trailer is damaged") != NULL);
	unlink(base);
	unlink(diff);
	rmdir(dir);
	munmap(ram, 1 << 20);
}
