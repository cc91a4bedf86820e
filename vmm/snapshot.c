/* Snapshot create and load (snapshot.h): the VMM's side of Firecracker's /snapshot API.
 * The state file's format is snapfile.c's, the memory file's snapmem.c's. */
#include "snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "log.h"
#include "prefetch.h"
#include "snapauth.h"
#include "snapfile.h"
#include "snaplazy.h"
#include "snapmem.h"
#include "snapuffd.h"
#include "vmm.h"

/* The configuration of a VM built by a load: it lives as long as the VM. */
static struct vmm_config loaded_cfg;
/* The page-fault handler of a VM loaded with the Uffd backend: as long as the VM too. */
static struct snapuffd loaded_uffd;
/* The lazy verifier of a signed snapshot loaded with --snapshot-verify lazy: as long as the VM. */
static struct snaplazy loaded_lazy;
/* The prefetch thread of a VM loaded with a working set (joined by vmm_uncreate/vmm_run). */
static struct prefetch loaded_prefetch;

/* On the uffd monitor thread: the handler went away or stopped serving. The VM cannot go
 * on (its next fault would wait forever), so it stops with the reason; the monitor then
 * wakes the faults still waiting, so that the vCPUs can be joined. */
static void on_uffd_fail(void *opaque, const char *why)
{
	struct vmm *v = opaque;

	vm_stop(&v->vm, 1, "%s", why);
}

/* On the lazy verifier's thread: a chunk failed its digest (or could not be read). The
 * verifier then fences the RAM, so that nothing waiting on that chunk reads anything. */
static void on_lazy_fail(void *opaque, const char *why)
{
	struct vmm *v = opaque;

	vm_stop(&v->vm, 1, "%s", why);
}

/* The CPU identity the guest sees on this host: vCPU 0's filtered CPUID. */
static int guest_cpu_identity(const struct vm *vm, struct snap_cpu_id *id)
{
	size_t sz = sizeof(*vm->cpuid) + vm->cpuid->nent * sizeof(vm->cpuid->entries[0]);
	struct kvm_cpuid2 *c = malloc(sz);
	int r;

	if (!c)
		return -ENOMEM;
	memcpy(c, vm->cpuid, sz);
	cpu_filter_cpuid(c, 0, vm->nr_vcpus);
	r = snap_cpu_identity(c, id);
	free(c);
	return r;
}

int vmm_snapshot_create(struct vmm *v, const struct snapshot_create_params *p, char *err, size_t errlen)
{
	struct snapfile s = { 0 };
	uint64_t *dirty = NULL;
	int r;

	if (v->state != VMM_PAUSED)
		return errorf(err, errlen, -EINVAL, "the microVM must be paused");
	if (p->type == SNAPSHOT_DIFF && !v->vm.cfg.dirty_log)
		return errorf(err, errlen, -EINVAL, "Diff snapshots need track_dirty_pages");
	/* A diff holds the pages written since the last snapshot taken or loaded: without one,
	 * it would lack what was loaded before dirty pages were tracked (the kernel). */
	if (p->type == SNAPSHOT_DIFF && !v->has_snapshot)
		return errorf(err, errlen, -EINVAL,
			      "a Diff snapshot needs a Full snapshot taken (or one loaded) before it in this microVM");
	if (v->vm.cfg.dirty_log) {
		/* Taken for a Full snapshot too: the next diff starts from it. */
		dirty = calloc(mem_bitmap_words(&v->vm.mem), sizeof(*dirty));
		if (!dirty)
			return errorf(err, errlen, -ENOMEM, "out of memory");
		r = vm_take_dirty(&v->vm, dirty, err, errlen);
		if (r)
			goto out;
	}
	s.kvm = calloc(1, sizeof(*s.kvm));
	if (!s.kvm)
		return errorf(err, errlen, -ENOMEM, "out of memory");
	if (getrandom(s.id, sizeof(s.id), 0) != (ssize_t)sizeof(s.id)) {
		r = errorf_errno(err, errlen, errno, "getrandom");
		goto out;
	}
	r = guest_cpu_identity(&v->vm, &s.cpu);
	if (r) {
		errorf(err, errlen, r, "CPU identity: %s", strerror(-r));
		goto out;
	}
	if (!v->cfg) {
		r = errorf(err, errlen, -EINVAL, "the microVM's configuration is unknown");
		goto out;
	}
	r = snap_config_from_vmm(&s.config, v->cfg);
	if (r) {
		errorf(err, errlen, r, "out of memory");
		goto out;
	}
	r = vmm_save(v, s.kvm, err, errlen);
	if (r)
		goto out;
	s.devices_len = device_list_save_size(&v->devices);
	s.devices = malloc(s.devices_len);
	if (!s.devices) {
		r = errorf(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	r = device_list_save(&v->devices, s.devices, s.devices_len);
	if (r) {
		errorf(err, errlen, r, "saving the devices: %s", strerror(-r));
		goto out;
	}
	s.mem.ram_size = v->vm.mem.ram_size;
	s.mem.diff = p->type == SNAPSHOT_DIFF ? SNAP_MEM_DIFF : SNAP_MEM_FULL;
	if (v->snapshot_key) {
		/* Of RAM itself, not of the file: a diff's digests are then those of the memory
		 * it makes once merged into its base, which is what a load maps. */
		s.nr_chunks = snapauth_nr_chunks(s.mem.ram_size);
		s.digests = malloc((size_t)s.nr_chunks * SNAPAUTH_DIGEST);
		if (!s.digests) {
			r = errorf(err, errlen, -ENOMEM, "out of memory");
			goto out;
		}
		snapauth_digest_ram(v->vm.mem.map, s.mem.ram_size, s.digests);
		s.is_signed = true;
		s.sign_key = v->snapshot_key;
	}
	/* The memory first: a state file under its final name always has its memory. */
	r = snapmem_write(p->mem_path, &v->vm.mem, p->type == SNAPSHOT_DIFF ? dirty : NULL, s.id,
			  p->type == SNAPSHOT_DIFF ? v->snapshot_id : NULL, false, s.holes, SNAPFILE_MAX_HOLES,
			  &s.nr_holes, err, errlen);
	if (r)
		goto out;
	r = snapfile_write(p->state_path, &s, false, err, errlen);
	if (r) {
		unlink(p->mem_path);
		goto out;
	}
	memcpy(v->snapshot_id, s.id, sizeof(v->snapshot_id));
	v->has_snapshot = true;
out:
	if (r && dirty)
		mem_untake_dirty(&v->vm.mem, dirty); /* a failed snapshot loses no dirty page */
	free(dirty);
	snapfile_free(&s);
	return r;
}

int snapshot_add_drive_path(struct snapshot_drive_path *list, int *n, const char *arg, char *err, size_t errlen)
{
	const char *eq = strchr(arg, '=');
	size_t id_len;

	if (!eq)
		return errorf(err, errlen, -EINVAL, "expected ID=PATH (a drive id of the snapshot, '=', the disk's path)");
	id_len = (size_t)(eq - arg);
	if (id_len == 0 || id_len > CONFIG_ID_MAX)
		return errorf(err, errlen, -EINVAL, "the drive id must be 1-%d characters of [A-Za-z0-9_]", CONFIG_ID_MAX);
	if (!eq[1])
		return errorf(err, errlen, -EINVAL, "an empty path for drive %.*s", (int)id_len, arg);
	if (strlen(eq + 1) >= SNAPFILE_PATH_MAX)
		return errorf(err, errlen, -EINVAL, "the path for drive %.*s is longer than %d bytes", (int)id_len, arg,
			      SNAPFILE_PATH_MAX - 1);
	if (*n >= CONFIG_MAX_DRIVES)
		return errorf(err, errlen, -EINVAL, "more than %d drives (all a snapshot can have)", CONFIG_MAX_DRIVES);
	memcpy(list[*n].id, arg, id_len);
	list[*n].id[id_len] = 0;
	if (!config_valid_id(list[*n].id))
		return errorf(err, errlen, -EINVAL, "'%s' is not a drive id: 1-%d characters of [A-Za-z0-9_]",
			      list[*n].id, CONFIG_ID_MAX);
	for (int i = 0; i < *n; i++) {
		if (!strcmp(list[i].id, list[*n].id))
			return errorf(err, errlen, -EINVAL, "drive %s is given twice", list[*n].id);
	}
	list[*n].path = eq + 1;
	(*n)++;
	return 0;
}

/* "rootfs, scratch" or "none", for a message. */
static void drive_ids(const struct snap_config *c, char *buf, size_t len)
{
	size_t at = 0;

	snprintf(buf, len, "none");
	for (int i = 0; i < c->nr_drives && at < len; i++)
		at += (size_t)snprintf(buf + at, len - at, "%s%s", i ? ", " : "", c->drives[i].id);
}

int snapshot_apply_drive_paths(struct snap_config *c, const struct snapshot_drive_path *list, int n, char *err,
			       size_t errlen)
{
	char *paths[CONFIG_MAX_DRIVES] = { NULL };
	int idx[CONFIG_MAX_DRIVES];
	char ids[CONFIG_MAX_DRIVES * (CONFIG_ID_MAX + 2) + 8];

	if (n < 0 || n > CONFIG_MAX_DRIVES)
		return errorf(err, errlen, -EINVAL, "more than %d drive paths", CONFIG_MAX_DRIVES);
	/* Every check first, then every copy: nothing changes unless all of it can. */
	for (int i = 0; i < n; i++) {
		idx[i] = -1;
		for (int d = 0; d < c->nr_drives; d++) {
			if (!strcmp(c->drives[d].id, list[i].id))
				idx[i] = d;
		}
		if (idx[i] < 0) {
			drive_ids(c, ids, sizeof(ids));
			return errorf(err, errlen, -EINVAL, "the snapshot has no drive '%s' (its drives: %s)", list[i].id,
				      ids);
		}
		for (int j = 0; j < i; j++) {
			if (idx[j] == idx[i])
				return errorf(err, errlen, -EINVAL, "drive %s is given twice", list[i].id);
		}
		if (!list[i].path[0] || strlen(list[i].path) >= SNAPFILE_PATH_MAX)
			return errorf(err, errlen, -EINVAL, "the path for drive %s is empty or too long", list[i].id);
	}
	for (int i = 0; i < n; i++) {
		paths[i] = strdup(list[i].path);
		if (!paths[i]) {
			for (int j = 0; j < i; j++)
				free(paths[j]);
			return errorf(err, errlen, -ENOMEM, "out of memory");
		}
	}
	for (int i = 0; i < n; i++) {
		log_debug("restore: drive %s opened at %s instead of %s", list[i].id, paths[i], c->drives[idx[i]].path);
		free(c->drives[idx[i]].path);
		c->drives[idx[i]].path = paths[i];
	}
	return 0;
}

int vmm_snapshot_load(struct vmm *v, const struct snapshot_load_params *p, char *err, size_t errlen)
{
	const struct wsetfile *wset = p->prefetch;
	struct snap_cpu_id here;
	struct snapfile s = { 0 };
	struct vmm_ram ram;
	struct mem_range zero[SNAPFILE_MAX_HOLES + 1];
	uint64_t zero_from = 0;
	size_t nr_zero;
	char why[300];
	int fd = -1, r;

	if (v->created || v->state != VMM_NOT_STARTED)
		return errorf(err, errlen, -EBUSY, "a microVM already exists");
	/* With a key, the MAC is checked before anything of the file but its CRC and fixed
	 * header is parsed (snapfile_check_auth). */
	r = snapfile_read(p->state_path, v->snapshot_key, &s, err, errlen);
	if (r)
		return r;
	if (v->snapshot_key && p->backend == SNAPSHOT_MEM_UFFD) {
		/* The handler serves pages from a file this process never sees: nothing here could
		 * check them (per-chunk checks in the handler are not built: README). */
		r = errorf(err, errlen, -EINVAL,
			   "a signed snapshot loads with the File memory backend only: the Uffd backend's pages "
			   "cannot be checked against the state file's digests");
		goto out;
	}
	/* Before the config is built from it: the VM opens the new paths and reports them. */
	r = snapshot_apply_drive_paths(&s.config, p->drive_paths, p->nr_drive_paths, err, errlen);
	if (r)
		goto out;
	/* A working set is an optimisation: one that cannot be used is said, and left out. */
	if (wset && p->backend != SNAPSHOT_MEM_FILE) {
		log_warn("prefetch: only with the File memory backend; restoring without it");
		wset = NULL;
	}
	if (wset && wsetfile_check_pages(wset, s.mem.ram_size / WSETFILE_PAGE_SIZE, why, sizeof(why))) {
		log_warn("prefetch: %s; restoring without it", why);
		wset = NULL;
	}
	config_free(&loaded_cfg);
	config_init(&loaded_cfg);
	r = snap_config_to_vmm(&s.config, &loaded_cfg);
	if (r) {
		errorf(err, errlen, r, "out of memory");
		goto out;
	}
	loaded_cfg.track_dirty_pages = p->track_dirty_pages;
	if (p->backend == SNAPSHOT_MEM_UFFD) {
		/* Anonymous RAM whose pages the handler serves: the memory file is the handler's,
		 * so its size and snapshot id cannot be checked here. */
		r = vmm_create(v, &loaded_cfg, NULL, err, errlen);
		if (r)
			goto out;
		r = snapuffd_attach(&loaded_uffd, &v->vm.mem, p->backend_path, SNAPUFFD_DEADLINE_MS, err, errlen);
		if (!r)
			r = snapuffd_watch(&loaded_uffd, v->seccomp, on_uffd_fail, v);
		if (r) {
			snapuffd_release(&loaded_uffd);
			vmm_uncreate(v);
			goto out;
		}
		v->uffd = &loaded_uffd;
	} else {
		fd = snapmem_open(p->backend_path, s.mem.ram_size, s.id, &zero_from, err, errlen);
		if (fd < 0) {
			r = fd;
			goto out;
		}
		/* The state file read and checked, the memory file open: vmm_setup_ms's "files". */
		setuptime_mark(&v->setup, SETUP_FILES);
		nr_zero = snapfile_zero_ranges(&s, zero_from, zero);
		/* In full, before the VM exists: no chunk that fails reaches the guest, and with the
		 * same zero ranges the mapping takes: what the guest sees is what was checked. */
		if (s.is_signed && v->snapshot_verify == SNAPSHOT_VERIFY_FULL) {
			r = snapauth_verify_mem(fd, s.mem.ram_size, zero, nr_zero,
						(const uint8_t(*)[SNAPAUTH_DIGEST])s.digests, err, errlen);
			if (r) {
				errwrap(err, errlen, r, "memory file %s", p->backend_path);
				goto out;
			}
		}
		if (s.is_signed && v->snapshot_verify == SNAPSHOT_VERIFY_LAZY) {
			/* Anonymous RAM that the verifier fills chunk by chunk, each checked first:
			 * what the guest sees is the copy that was checked, never the file. */
			r = vmm_create(v, &loaded_cfg, NULL, err, errlen);
			if (r)
				goto out;
			r = snaplazy_attach(&loaded_lazy, &v->vm.mem, fd, zero, nr_zero,
					    (const uint8_t(*)[SNAPAUTH_DIGEST])s.digests, s.nr_chunks, err, errlen);
			if (r) {
				vmm_uncreate(v);
				goto out;
			}
			r = snaplazy_start(&loaded_lazy, v->seccomp, on_lazy_fail, v);
			if (r) {
				errorf(err, errlen, r, "cannot start the lazy verifier's thread: %s", strerror(-r));
				snaplazy_release(&loaded_lazy);
				vmm_uncreate(v);
				goto out;
			}
			v->lazy = &loaded_lazy;
		} else {
			ram = (struct vmm_ram){ .fd = fd, .private = true, .zero = zero, .nr_zero = nr_zero,
						.small_pages = p->small_pages };
			r = vmm_create(v, &loaded_cfg, &ram, err, errlen);
			if (r)
				goto out;
		}
	}
	r = guest_cpu_identity(&v->vm, &here);
	if (r)
		errorf(err, errlen, r, "CPU identity: %s", strerror(-r));
	else
		r = snap_cpu_check(&s.cpu, &here, err, errlen);
	if (!r)
		r = vmm_restore(v, s.kvm, s.devices, s.devices_len, err, errlen);
	/* The handler failed while the restore touched guest memory. */
	if (!r && v->uffd && snapuffd_failed(v->uffd))
		r = errorf(err, errlen, -EPIPE, "%s", v->uffd->why);
	/* ... or the lazy verifier refused a chunk the restore touched. */
	if (!r && v->lazy && snaplazy_failed(v->lazy))
		r = errorf(err, errlen, -EBADMSG, "memory file %s: %s", p->backend_path, v->lazy->why);
	/* Right before the vCPUs start, which do not wait for it. */
	if (!r && wset) {
		int e = prefetch_start(&loaded_prefetch, &v->vm.mem, wset, v->seccomp);

		if (e)
			log_warn("prefetch: cannot start its thread: %s; restoring without it", strerror(-e));
		else
			v->prefetch = &loaded_prefetch;
	}
	if (!r)
		r = vmm_start_paused(v, !p->resume, err, errlen);
	if (r)
		vmm_uncreate(v);
	if (!r) {
		memcpy(v->snapshot_id, s.id, sizeof(v->snapshot_id));
		v->has_snapshot = true;
	}
	if (!r && p->config) {
		config_free(p->config);
		config_init(p->config);
		if (snap_config_to_vmm(&s.config, p->config) == 0)
			p->config->track_dirty_pages = p->track_dirty_pages;
	}
out:
	if (fd >= 0)
		close(fd);
	snapfile_free(&s);
	return r;
}
