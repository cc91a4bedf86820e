/* `kindling run --snapshot-dir DIR`: the directory of function snapshots. What names a
 * snapshot (its key), finding one that can be used (else why not), storing a new one
 * atomically, and removing a stale or damaged one. Files only: the VMM writes and reads the
 * snapshots themselves (runner_snap.c drives it).
 *
 * DIR/NAME/ is one entry: `state` and `mem` (the VMM's Full snapshot), `disk` (the scratch
 * disk as it was then, when the function has one) and `key`, written last; later, `wset`,
 * the working set the first warm run recorded (a hint: not keyed, not checked). NAME is 16 hex
 * digits, a CRC-64 of the function's description (kindling version, kernel, rootfs and
 * scratch image real paths, vCPUs, memory, command line); `key` holds that description,
 * then the identity (device, inode, size, mtime, ctime) of the kernel, the rootfs and the
 * scratch image as they were when the snapshot was taken, then that of the entry's own
 * files. An
 * entry is built in DIR/.tmp-NAME-XXXXXX (held by an flock of its `lock` file) and renamed
 * to DIR/NAME when complete, so a reader sees whole entries or none; a second run that
 * built the same entry meanwhile discards its own. */
#ifndef KINDLING_RUNSNAP_H
#define KINDLING_RUNSNAP_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

/* The function a snapshot is of. */
struct runsnap_fn {
	const char *kernel, *rootfs; /* as given */
	const char *cmdline;
	int vcpus, mem_mib;
	const char *scratch; /* as given; NULL: none */
};

#define RUNSNAP_NAME_LEN 16
#define RUNSNAP_KEY_MAX (3 * PATH_MAX + 2048)

struct runsnap_key {
	char kernel[PATH_MAX], rootfs[PATH_MAX]; /* real paths: what the VMM is given */
	char scratch[PATH_MAX];                  /* "": none */
	char name[RUNSNAP_NAME_LEN + 1];
	char text[RUNSNAP_KEY_MAX];
	size_t named_len; /* text[0..named_len) is what the name is the CRC of */
};

/* Resolves and stats the kernel and the rootfs and builds f's key. 0, or -errno with the
 * reason in err (a missing file; a path with a control character, which the key's lines
 * and the VMM's drive syntax cannot hold). */
int runsnap_key(const struct runsnap_fn *f, struct runsnap_key *k, char *err, size_t errlen)
	__attribute__((warn_unused_result));

enum runsnap_found {
	RUNSNAP_MISS,    /* no entry */
	RUNSNAP_HIT,     /* an entry for this key, untouched since it was stored */
	RUNSNAP_STALE,   /* an entry whose key differs: the kernel or rootfs changed, ... */
	RUNSNAP_DAMAGED, /* an entry with a file missing or changed since it was stored */
};

/* The longest DIR the functions below take (longer: -ENAMETOOLONG, or a MISS). */
#define RUNSNAP_DIR_MAX (PATH_MAX - 64)

struct runsnap_entry {
	char path[PATH_MAX]; /* DIR/NAME */
	char state[PATH_MAX + 8], mem[PATH_MAX + 8], disk[PATH_MAX + 8];
	char wset[PATH_MAX + 8]; /* the working set a warm run recorded (optional; not keyed) */
};

/* Looks k up in dir; e gets the entry's paths whatever the answer. For STALE and DAMAGED,
 * why says why in a few words ("the rootfs changed since it was taken"). */
enum runsnap_found runsnap_lookup(const char *dir, const struct runsnap_key *k, struct runsnap_entry *e, char *why,
				  size_t whylen);

/* Removes DIR/NAME: renamed out of the way first, so that no run sees it half removed. An
 * entry already gone is not an error. */
int runsnap_remove(const char *dir, const char *name, char *err, size_t errlen) __attribute__((warn_unused_result));

struct runsnap_build {
	char tmp[PATH_MAX]; /* DIR/.tmp-NAME-XXXXXX */
	char state[PATH_MAX + 8], mem[PATH_MAX + 8], disk[PATH_MAX + 8];
	int lock_fd;        /* -1: nothing under way */
};

/* Creates dir (mode 0700) if it is missing, removes what runs that died left there, and
 * makes b->tmp for a new entry, whose files the VMM is to write to b->state and b->mem
 * (and the runner the scratch disk to b->disk, when k has one). */
int runsnap_begin(const char *dir, const struct runsnap_key *k, struct runsnap_build *b, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Once the VMM has written b->state and b->mem (and b->disk is written): makes them durable, writes the key, and
 * renames the entry into place. *published is false when another run stored the same
 * entry first (this one is then discarded: not an error). b is finished either way. */
int runsnap_commit(const char *dir, const struct runsnap_key *k, struct runsnap_build *b, bool *published,
		   char *err, size_t errlen) __attribute__((warn_unused_result));

/* Discards an entry under way (a failed snapshot); nothing when there is none. */
void runsnap_abort(struct runsnap_build *b);

/* Removes what runs that died left in dir: temporaries whose builder is gone (its lock is
 * free) and that were last changed over min_age_s seconds ago, and removed entries. */
void runsnap_sweep(const char *dir, int min_age_s);

#endif
