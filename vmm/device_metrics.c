/* What the API asks of the devices of a microVM: their counters for the metrics line (one
 * object per device, through each device's metrics op), and Ctrl+Alt+Del. Runs on the
 * event loop thread, which is also the one that updates the virtio counters. */
#include <errno.h>

#include "vmm.h"

void vmm_device_metrics(struct vmm *v, struct cJSON *out)
{
	device_list_metrics(&v->devices, out);
}

int vmm_ctrl_alt_del(struct vmm *v)
{
	struct i8042 *k = devices_i8042(&v->devices);

	return k ? i8042_ctrl_alt_del(k) : -ENODEV;
}
