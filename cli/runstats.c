/* `kindling run --repeat`: phase timings, percentiles and the summary (see runstats.h). */
#include "runstats.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "check.h"
#include "routes.h" /* KINDLING_VERSION */

static const char *const phase_names[RUNSTATS_KINDS][RUNSTATS_PHASES] = {
	[RUNSTATS_COLD] = { "vmm_setup_ms", "boot_to_ready_ms", "invocation_ms", "teardown_ms", "total_ms",
			    "invocation_faults" },
	[RUNSTATS_WARM] = { "restore_ms", "restore_message_ms", "invocation_ms", "teardown_ms", "total_ms",
			    "invocation_faults" },
};

int runstats_init(struct runstats *s, int cap)
{
	memset(s, 0, sizeof(*s));
	s->runs = calloc(cap > 0 ? (size_t)cap : 1, sizeof(*s->runs));
	if (!s->runs)
		return -ENOMEM;
	s->cap = cap;
	return 0;
}

void runstats_free(struct runstats *s)
{
	free(s->runs);
	s->runs = NULL;
	s->n = s->cap = 0;
}

int runstats_add(struct runstats *s, enum runstats_kind kind, const double ms[RUNSTATS_PHASES])
{
	if (s->n >= s->cap || (int)kind < 0 || (int)kind >= RUNSTATS_KINDS)
		return -ENOSPC;
	s->runs[s->n].kind = kind;
	memcpy(s->runs[s->n].ms, ms, sizeof(s->runs[s->n].ms));
	s->n++;
	return 0;
}

int runstats_count(const struct runstats *s, enum runstats_kind kind)
{
	int n = 0;

	for (int i = 0; i < s->n; i++)
		n += s->runs[i].kind == kind;
	return n;
}

const char *runstats_kind_name(enum runstats_kind kind)
{
	return kind == RUNSTATS_WARM ? "warm" : "cold";
}

const char *runstats_phase(enum runstats_kind kind, int i)
{
	return (int)kind >= 0 && (int)kind < RUNSTATS_KINDS && i >= 0 && i < RUNSTATS_PHASES ? phase_names[kind][i] : "?";
}

double runstats_nearest_rank(const double *sorted, int n, int p)
{
	/* In integers: ceil(p * n / 100) without a float's 0.9 * 10 = 9.000...01. */
	long rank = ((long)p * n + 99) / 100;

	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return sorted[rank - 1];
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int runstats_summarize(const struct runstats *s, enum runstats_kind kind, int i, struct runstats_pct *out)
{
	double *v;
	int n = 0;

	memset(out, 0, sizeof(*out));
	if (i < 0 || i >= RUNSTATS_PHASES)
		return -EINVAL;
	v = malloc((s->n > 0 ? (size_t)s->n : 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (int r = 0; r < s->n; r++)
		if (s->runs[r].kind == kind)
			v[n++] = s->runs[r].ms[i];
	if (n) {
		qsort(v, (size_t)n, sizeof(*v), cmp_double);
		*out = (struct runstats_pct){ .n = n,
					      .p50 = runstats_nearest_rank(v, n, 50),
					      .p90 = runstats_nearest_rank(v, n, 90),
					      .p99 = runstats_nearest_rank(v, n, 99),
					      .min = v[0],
					      .max = v[n - 1] };
	}
	free(v);
	return 0;
}

/* Replaces each byte that is not part of a well-formed UTF-8 sequence by '?'. */
static void utf8_scrub(char *s)
{
	unsigned char *p = (unsigned char *)s;

	while (*p) {
		int len = *p < 0x80 ? 1 : (*p >> 5) == 6 ? 2 : (*p >> 4) == 14 ? 3 : (*p >> 3) == 30 ? 4 : 0;
		bool ok = len > 0;
		unsigned cp = len == 1 ? *p : len ? *p & (0x7f >> len) : 0;

		for (int k = 1; ok && k < len; k++) {
			ok = (p[k] & 0xc0) == 0x80; /* also stops at the NUL */
			cp = (cp << 6) | (p[k] & 0x3f);
		}
		/* Overlong forms, surrogates and code points past U+10FFFF are not UTF-8 either. */
		if (ok && ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
			   (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff))
			ok = false;
		if (!ok) {
			*p++ = '?';
			continue;
		}
		p += len;
	}
}

/* The value of /proc/cpuinfo's first "model name" line, trimmed. */
static void cpu_model(const char *cpuinfo, char *out, size_t len)
{
	FILE *f = fopen(cpuinfo, "re");
	char line[512];

	snprintf(out, len, "unknown");
	while (f && fgets(line, sizeof(line), f)) {
		char *v = strchr(line, ':'), *end;

		if (strncmp(line, "model name", 10) || !v)
			continue;
		for (v++; *v == ' ' || *v == '\t'; v++)
			;
		end = v + strlen(v);
		while (end > v && (end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
			*--end = 0;
		if (*v)
			snprintf(out, len, "%s", v);
		break;
	}
	if (f)
		fclose(f);
}

void runstats_host_read(struct runstats_host *h, const char *cpuinfo, const char *sys_module)
{
	struct utsname u;

	memset(h, 0, sizeof(*h));
	snprintf(h->kernel, sizeof(h->kernel), "%s", uname(&u) == 0 ? u.release : "unknown");
	cpu_model(cpuinfo ? cpuinfo : "/proc/cpuinfo", h->cpu_model, sizeof(h->cpu_model));
	h->kvm = check_kvm_flavour(sys_module);
	h->version = KINDLING_VERSION;
	h->guest_kernel_minsn = -1;
}

int runstats_print_table(FILE *f, const struct runstats *s)
{
	int r = 0;

	fprintf(f, "kindling run --repeat %d: %d cold, %d warm, %d failed, %d with another output or status "
		   "(ms, faults in pages; percentiles by nearest rank)\n",
		s->requested, runstats_count(s, RUNSTATS_COLD), runstats_count(s, RUNSTATS_WARM), s->failed,
		s->differing);
	for (int k = 0; k < RUNSTATS_KINDS; k++) {
		if (!runstats_count(s, k))
			continue;
		fprintf(f, "%-5s %-19s %6s %10s %10s %10s %10s %10s\n", "kind", "phase", "n", "p50", "p90", "p99",
			"min", "max");
		for (int i = 0; i < RUNSTATS_PHASES; i++) {
			struct runstats_pct p;
			const char *name = runstats_phase(k, i);

			if ((r = runstats_summarize(s, k, i, &p)))
				return r;
			/* "vmm_setup_ms" -> "vmm_setup": the header says ms. Faults are counts. */
			if (i == RUNSTATS_FAULTS)
				fprintf(f, "%-5s %-19s %6d %10.0f %10.0f %10.0f %10.0f %10.0f\n", runstats_kind_name(k),
					name, p.n, p.p50, p.p90, p.p99, p.min, p.max);
			else
				fprintf(f, "%-5s %-19.*s %6d %10.1f %10.1f %10.1f %10.1f %10.1f\n",
					runstats_kind_name(k), (int)(strlen(name) - 3), name, p.n, p.p50, p.p90, p.p99,
					p.min, p.max);
		}
	}
	return fflush(f) == 0 ? 0 : -EIO;
}

/* Milliseconds to the microsecond: more digits would be noise. */
static cJSON *ms_number(double ms)
{
	return cJSON_CreateNumber(round(ms * 1000) / 1000);
}

/* Adds item to o as name: false (item freed) when either is NULL or memory ran out. */
static bool add(cJSON *o, const char *name, cJSON *item)
{
	if (o && item && cJSON_AddItemToObject(o, name, item))
		return true;
	cJSON_Delete(item);
	return false;
}

static cJSON *phase_json(const struct runstats_pct *p)
{
	static const char *const names[] = { "p50", "p90", "p99", "min", "max" };
	const double v[] = { p->p50, p->p90, p->p99, p->min, p->max };
	cJSON *o = cJSON_CreateObject();

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		if (!add(o, names[i], p->n ? ms_number(v[i]) : cJSON_CreateNull()))
			goto fail;
	if (add(o, "n", cJSON_CreateNumber(p->n)))
		return o;
fail:
	cJSON_Delete(o);
	return NULL;
}

/* A host string as UTF-8 JSON (cJSON escapes quotes, backslashes and control characters). */
static cJSON *host_string(const char *s)
{
	char buf[256];

	snprintf(buf, sizeof(buf), "%s", s ? s : "unknown");
	utf8_scrub(buf);
	return cJSON_CreateString(buf);
}

cJSON *runstats_host_json(const struct runstats_host *h)
{
	cJSON *o = cJSON_CreateObject();

	if (add(o, "kernel", host_string(h->kernel)) && add(o, "cpu_model", host_string(h->cpu_model)) &&
	    add(o, "kvm", host_string(h->kvm)) && add(o, "kindling_version", host_string(h->version)) &&
	    add(o, "guest_kernel_minsn",
		h->guest_kernel_minsn < 0 ? cJSON_CreateNull() : cJSON_CreateNumber(h->guest_kernel_minsn)))
		return o;
	cJSON_Delete(o);
	return NULL;
}

static cJSON *runs_json(const struct runstats *s)
{
	const int v[] = { s->requested, runstats_count(s, RUNSTATS_COLD), runstats_count(s, RUNSTATS_WARM), s->failed,
			  s->differing };
	static const char *const names[] = { "requested", "cold", "warm", "failed", "differing" };
	cJSON *o = cJSON_CreateObject();

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		if (!add(o, names[i], cJSON_CreateNumber(v[i]))) {
			cJSON_Delete(o);
			return NULL;
		}
	return o;
}

static cJSON *phases_json(const struct runstats *s)
{
	cJSON *o = cJSON_CreateObject();

	for (int k = 0; k < RUNSTATS_KINDS; k++) {
		cJSON *kind = cJSON_CreateObject();

		if (!add(o, runstats_kind_name(k), kind))
			goto fail;
		for (int i = 0; i < RUNSTATS_PHASES; i++) {
			struct runstats_pct p;

			if (runstats_summarize(s, k, i, &p) || !add(kind, runstats_phase(k, i), phase_json(&p)))
				goto fail;
		}
	}
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}

char *runstats_json(const struct runstats *s, const struct runstats_host *h)
{
	cJSON *root = cJSON_CreateObject();
	char *text = NULL;

	if (add(root, "host", runstats_host_json(h)) && add(root, "runs", runs_json(s)) &&
	    add(root, "percentiles", cJSON_CreateString("nearest-rank")) && add(root, "phases", phases_json(s)))
		text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	return text;
}
