/* The restore message (POST /restore): what a guest restored from a memory snapshot must not
 * share with its siblings restored from the same snapshot, sent by the host before the first
 * invocation. Strict JSON of one schema (sjson.h):
 *
 *   { "entropy": "BASE64",     required: 32..512 bytes, credited to the CRNG, then reseeded
 *     "time_ns": N,            required: CLOCK_REALTIME, Unix ns, years 2000..2099
 *     "hostname": "NAME",      optional: 1..64 of [A-Za-z0-9.-], not starting with '-'
 *     "ip": "CLIENT::GW:NETMASK:HOSTNAME:DEV:off",  optional: the kernel's ip= syntax, static
 *     "mac": "02:00:00:00:00:01" }                   optional: unicast, not all zero
 *
 * restore_parse is pure (unit tested); restore_apply* do the privileged work, or in test mode
 * only say on the console what they would do where it cannot be done in a test namespace. */
#ifndef KINDLING_INIT_RESTORE_H
#define KINDLING_INIT_RESTORE_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kcmdline.h"

#define RESTORE_MIN_ENTROPY 32
#define RESTORE_MAX_ENTROPY 512
#define RESTORE_MIN_TIME_NS 946684800000000000ull  /* 2000-01-01T00:00:00Z */
#define RESTORE_MAX_TIME_NS 4102444799999999999ull /* 2099-12-31T23:59:59.999999999Z */

struct restoremsg {
	unsigned char entropy[RESTORE_MAX_ENTROPY];
	size_t entropy_len;
	uint64_t time_ns;
	char hostname[65];  /* "" when neither "hostname" nor the ip's HOSTNAME field gives one */
	bool has_ip, has_mac;
	struct ipconf ip;
	unsigned char mac[6];
};

/* Parses a restore message into m. Nothing is applied. Returns 0, or -EINVAL/-ENOMEM with a
 * message naming the byte offset in err. */
int restore_parse(struct restoremsg *m, const char *json, size_t len, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* RFC 4648 base64, standard alphabet, padded, canonical (unused bits zero), no whitespace.
 * Returns the decoded length, -EINVAL for bad text, -E2BIG when over outlen bytes. */
ssize_t restore_base64_decode(const char *in, size_t inlen, unsigned char *out, size_t outlen)
	__attribute__((warn_unused_result));

/* "aa:bb:cc:dd:ee:ff" (either case) into mac. Returns 0 or -EINVAL. */
int restore_parse_mac(const char *s, unsigned char mac[6]) __attribute__((warn_unused_result));

struct restore_opts {
	bool test;            /* KINDLING_INIT_TEST=1: see restore_apply */
	char dev[IFNAMSIZ];   /* the boot's ip= device: where "mac" goes when "ip" names none */
	bool uts_private;     /* test mode: init has taken a UTS namespace of its own */
};

/* Entropy (RNDADDENTROPY, credited, then RNDRESEEDCRNG), then the clock, then the hostname, in
 * that order; stops at the first failure. In test mode entropy and clock are only printed
 * (they need the initial namespaces and would change the host), and the hostname is set in
 * a UTS namespace init takes for itself. Returns 0, or -errno with a message in err;
 * *applied is a JSON array fragment of what was done (`"entropy","time"`). */
int restore_apply(struct restore_opts *o, const struct restoremsg *m, char *applied, size_t alen, char *err,
		  size_t errlen) __attribute__((warn_unused_result));

/* True when m changes the network (MAC or address), which must wait until the response to
 * /restore has gone out over the old one. */
bool restore_has_net(const struct restoremsg *m);

/* The MAC, then the address/route, then an ARP announcement so that neighbours (the host's
 * tap) learn the new pair at once. Failures are printed on the console. */
void restore_apply_net(const struct restore_opts *o, const struct restoremsg *m);

#endif
