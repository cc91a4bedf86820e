/* TEMPORARY: stands in for vmm/snapshot.c until the VMM side of snapshots is merged, so
 * that the API (api/routes_snapshot.c) and `kindling --restore` build and can be tested
 * without it. Delete this file when vmm/snapshot.c lands. */
#include <errno.h>

#include "log.h"
#include "snapshot.h"

int vmm_snapshot_create(struct vmm *v, const struct snapshot_create_params *p, char *err, size_t errlen)
{
	(void)v, (void)p;
	return errorf(err, errlen, -ENOSYS, "snapshots are not built yet");
}

int vmm_snapshot_load(struct vmm *v, const struct snapshot_load_params *p, char *err, size_t errlen)
{
	(void)v, (void)p;
	return errorf(err, errlen, -ENOSYS, "snapshots are not built yet");
}
