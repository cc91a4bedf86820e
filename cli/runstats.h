/* `kindling run --repeat N`: the runs' phase timings, kept apart by kind (cold, warm), their
 * percentiles (nearest rank), the host facts that make two results comparable, and the
 * summary as a table or as one JSON object. No I/O but the host facts and the output. */
#ifndef KINDLING_RUNSTATS_H
#define KINDLING_RUNSTATS_H

#include <stdio.h>

enum runstats_kind { RUNSTATS_COLD, RUNSTATS_WARM, RUNSTATS_KINDS };

/* A run's phases, in ms, in the order of runstats_phase(): cold: VMM setup, kernel to init
 * ready, invocation, teardown, total; warm: restore, restore message, invocation, teardown,
 * total. Then, for both, not a time: the page faults the vCPUs took during the invocation
 * (RUNSTATS_FAULTS; its name does not end in _ms). */
#define RUNSTATS_PHASES 6
#define RUNSTATS_FAULTS 5

struct runstats_run {
	enum runstats_kind kind;
	double ms[RUNSTATS_PHASES];
};

struct runstats {
	struct runstats_run *runs; /* the answered runs, in order */
	int n, cap;
	int requested; /* runs asked for (--repeat) */
	int failed;    /* runs that got no answer from the function */
	int differing; /* answered runs whose output or status differs from the first run's */
};

int runstats_init(struct runstats *s, int cap) __attribute__((warn_unused_result));
void runstats_free(struct runstats *s);

/* Records an answered run; -ENOSPC past cap. */
int runstats_add(struct runstats *s, enum runstats_kind kind, const double ms[RUNSTATS_PHASES])
	__attribute__((warn_unused_result));

int runstats_count(const struct runstats *s, enum runstats_kind kind);

/* "cold" or "warm"; the JSON name of a kind's phase i ("vmm_setup_ms"). */
const char *runstats_kind_name(enum runstats_kind kind);
const char *runstats_phase(enum runstats_kind kind, int i);

/* The nearest-rank p-th percentile (1 <= p <= 100) of sorted[0..n), n >= 1: the smallest
 * value that at least p% of the values are at or below, sorted[ceil(p * n / 100) - 1]. */
double runstats_nearest_rank(const double *sorted, int n, int p);

struct runstats_pct {
	int n; /* 0: no run of this kind, the figures are meaningless */
	double p50, p90, p99, min, max;
};

/* The figures of a kind's phase i over its runs. */
int runstats_summarize(const struct runstats *s, enum runstats_kind kind, int i, struct runstats_pct *out)
	__attribute__((warn_unused_result));

/* What makes two results comparable. guest_kernel_minsn: millions of instructions the guest
 * kernel runs to ready, < 0 when not known (always, for now: JSON null). */
struct runstats_host {
	char kernel[128];    /* uname -r */
	char cpu_model[256]; /* /proc/cpuinfo's first "model name" */
	const char *kvm;     /* check_kvm_flavour() */
	const char *version; /* kindling's */
	double guest_kernel_minsn;
};

/* Reads the host facts; cpuinfo (NULL: /proc/cpuinfo) and sys_module (NULL: /sys/module)
 * are for the tests. What cannot be read is "unknown". */
void runstats_host_read(struct runstats_host *h, const char *cpuinfo, const char *sys_module);

/* The table (kind, phase, n, p50, p90, p99, min, max in ms) of every kind that has runs. */
int runstats_print_table(FILE *f, const struct runstats *s) __attribute__((warn_unused_result));

/* The host facts as the JSON object the summary's "host" is (NULL: out of memory); also for
 * `kindling run --clones --json`. */
struct cJSON;
struct cJSON *runstats_host_json(const struct runstats_host *h);

/* The summary as one JSON object (README.md, `kindling run --repeat`): malloc'd text without
 * a final line break, or NULL when out of memory. Host strings that are not UTF-8 have their
 * stray bytes replaced by '?'. */
char *runstats_json(const struct runstats *s, const struct runstats_host *h);

#endif
