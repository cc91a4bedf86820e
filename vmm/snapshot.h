/* Snapshots of a microVM: Firecracker's PUT /snapshot/create and /snapshot/load (and
 * `kindling --restore`) come here. The state file's format is snapfile.h's. */
#ifndef KINDLING_SNAPSHOT_H
#define KINDLING_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct vmm;
struct snap_config;
struct wsetfile;

enum snapshot_type { SNAPSHOT_FULL, SNAPSHOT_DIFF };

struct snapshot_create_params {
	enum snapshot_type type;
	const char *state_path; /* Firecracker's snapshot_path */
	const char *mem_path;   /* mem_file_path */
};

enum snapshot_mem_backend { SNAPSHOT_MEM_FILE, SNAPSHOT_MEM_UFFD };

/* Kindling's `--restore-drive ID=PATH`, a command-line extension (the API's bodies stay
 * Firecracker's): the snapshot's drive ID opened at PATH instead of the path its state file
 * records, e.g. a copy-on-write copy of a scratch disk of its own for each restored VM. The
 * disk must have the size and read-only mode the guest saw (blk_restore checks). */
struct snapshot_drive_path {
	char id[CONFIG_ID_MAX + 1];
	const char *path; /* not copied: valid for as long as the load */
};

/* Parses arg ("ID=PATH") into list[*n] and counts it, refusing (-EINVAL, the reason in err)
 * no '=', an ID that is no drive id, an empty path, a path of SNAPFILE_PATH_MAX bytes or
 * more, an ID already in the list, and more than CONFIG_MAX_DRIVES entries (list's size).
 * The path points into arg. */
int snapshot_add_drive_path(struct snapshot_drive_path *list, int *n, const char *arg, char *err, size_t errlen)
	__attribute__((warn_unused_result));
/* Gives the drives of a state file's config section c that list names their new paths (the
 * restored VM opens them there, and its config reports them). -EINVAL naming the snapshot's
 * drive ids if one in the list is not among them (or is given twice); -ENOMEM. c is
 * unchanged on failure. */
int snapshot_apply_drive_paths(struct snap_config *c, const struct snapshot_drive_path *list, int n, char *err,
			       size_t errlen) __attribute__((warn_unused_result));

struct snapshot_load_params {
	const char *state_path;
	enum snapshot_mem_backend backend;
	const char *backend_path; /* the memory file, or the page-fault handler's Unix socket */
	bool track_dirty_pages;   /* enable_diff_snapshots / track_dirty_pages */
	bool resume;              /* resume_vm */
	/* Command line only (`kindling --restore`): drives opened elsewhere (see above). */
	const struct snapshot_drive_path *drive_paths;
	int nr_drive_paths;
	/* Command line only (`--prefetch FILE`), File backend only: the working set whose pages
	 * a thread of its own populates while the vCPUs start (vmm/prefetch.c). Parsed by the
	 * caller; it must stay valid until vmm_destroy. A set that does not fit the snapshot's
	 * RAM, or a thread that cannot start, is a warning: the load goes on without it. */
	const struct wsetfile *prefetch;
	/* Command line only (`--restore-small-pages`), File backend only: the memory file's zero
	 * ranges with 4 KiB pages whatever the host's THP policy (mem_small_pages). */
	bool small_pages;
	/* If not NULL (a config_init()ed config): on success, the restored VM's configuration
	 * (machine config, drives, network interfaces, kernel path as far as the state file
	 * records them), which GET /vm/config reports after a load, as Firecracker does. */
	struct vmm_config *config;
};

/* Writes the paused VM's state and memory. Both files appear under their final names only
 * once complete (written to temporary names, then renamed); on failure neither is left. */
int vmm_snapshot_create(struct vmm *v, const struct snapshot_create_params *p, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Builds the VM a state file describes, over its memory, and restores it: running if
 * p->resume, else paused (state VMM_PAUSED). Only on a VMM with no microVM configured or
 * started. On failure nothing is left of the VM and the VMM stays usable. */
int vmm_snapshot_load(struct vmm *v, const struct snapshot_load_params *p, char *err, size_t errlen)
	__attribute__((warn_unused_result));

#endif
