/* The host's half of kindling-init's restore message (guest-init/restore.h, POST /restore):
 * fresh entropy from getrandom() and the host's wall clock, for a guest restored from a
 * snapshot that its siblings share. */
#ifndef KINDLING_RESTOREMSG_H
#define KINDLING_RESTOREMSG_H

#include <stddef.h>

#define RESTOREMSG_ENTROPY 64 /* bytes per message; the guest takes 32..512 */

/* Writes the JSON body into buf (NUL-terminated): RESTOREMSG_ENTROPY bytes of getrandom()
 * output, then CLOCK_REALTIME (read as late as it can be), and hostname, ip (the kernel's
 * ip= syntax) and mac when not NULL. They must not
 * contain '"', '\\' or control characters (the guest checks the rest). Returns the length,
 * or -EINVAL, -ENOSPC (buf too small) or getrandom's -errno. */
int restoremsg_build(char *buf, size_t len, const char *hostname, const char *ip, const char *mac)
	__attribute__((warn_unused_result));

#endif
