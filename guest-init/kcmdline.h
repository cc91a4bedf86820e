/* The kernel command line as guest-init reads it: key lookup with the kernel's own quoting
 * rules, and the kernel's ip= syntax (Documentation/admin-guide/nfs/nfsroot.rst). */
#ifndef KINDLING_INIT_KCMDLINE_H
#define KINDLING_INIT_KCMDLINE_H

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

#define KCMDLINE_MAX 4096

/* Finds the last "key=value" (the kernel lets later parameters override earlier ones) before
 * a bare "--". Returns 1 and copies the unquoted value, 0 when absent, -E2BIG when the value
 * does not fit in out. A bare "key" counts as present with an empty value. */
int kcmdline_get(const char *cmdline, const char *key, char *out, size_t outlen)
	__attribute__((warn_unused_result));

struct ipconf {
	bool configure;       /* static fields were given: we set the address ourselves */
	bool has_addr, has_gw;
	struct in_addr addr, gw, mask;
	char dev[IFNAMSIZ];   /* "eth0" when the field is empty */
	char hostname[65];
	char autoconf[16];    /* "off", "dhcp", ... as given; we only do static */
};

/* Parses the value of ip= (client:server:gw:netmask:hostname:device:autoconf:...).
 * "off"/"none" leave configure false; "dhcp" and friends set autoconf and leave configure
 * false (the kernel's IP_PNP does those, not us). Returns 0 or -EINVAL. */
int kcmdline_parse_ip(const char *value, struct ipconf *ic) __attribute__((warn_unused_result));

/* A hostname init sets (kindling.hostname=, the restore message): 1..64 characters of
 * [A-Za-z0-9.-], not starting with '-'. ip='s own HOSTNAME field is checked more loosely. */
bool kcmdline_hostname_valid(const char *s);

/* The device of kindling.scratch=: a whole virtio disk, /dev/vd[a-z] (not a partition). */
bool kcmdline_scratch_dev_valid(const char *s);

#endif
