/* Attaches virtio devices. Until virtio-mmio lands, drives and network interfaces are
 * refused with a clear error rather than silently ignored. */
#include <errno.h>
#include <stdio.h>

#include "vmm.h"

int vmm_attach_devices(struct vmm *v, const struct vmm_config *cfg, char *err, size_t errlen)
{
	(void)v;
	if (cfg->nr_drives || cfg->nr_nets) {
		snprintf(err, errlen, "drives and network interfaces are not supported by this build yet");
		return -ENOTSUP;
	}
	return 0;
}
