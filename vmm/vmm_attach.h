/* Attaching and detaching the virtio devices of a microVM (vmm_attach.c). */
#ifndef KINDLING_VMM_ATTACH_H
#define KINDLING_VMM_ATTACH_H

#include "vmm.h"

/* Releases every attached virtio device (backends, eventfds, event loop entries). Safe to
 * call more than once and on a half-attached set. */
void vmm_detach_devices(struct vmm *v);

#endif
