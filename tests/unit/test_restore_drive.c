/* `kindling --restore ... --restore-drive ID=PATH` (vmm/snapshot.c): the argument's parser
 * and its refusals, the override on a state file's config section and on the config the
 * restored VM reports, and a load refused before any VM exists when an id is unknown. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "snapfile.h"
#include "snapshot.h"
#include "test.h"
#include "vmm.h"
#include "wsetfile.h"

TEST(restore_drive_parses_arguments)
{
	struct snapshot_drive_path l[CONFIG_MAX_DRIVES];
	char err[256], arg[32];
	int n = 0;

	CHECK(snapshot_add_drive_path(l, &n, "scratch=/run/fn/1/scratch.img", err, sizeof(err)) == 0);
	CHECK(n == 1 && !strcmp(l[0].id, "scratch") && !strcmp(l[0].path, "/run/fn/1/scratch.img"));
	/* Only the first '=' separates: a path may hold more. */
	CHECK(snapshot_add_drive_path(l, &n, "rootfs=/a=b", err, sizeof(err)) == 0);
	CHECK(n == 2 && !strcmp(l[1].id, "rootfs") && !strcmp(l[1].path, "/a=b"));
	for (int i = 2; i < CONFIG_MAX_DRIVES; i++) {
		snprintf(arg, sizeof(arg), "d%d=p", i);
		CHECK(snapshot_add_drive_path(l, &n, arg, err, sizeof(err)) == 0);
	}
	CHECK(n == CONFIG_MAX_DRIVES);
	CHECK(snapshot_add_drive_path(l, &n, "one_more=p", err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "more than 19 drives") != NULL && n == CONFIG_MAX_DRIVES);
}

TEST(restore_drive_refuses_malformed_arguments)
{
	static const struct {
		const char *arg, *why;
	} bad[] = {
		{ "scratch", "expected ID=PATH" },
		{ "", "expected ID=PATH" },
		{ "=/x", "the drive id must be 1-64 characters" },
		{ "scratch=", "an empty path for drive scratch" },
		{ "bad-id=/x", "'bad-id' is not a drive id" },
		{ "a/b=/x", "'a/b' is not a drive id" },
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=/x", "the drive id must be 1-64" },
		{ "scratch=/other", "drive scratch is given twice" },
	};
	struct snapshot_drive_path l[CONFIG_MAX_DRIVES];
	char err[256], *long_path;
	int n = 0;

	CHECK(snapshot_add_drive_path(l, &n, "scratch=/x", err, sizeof(err)) == 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		if (snapshot_add_drive_path(l, &n, bad[i].arg, err, sizeof(err)) != -EINVAL || !strstr(err, bad[i].why)) {
			printf("  '%s': \"%s\", want \"%s\"\n", bad[i].arg, err, bad[i].why);
			CHECK(0);
		}
		CHECK(n == 1);
	}
	/* A path the state file could not record (SNAPFILE_PATH_MAX with its NUL). */
	long_path = malloc(SNAPFILE_PATH_MAX + 8);
	CHECK(long_path);
	memcpy(long_path, "d=", 2);
	memset(long_path + 2, 'p', SNAPFILE_PATH_MAX);
	long_path[2 + SNAPFILE_PATH_MAX] = 0;
	CHECK(snapshot_add_drive_path(l, &n, long_path, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "the path for drive d is longer than 4095 bytes") != NULL);
	long_path[2 + SNAPFILE_PATH_MAX - 1] = 0; /* 4095 bytes: fits */
	CHECK(snapshot_add_drive_path(l, &n, long_path, err, sizeof(err)) == 0 && n == 2);
	free(long_path);
}

/* A state file's config section with drives rootfs (read-only, root) and scratch. */
static int two_drives(struct snap_config *c)
{
	memset(c, 0, sizeof(*c));
	c->vcpu_count = 1;
	c->mem_size_mib = 64;
	c->nr_drives = 2;
	strcpy(c->drives[0].id, "rootfs");
	c->drives[0].path = strdup("/snap/rootfs.ext4");
	c->drives[0].read_only = c->drives[0].is_root = true;
	strcpy(c->drives[1].id, "scratch");
	c->drives[1].path = strdup("/snap/scratch.img");
	return c->drives[0].path && c->drives[1].path ? 0 : -1;
}

static void free_drives(struct snap_config *c)
{
	for (int i = 0; i < c->nr_drives; i++)
		free(c->drives[i].path);
}

TEST(restore_drive_overrides_the_config)
{
	struct snapshot_drive_path l[CONFIG_MAX_DRIVES];
	struct snap_config sc;
	struct vmm_config vc;
	char err[256];
	int n = 0;

	CHECK(two_drives(&sc) == 0);
	CHECK(snapshot_add_drive_path(l, &n, "scratch=/run/fn/7/scratch.img", err, sizeof(err)) == 0);
	CHECK(snapshot_apply_drive_paths(&sc, l, n, err, sizeof(err)) == 0);
	CHECK(!strcmp(sc.drives[1].path, "/run/fn/7/scratch.img"));
	CHECK(!strcmp(sc.drives[0].path, "/snap/rootfs.ext4"));
	/* The config the VM is built from, and the one GET /vm/config reports, come from it. */
	config_init(&vc);
	CHECK(snap_config_to_vmm(&sc, &vc) == 0);
	CHECK(vc.nr_drives == 2 && !strcmp(vc.drives[1].path, "/run/fn/7/scratch.img"));
	CHECK(!strcmp(vc.drives[1].id, "scratch") && !vc.drives[1].read_only && !vc.drives[1].is_root);
	CHECK(vc.drives[0].read_only && vc.drives[0].is_root);
	config_free(&vc);
	/* No override: nothing changes. */
	CHECK(snapshot_apply_drive_paths(&sc, NULL, 0, err, sizeof(err)) == 0);
	CHECK(!strcmp(sc.drives[1].path, "/run/fn/7/scratch.img"));
	free_drives(&sc);
}

TEST(restore_drive_refuses_unknown_and_duplicate_ids)
{
	struct snapshot_drive_path l[3] = { { "scratch", "/new/scratch" }, { "data", "/new/data" } };
	struct snap_config sc, none = { 0 };
	char err[256];

	CHECK(two_drives(&sc) == 0);
	CHECK(snapshot_apply_drive_paths(&sc, l, 2, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "the snapshot has no drive 'data' (its drives: rootfs, scratch)") != NULL);
	/* All or nothing: the known id before the unknown one kept its path. */
	CHECK(!strcmp(sc.drives[1].path, "/snap/scratch.img"));
	CHECK(snapshot_apply_drive_paths(&none, l, 1, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "the snapshot has no drive 'scratch' (its drives: none)") != NULL);
	/* A list not made by snapshot_add_drive_path may repeat an id. */
	l[1] = (struct snapshot_drive_path){ "scratch", "/other" };
	CHECK(snapshot_apply_drive_paths(&sc, l, 2, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "drive scratch is given twice") != NULL);
	CHECK(!strcmp(sc.drives[1].path, "/snap/scratch.img"));
	free_drives(&sc);
}

/* A state file of a 64 MiB VM with two_drives(), in a new directory. */
static int write_state(char *dir, char *state, size_t len)
{
	struct snapfile s = { 0 };
	char err[600];
	int r;

	if (!mkdtemp(dir))
		return -1;
	snprintf(state, len, "%s/state", dir);
	s.kvm = calloc(1, sizeof(*s.kvm));
	if (!s.kvm || two_drives(&s.config)) {
		snapfile_free(&s);
		return -1;
	}
	s.kvm->nr_cpus = 1;
	s.kvm->kvm.pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
	s.kvm->kvm.pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
	s.kvm->kvm.ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
	s.mem.ram_size = 64ull << 20;
	r = snapfile_write(state, &s, false, err, sizeof(err));
	if (r)
		printf("  snapfile_write: %s\n", err);
	snapfile_free(&s);
	return r;
}

/* The whole load path up to the memory file, which needs no KVM: an unknown id stops it
 * before anything is built; a known one gets it as far as the (missing) memory file. */
TEST(restore_drive_load_refuses_unknown_id_first)
{
	static struct vmm v; /* zeroed: no VM, not started */
	struct snapshot_drive_path l[1] = { { "nope", "/x" } };
	char dir[] = "/tmp/kindling-rdrive-XXXXXX", state[64], err[600];
	struct snapshot_load_params p = { .backend = SNAPSHOT_MEM_FILE, .backend_path = "/nonexistent/mem",
					  .resume = true, .drive_paths = l, .nr_drive_paths = 1 };

	CHECK(write_state(dir, state, sizeof(state)) == 0);
	p.state_path = state;
	CHECK(vmm_snapshot_load(&v, &p, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "the snapshot has no drive 'nope' (its drives: rootfs, scratch)") != NULL);
	CHECK(!v.created && v.state == VMM_NOT_STARTED);
	l[0] = (struct snapshot_drive_path){ "scratch", "/y" };
	CHECK(vmm_snapshot_load(&v, &p, err, sizeof(err)) == -ENOENT);
	CHECK(strstr(err, "/nonexistent/mem") != NULL);
	CHECK(!v.created);
	unlink(state);
	rmdir(dir);
}

/* --prefetch with a working set past the snapshot's RAM (64 MiB: 16384 pages): a warning,
 * and the load goes on (as far as the missing memory file here). */
TEST(restore_prefetch_past_ram_is_not_fatal)
{
	static struct vmm v;
	static const struct wset_range past[] = { { 16380, 5, false } };
	const struct wsetfile w = { .ranges = (struct wset_range *)past, .nr = 1, .pages = 5 };
	char dir[] = "/tmp/kindling-rdrive-XXXXXX", state[64], err[600];
	struct snapshot_load_params p = { .backend = SNAPSHOT_MEM_FILE, .backend_path = "/nonexistent/mem",
					  .resume = true, .prefetch = &w };

	CHECK(write_state(dir, state, sizeof(state)) == 0);
	p.state_path = state;
	CHECK(vmm_snapshot_load(&v, &p, err, sizeof(err)) == -ENOENT);
	CHECK(strstr(err, "/nonexistent/mem") != NULL);
	CHECK(!v.created && v.prefetch == NULL);
	unlink(state);
	rmdir(dir);
}
