/* Per-device counters for the metrics line: each attached device adds its own object. */
#include "vmm.h"

void vmm_device_metrics(struct vmm *v, struct cJSON *out)
{
	/* Only the legacy devices exist so far; their counters are written by the caller. */
	(void)v;
	(void)out;
}
