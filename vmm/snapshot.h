/* Snapshots of a microVM: Firecracker's PUT /snapshot/create and /snapshot/load (and
 * `kindling --restore`) come here. The state file's format is snapfile.h's. */
#ifndef KINDLING_SNAPSHOT_H
#define KINDLING_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>

struct vmm;
struct vmm_config;

enum snapshot_type { SNAPSHOT_FULL, SNAPSHOT_DIFF };

struct snapshot_create_params {
	enum snapshot_type type;
	const char *state_path; /* Firecracker's snapshot_path */
	const char *mem_path;   /* mem_file_path */
};

enum snapshot_mem_backend { SNAPSHOT_MEM_FILE, SNAPSHOT_MEM_UFFD };

struct snapshot_load_params {
	const char *state_path;
	enum snapshot_mem_backend backend;
	const char *backend_path; /* the memory file, or the page-fault handler's Unix socket */
	bool track_dirty_pages;   /* enable_diff_snapshots / track_dirty_pages */
	bool resume;              /* resume_vm */
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
