/* What the API asks of the devices of a microVM: their counters for the metrics line (one
 * object per device, through each device's metrics op), their rate limiters, and
 * Ctrl+Alt+Del. Runs on the event loop thread, which is also the one that updates the
 * virtio counters. */
#include <errno.h>

#include "log.h"
#include "ratelimit.h"

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

int vmm_set_rate_limiter(struct vmm *v, unsigned kind, const char *id, enum device_limiter which,
			 const struct rl_update *u, char *err, size_t errlen)
{
	struct device *d = device_find(&v->devices, kind, id);

	if (!d)
		return errorf(err, errlen, -ENODEV, "no %s device with id '%s'", device_kind_name(kind), id);
	if (!d->ops->set_rate_limiter) {
		log_warn("%s %s: rate limiters are not enforced by this device yet; it runs unlimited",
			 device_kind_name(kind), id);
		return 0;
	}
	return d->ops->set_rate_limiter(d, which, u, err, errlen);
}
