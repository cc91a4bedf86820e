/* The runner's snapshot directory (cli/runsnap.c), on files in a temporary directory: the
 * key and the entry's name, an entry stored and found, stale and damaged entries told
 * apart and removed, two runs storing the same entry, what dead runs leave swept away. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../cli/runsnap.h"
#include "test.h"

struct fixture {
	char root[64];
	char kernel[96], rootfs[96], dir[96];
};

static int write_file(const char *path, const char *data)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fputs(data, f);
	return fclose(f);
}

static int fixture_init(struct fixture *f)
{
	snprintf(f->root, sizeof(f->root), "/tmp/kindling-runsnap-XXXXXX");
	if (!mkdtemp(f->root))
		return -1;
	snprintf(f->kernel, sizeof(f->kernel), "%s/vmlinux", f->root);
	snprintf(f->rootfs, sizeof(f->rootfs), "%s/fn.ext4", f->root);
	snprintf(f->dir, sizeof(f->dir), "%s/snaps", f->root);
	return write_file(f->kernel, "kernel") || write_file(f->rootfs, "rootfs") ? -1 : 0;
}

static void fixture_destroy(struct fixture *f)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
	if (system(cmd) != 0)
		printf("  cannot remove %s\n", f->root);
}

/* How many names in dir start with prefix. */
static int count(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d)))
		n += !strncmp(de->d_name, prefix, strlen(prefix));
	if (d)
		closedir(d);
	return n;
}

/* Stores an entry for k with the given state and mem contents; the published flag. */
static int store(const struct fixture *f, const struct runsnap_key *k, const char *state, const char *mem,
		 bool *published)
{
	struct runsnap_build b;
	char err[256];

	if (runsnap_begin(f->dir, k, &b, err, sizeof(err)) || write_file(b.state, state) || write_file(b.mem, mem))
		return -1;
	return runsnap_commit(f->dir, k, &b, published, err, sizeof(err));
}

TEST(runsnap_key)
{
	static struct runsnap_key a, b;
	static struct fixture f;
	char err[256], dotted[160];
	struct runsnap_fn fn;

	CHECK(fixture_init(&f) == 0);
	fn = (struct runsnap_fn){ f.kernel, f.rootfs, "console=ttyS0 quiet", 1, 128, NULL };
	CHECK(runsnap_key(&fn, &a, err, sizeof(err)) == 0);
	CHECK(strlen(a.name) == RUNSNAP_NAME_LEN && strspn(a.name, "0123456789abcdef") == RUNSNAP_NAME_LEN);
	CHECK(strstr(a.text, "\ncmdline console=ttyS0 quiet\n") && strstr(a.text, "\nvcpus 1\nmem_mib 128\n"));
	CHECK(strstr(a.text + a.named_len, "kernel-file dev=") == a.text + a.named_len);
	/* Another spelling of the same paths is the same key. */
	snprintf(dotted, sizeof(dotted), "%s/../%s/./fn.ext4", f.root, strrchr(f.root, '/') + 1);
	fn.rootfs = dotted;
	CHECK(runsnap_key(&fn, &b, err, sizeof(err)) == 0);
	CHECK(!strcmp(a.text, b.text) && !strcmp(a.name, b.name) && !strcmp(b.rootfs, f.rootfs));
	/* The command line and the machine config name another entry. */
	fn.cmdline = "console=ttyS0";
	CHECK(runsnap_key(&fn, &b, err, sizeof(err)) == 0 && strcmp(a.name, b.name));
	fn.cmdline = "console=ttyS0 quiet";
	fn.vcpus = 2;
	CHECK(runsnap_key(&fn, &b, err, sizeof(err)) == 0 && strcmp(a.name, b.name));
	fn.vcpus = 1;
	fn.mem_mib = 256;
	CHECK(runsnap_key(&fn, &b, err, sizeof(err)) == 0 && strcmp(a.name, b.name));
	fn.mem_mib = 128;
	/* A rewritten rootfs keeps the name (so the old entry is found, and known stale). */
	usleep(20000);
	CHECK(write_file(f.rootfs, "rootfs 2") == 0);
	CHECK(runsnap_key(&fn, &b, err, sizeof(err)) == 0);
	CHECK(!strcmp(a.name, b.name) && strcmp(a.text, b.text) && a.named_len == b.named_len);
	fn.kernel = "/nonexistent/vmlinux";
	CHECK(runsnap_key(&fn, &b, err, sizeof(err)) == -ENOENT && strstr(err, "/nonexistent/vmlinux"));
	fn.kernel = f.kernel;
	fn.cmdline = "console=ttyS0\nquiet";
	CHECK(runsnap_key(&fn, &b, err, sizeof(err)) == -EINVAL);
	fixture_destroy(&f);
}

TEST(runsnap_store_and_find)
{
	static struct runsnap_key k, k2;
	static struct runsnap_entry e;
	static struct fixture f;
	static char keyfile[PATH_MAX + 8];
	struct runsnap_fn fn;
	struct stat st;
	char err[256], why[128];
	bool published = false;
	int fd;

	CHECK(fixture_init(&f) == 0);
	fn = (struct runsnap_fn){ f.kernel, f.rootfs, "quiet", 1, 128, NULL };
	CHECK(runsnap_key(&fn, &k, err, sizeof(err)) == 0);
	CHECK(runsnap_lookup(f.dir, &k, &e, why, sizeof(why)) == RUNSNAP_MISS);
	CHECK(store(&f, &k, "state", "memory", &published) == 0 && published);
	CHECK(stat(f.dir, &st) == 0 && (st.st_mode & 0777) == 0700);
	CHECK(runsnap_lookup(f.dir, &k, &e, why, sizeof(why)) == RUNSNAP_HIT);
	CHECK(strstr(e.state, k.name) && stat(e.state, &st) == 0 && st.st_size == 5 && stat(e.mem, &st) == 0);
	CHECK(count(f.dir, ".tmp-") == 0);

	/* A byte of the state file changed in place: damaged. */
	usleep(20000);
	fd = open(e.state, O_WRONLY);
	CHECK(fd >= 0 && pwrite(fd, "X", 1, 2) == 1);
	close(fd);
	CHECK(runsnap_lookup(f.dir, &k, &e, why, sizeof(why)) == RUNSNAP_DAMAGED && strstr(why, "state file changed"));
	CHECK(runsnap_remove(f.dir, k.name, err, sizeof(err)) == 0);
	CHECK(runsnap_lookup(f.dir, &k, &e, why, sizeof(why)) == RUNSNAP_MISS && count(f.dir, ".dead-") == 0);
	CHECK(runsnap_remove(f.dir, k.name, err, sizeof(err)) == 0); /* already gone */

	/* The memory file truncated, or gone: damaged. */
	CHECK(store(&f, &k, "state", "memory", &published) == 0 && published);
	CHECK(truncate(e.mem, 3) == 0);
	CHECK(runsnap_lookup(f.dir, &k, &e, why, sizeof(why)) == RUNSNAP_DAMAGED && strstr(why, "memory file changed"));
	CHECK(unlink(e.mem) == 0);
	CHECK(runsnap_lookup(f.dir, &k, &e, why, sizeof(why)) == RUNSNAP_DAMAGED && strstr(why, "memory file"));
	CHECK(runsnap_remove(f.dir, k.name, err, sizeof(err)) == 0);

	/* Its key file gone: damaged. */
	CHECK(store(&f, &k, "state", "memory", &published) == 0 && published);
	snprintf(keyfile, sizeof(keyfile), "%s/key", e.path);
	CHECK(unlink(keyfile) == 0);
	CHECK(runsnap_lookup(f.dir, &k, &e, why, sizeof(why)) == RUNSNAP_DAMAGED && strstr(why, "key file"));
	CHECK(runsnap_remove(f.dir, k.name, err, sizeof(err)) == 0);

	/* The rootfs rewritten since: stale, and said so. */
	CHECK(store(&f, &k, "state", "memory", &published) == 0 && published);
	usleep(20000);
	CHECK(write_file(f.rootfs, "rootfs v2") == 0);
	CHECK(runsnap_key(&fn, &k2, err, sizeof(err)) == 0 && !strcmp(k.name, k2.name));
	CHECK(runsnap_lookup(f.dir, &k2, &e, why, sizeof(why)) == RUNSNAP_STALE && strstr(why, "rootfs changed"));
	CHECK(runsnap_remove(f.dir, k2.name, err, sizeof(err)) == 0);
	CHECK(runsnap_lookup(f.dir, &k2, &e, why, sizeof(why)) == RUNSNAP_MISS);

	/* Not a directory: damaged. */
	CHECK(write_file(e.path, "x") == 0);
	CHECK(runsnap_lookup(f.dir, &k2, &e, why, sizeof(why)) == RUNSNAP_DAMAGED);
	fixture_destroy(&f);
}

TEST(runsnap_concurrent_store)
{
	static struct runsnap_build b1, b2;
	static struct runsnap_entry e;
	static struct runsnap_key k;
	static struct fixture f;
	struct runsnap_fn fn;
	char err[256], why[128], buf[16] = { 0 };
	bool p1 = false, p2 = true;
	FILE *in;

	CHECK(fixture_init(&f) == 0);
	fn = (struct runsnap_fn){ f.kernel, f.rootfs, "quiet", 1, 128, NULL };
	CHECK(runsnap_key(&fn, &k, err, sizeof(err)) == 0);
	/* Two runs build the same entry at once: the first to finish stores it, the second's
	 * is discarded without harm to it. */
	CHECK(runsnap_begin(f.dir, &k, &b1, err, sizeof(err)) == 0);
	CHECK(runsnap_begin(f.dir, &k, &b2, err, sizeof(err)) == 0 && strcmp(b1.tmp, b2.tmp));
	CHECK(count(f.dir, ".tmp-") == 2);
	/* A sweep leaves temporaries alone while their builders hold them. */
	runsnap_sweep(f.dir, 0);
	CHECK(count(f.dir, ".tmp-") == 2);
	CHECK(write_file(b1.state, "one") == 0 && write_file(b1.mem, "mem one") == 0);
	CHECK(write_file(b2.state, "two") == 0 && write_file(b2.mem, "mem two") == 0);
	CHECK(runsnap_commit(f.dir, &k, &b1, &p1, err, sizeof(err)) == 0 && p1);
	CHECK(runsnap_commit(f.dir, &k, &b2, &p2, err, sizeof(err)) == 0 && !p2);
	CHECK(b1.lock_fd == -1 && b2.lock_fd == -1 && count(f.dir, ".tmp-") == 0);
	CHECK(runsnap_lookup(f.dir, &k, &e, why, sizeof(why)) == RUNSNAP_HIT);
	in = fopen(e.state, "r");
	CHECK(in && fgets(buf, sizeof(buf), in));
	fclose(in);
	CHECK(!strcmp(buf, "one"));

	/* An aborted build leaves nothing. */
	CHECK(runsnap_begin(f.dir, &k, &b1, err, sizeof(err)) == 0);
	runsnap_abort(&b1);
	runsnap_abort(&b1);
	CHECK(count(f.dir, ".tmp-") == 0 && b1.lock_fd == -1);
	fixture_destroy(&f);
}

TEST(runsnap_sweep)
{
	static struct fixture f;
	char path[160];

	CHECK(fixture_init(&f) == 0);
	CHECK(mkdir(f.dir, 0700) == 0);
	/* What a run killed while it built or removed an entry leaves behind. */
	snprintf(path, sizeof(path), "%s/.tmp-0123456789abcdef-AbCdEf", f.dir);
	CHECK(mkdir(path, 0700) == 0);
	snprintf(path, sizeof(path), "%s/.tmp-0123456789abcdef-AbCdEf/lock", f.dir);
	CHECK(write_file(path, "") == 0);
	snprintf(path, sizeof(path), "%s/.tmp-0123456789abcdef-AbCdEf/mem", f.dir);
	CHECK(write_file(path, "half") == 0);
	snprintf(path, sizeof(path), "%s/.dead-0123456789abcdef-1-00000000", f.dir);
	CHECK(mkdir(path, 0700) == 0);
	snprintf(path, sizeof(path), "%s/keepme", f.dir);
	CHECK(mkdir(path, 0700) == 0);
	/* Too recent to be judged abandoned: a builder may not have locked it yet. */
	runsnap_sweep(f.dir, 60);
	CHECK(count(f.dir, ".tmp-") == 1 && count(f.dir, ".dead-") == 0);
	runsnap_sweep(f.dir, 0);
	CHECK(count(f.dir, ".tmp-") == 0 && count(f.dir, "keepme") == 1);
	fixture_destroy(&f);
}

/* A function with a scratch image: the image keys the entry, and the entry's disk is
 * checked as its state and memory files are. */
TEST(runsnap_scratch_disk)
{
	static struct runsnap_key k, plain, k2;
	static struct runsnap_entry e;
	static struct fixture f;
	static char scratch[128];
	struct runsnap_build b;
	struct runsnap_fn fn;
	char err[256], why[128];
	bool published = false;

	CHECK(fixture_init(&f) == 0);
	snprintf(scratch, sizeof(scratch), "%s/scratch.ext4", f.root);
	CHECK(write_file(scratch, "scratch image") == 0);
	fn = (struct runsnap_fn){ f.kernel, f.rootfs, "quiet", 1, 128, NULL };
	CHECK(runsnap_key(&fn, &plain, err, sizeof(err)) == 0 && !plain.scratch[0]);
	CHECK(strstr(plain.text, "\nscratch -\n"));
	fn.scratch = scratch;
	CHECK(runsnap_key(&fn, &k, err, sizeof(err)) == 0 && !strcmp(k.scratch, scratch));
	CHECK(strcmp(k.name, plain.name) && strstr(k.text + k.named_len, "scratch-file dev="));
	/* Stored with its disk: found; without one, it cannot be stored. */
	CHECK(runsnap_begin(f.dir, &k, &b, err, sizeof(err)) == 0);
	CHECK(write_file(b.state, "state") == 0 && write_file(b.mem, "memory") == 0);
	CHECK(runsnap_commit(f.dir, &k, &b, &published, err, sizeof(err)) != 0 && !published);
	CHECK(runsnap_begin(f.dir, &k, &b, err, sizeof(err)) == 0);
	CHECK(write_file(b.state, "state") == 0 && write_file(b.mem, "memory") == 0 && write_file(b.disk, "disk") == 0);
	CHECK(runsnap_commit(f.dir, &k, &b, &published, err, sizeof(err)) == 0 && published);
	CHECK(runsnap_lookup(f.dir, &k, &e, why, sizeof(why)) == RUNSNAP_HIT && strstr(e.disk, k.name));
	/* The disk changed, or gone: damaged. */
	usleep(20000);
	CHECK(write_file(e.disk, "disk 2") == 0);
	CHECK(runsnap_lookup(f.dir, &k, &e, why, sizeof(why)) == RUNSNAP_DAMAGED && strstr(why, "disk file changed"));
	CHECK(unlink(e.disk) == 0);
	CHECK(runsnap_lookup(f.dir, &k, &e, why, sizeof(why)) == RUNSNAP_DAMAGED && strstr(why, "disk file"));
	CHECK(runsnap_remove(f.dir, k.name, err, sizeof(err)) == 0);
	/* The scratch image rewritten since: stale, and said so. */
	CHECK(store(&f, &k, "state", "memory", &published) != 0); /* no disk */
	CHECK(runsnap_begin(f.dir, &k, &b, err, sizeof(err)) == 0);
	CHECK(write_file(b.state, "state") == 0 && write_file(b.mem, "memory") == 0 && write_file(b.disk, "disk") == 0);
	CHECK(runsnap_commit(f.dir, &k, &b, &published, err, sizeof(err)) == 0 && published);
	usleep(20000);
	CHECK(write_file(scratch, "scratch image 2") == 0);
	CHECK(runsnap_key(&fn, &k2, err, sizeof(err)) == 0 && !strcmp(k.name, k2.name));
	CHECK(runsnap_lookup(f.dir, &k2, &e, why, sizeof(why)) == RUNSNAP_STALE && strstr(why, "scratch image changed"));
	fn.scratch = "/nonexistent/scratch.ext4";
	CHECK(runsnap_key(&fn, &k2, err, sizeof(err)) == -ENOENT && strstr(err, "scratch image"));
	fixture_destroy(&f);
}
