/* Attaching and detaching the virtio devices of a microVM (vmm_attach.c). */
#ifndef KINDLING_VMM_ATTACH_H
#define KINDLING_VMM_ATTACH_H

#include "vmm.h"

/* Releases every device on the list, virtio and legacy alike (backends, eventfds, event
 * loop entries), the last made first. Safe to call more than once and on a half-made set. */
void vmm_detach_devices(struct vmm *v);

#endif
