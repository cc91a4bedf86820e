/* The recorder side of working-set prefetch (issue 13, vmm/wsetfile.h has the format): which
 * pages of a snapshot's memory file a restored VMM has touched, read from outside the VMM
 * through /proc, and its page-fault counts, for `kindling run --snapshot-dir`. */
#ifndef KINDLING_WSET_H
#define KINDLING_WSET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct wset_stats {
	uint64_t mapped_pages; /* pages of the memory file the VMM maps */
	uint64_t pages;        /* ... of which present (or swapped out): the working set */
	uint64_t written;      /* ... of which written (private copies): the written ranges' pages */
	size_t ranges;         /* the ranges written */
	int mappings;          /* the memory file's mappings (VMAs) found */
	unsigned huge_tried;   /* 2 MiB regions read (WSET_HUGE_MIN_READ pages or more), not written */
	unsigned huge_made;    /* ... of which the file's page cache now holds as huge pages */
};

/* A 2 MiB region is made a huge page of the page cache with this many pages of it read. */
#define WSET_HUGE_MIN_READ 32

/* Writes to out_path (atomically: wsetfile_write) the working set of VMM pid restored over
 * the memory file mem_path: the pages of its mappings of that file that are present in
 * memory or swapped out (/proc/PID/pagemap bits 63 and 62; no PFNs, so no CAP_SYS_ADMIN),
 * as file pages (page P = byte P * 4096 of mem_path); those whose entry is not a file page
 * (bit 61 clear: the private copy a write made) as written ranges. The mappings are those /proc/PID/maps
 * shows with the file's device and inode (or its inode and canonical path, for file systems
 * whose maps show another device number than stat, such as btrfs subvolumes). Needs
 * ptrace-read access to pid (same user, dumpable). Returns 0 or -errno with the reason in
 * err: -ENOENT if pid maps no part of the file. st may be NULL. */
int wset_record(pid_t pid, const char *mem_path, const char *out_path, struct wset_stats *st, char *err,
		size_t errlen) __attribute__((warn_unused_result));

/* Page faults of every thread of pid, living or exited (/proc/PID/stat fields 10 and 12).
 * A vCPU's faults on guest RAM (KVM faulting it in for the guest) count as minor or major
 * faults of its thread, so the difference around an invocation is what it cost in faults. */
struct wset_faults {
	uint64_t minflt, majflt;
};
int wset_faults(pid_t pid, struct wset_faults *out, char *err, size_t errlen) __attribute__((warn_unused_result));

/* The same summed over pid's living threads whose name starts with prefix ("kindling-vcpu":
 * the vCPUs, whose faults are the guest's; not the prefetch thread's), *threads of them. */
int wset_thread_faults(pid_t pid, const char *prefix, struct wset_faults *out, int *threads, char *err,
		       size_t errlen) __attribute__((warn_unused_result));

#endif
