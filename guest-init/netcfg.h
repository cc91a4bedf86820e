/* Network set-up for guest-init with plain ioctls (no netlink, no external tools). */
#ifndef KINDLING_INIT_NETCFG_H
#define KINDLING_INIT_NETCFG_H

#include <stddef.h>

#include "kcmdline.h"

/* Brings the loopback interface up. Returns 0 or -errno. */
int netcfg_lo_up(void) __attribute__((warn_unused_result));

/* Applies a static ip= configuration: address and netmask (skipped when the kernel's IP_PNP
 * already gave the interface that address), link up, default route (EEXIST is fine). When
 * ic->configure is false it only brings the named device up if it exists. Returns 0 or
 * -errno with a description of the failed step in err. */
int netcfg_apply(const struct ipconf *ic, char *err, size_t errlen) __attribute__((warn_unused_result));

/* Sets dev's MAC address (the device must allow it while up, as virtio-net and veth do).
 * Returns 0 or -errno with a description in err. */
int netcfg_set_mac(const char *dev, const unsigned char mac[6], char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Broadcasts a gratuitous ARP request for dev's IPv4 address and MAC, so that neighbours
 * replace what they cached for the address at once. Nothing to do (0) when dev has no IPv4
 * address. Returns 0 or -errno with a description in err. */
int netcfg_announce(const char *dev, char *err, size_t errlen) __attribute__((warn_unused_result));

#endif
