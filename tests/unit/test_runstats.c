/* `kindling run --repeat`'s figures: nearest-rank percentiles, cold and warm runs kept apart,
 * the host facts, and the JSON summary parsed back (issue 13 part 5). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "runstats.h"
#include "test.h"

TEST(runstats_nearest_rank)
{
	double v[100];

	for (int i = 0; i < 100; i++)
		v[i] = i + 1;
	/* One value: every percentile is it. */
	CHECK(runstats_nearest_rank(v, 1, 50) == 1 && runstats_nearest_rank(v, 1, 99) == 1);
	/* 1..10: ceil(0.5 * 10) = 5th, ceil(0.9 * 10) = 9th (not 10th: no float rounding),
	 * ceil(0.99 * 10) = 10th. */
	CHECK(runstats_nearest_rank(v, 10, 50) == 5);
	CHECK(runstats_nearest_rank(v, 10, 90) == 9);
	CHECK(runstats_nearest_rank(v, 10, 99) == 10);
	CHECK(runstats_nearest_rank(v, 3, 50) == 2);
	CHECK(runstats_nearest_rank(v, 3, 90) == 3);
	CHECK(runstats_nearest_rank(v, 20, 50) == 10);
	CHECK(runstats_nearest_rank(v, 20, 90) == 18);
	CHECK(runstats_nearest_rank(v, 20, 99) == 20);
	CHECK(runstats_nearest_rank(v, 100, 99) == 99);
	CHECK(runstats_nearest_rank(v, 100, 100) == 100);
	CHECK(runstats_nearest_rank(v, 100, 1) == 1);
}

static void add_run(struct runstats *s, enum runstats_kind k, double base, int *failed)
{
	double ms[RUNSTATS_PHASES];

	for (int i = 0; i < RUNSTATS_PHASES; i++)
		ms[i] = base + i * 1000;
	if (runstats_add(s, k, ms))
		*failed = 1;
}

TEST(runstats_kinds_apart)
{
	struct runstats s;
	struct runstats_pct p;
	/* Out of order, warm runs in between: cold totals are 4000 + {30, 10, 20}. */
	const double cold[] = { 30, 10, 20 }, warm[] = { 5, 1, 4, 2, 3 };

	CHECK(runstats_init(&s, 8) == 0);
	for (int i = 0; i < 5; i++) {
		if (i < 3)
			add_run(&s, RUNSTATS_COLD, cold[i], failed);
		add_run(&s, RUNSTATS_WARM, warm[i], failed);
	}
	if (*failed)
		goto out;
	CHECK(runstats_count(&s, RUNSTATS_COLD) == 3 && runstats_count(&s, RUNSTATS_WARM) == 5);
	CHECK(runstats_summarize(&s, RUNSTATS_COLD, 4, &p) == 0);
	CHECK(p.n == 3 && p.min == 4010 && p.max == 4030 && p.p50 == 4020 && p.p90 == 4030 && p.p99 == 4030);
	CHECK(runstats_summarize(&s, RUNSTATS_WARM, 0, &p) == 0);
	CHECK(p.n == 5 && p.min == 1 && p.max == 5 && p.p50 == 3 && p.p90 == 5);
	CHECK(runstats_summarize(&s, RUNSTATS_WARM, RUNSTATS_PHASES, &p) != 0);
	/* Full: a ninth run is refused. */
	add_run(&s, RUNSTATS_WARM, 1, failed);
	CHECK(*failed == 1);
	*failed = 0;
	CHECK(s.n == 8);
out:
	runstats_free(&s);
}

TEST(runstats_no_runs_of_a_kind)
{
	struct runstats s;
	struct runstats_pct p;

	CHECK(runstats_init(&s, 2) == 0);
	CHECK(runstats_summarize(&s, RUNSTATS_WARM, 2, &p) == 0);
	CHECK(p.n == 0);
	runstats_free(&s);
}

TEST(runstats_phase_names)
{
	CHECK(!strcmp(runstats_phase(RUNSTATS_COLD, 0), "vmm_setup_ms"));
	CHECK(!strcmp(runstats_phase(RUNSTATS_COLD, 1), "boot_to_ready_ms"));
	CHECK(!strcmp(runstats_phase(RUNSTATS_WARM, 0), "restore_ms"));
	CHECK(!strcmp(runstats_phase(RUNSTATS_WARM, 1), "restore_message_ms"));
	CHECK(!strcmp(runstats_phase(RUNSTATS_WARM, 4), "total_ms"));
	CHECK(!strcmp(runstats_phase(RUNSTATS_WARM, RUNSTATS_FAULTS), "invocation_faults"));
	CHECK(!strcmp(runstats_phase(RUNSTATS_COLD, RUNSTATS_FAULTS), "invocation_faults"));
	CHECK(!strcmp(runstats_phase(RUNSTATS_WARM, 6), "?"));
}

static double num(const cJSON *o, const char *a, const char *b, const char *c, const char *d)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);

	v = b ? cJSON_GetObjectItemCaseSensitive(v, b) : v;
	v = c ? cJSON_GetObjectItemCaseSensitive(v, c) : v;
	v = d ? cJSON_GetObjectItemCaseSensitive(v, d) : v;
	return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

TEST(runstats_json_parses_back)
{
	struct runstats s;
	struct runstats_host h = { .kernel = "6.1.0-\"x\"\\y", .kvm = "kvm-amd", .version = "0.1.0",
				   .guest_kernel_minsn = -1 };
	cJSON *o = NULL, *v;
	char *text = NULL;

	/* Quotes, a backslash, control characters and a stray byte (not UTF-8). */
	snprintf(h.cpu_model, sizeof(h.cpu_model), "AMD \"EPYC\" \\ 7B13\t\x01\x1f\xff end \xc3\xa9");
	CHECK(runstats_init(&s, 5) == 0);
	s.requested = 6;
	s.failed = 1;
	s.differing = 2;
	add_run(&s, RUNSTATS_COLD, 100.123456, failed);
	for (int i = 1; i <= 4; i++)
		add_run(&s, RUNSTATS_WARM, i, failed);
	if (*failed)
		goto out;
	text = runstats_json(&s, &h);
	CHECK(text);
	CHECK(!strchr(text, '\n'));
	o = cJSON_Parse(text);
	CHECK(o);
	v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "host"), "cpu_model");
	CHECK(cJSON_IsString(v) && !strcmp(v->valuestring, "AMD \"EPYC\" \\ 7B13\t\x01\x1f? end \xc3\xa9"));
	v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "host"), "kernel");
	CHECK(cJSON_IsString(v) && !strcmp(v->valuestring, "6.1.0-\"x\"\\y"));
	v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "host"), "kvm");
	CHECK(cJSON_IsString(v) && !strcmp(v->valuestring, "kvm-amd"));
	v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "host"), "kindling_version");
	CHECK(cJSON_IsString(v) && !strcmp(v->valuestring, "0.1.0"));
	CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "host"),
							    "guest_kernel_minsn")));
	v = cJSON_GetObjectItemCaseSensitive(o, "percentiles");
	CHECK(cJSON_IsString(v) && !strcmp(v->valuestring, "nearest-rank"));
	CHECK(num(o, "runs", "requested", NULL, NULL) == 6 && num(o, "runs", "cold", NULL, NULL) == 1 &&
	      num(o, "runs", "warm", NULL, NULL) == 4 && num(o, "runs", "failed", NULL, NULL) == 1 &&
	      num(o, "runs", "differing", NULL, NULL) == 2);
	/* Rounded to the microsecond. */
	CHECK(num(o, "phases", "cold", "vmm_setup_ms", "p50") == 100.123);
	CHECK(num(o, "phases", "cold", "vmm_setup_ms", "n") == 1);
	CHECK(num(o, "phases", "cold", "total_ms", "max") == 4100.123);
	CHECK(num(o, "phases", "warm", "restore_ms", "p50") == 2);
	CHECK(num(o, "phases", "warm", "restore_ms", "p90") == 4);
	CHECK(num(o, "phases", "warm", "restore_message_ms", "min") == 1001);
	CHECK(num(o, "phases", "warm", "invocation_ms", "p99") == 2004);
	CHECK(num(o, "phases", "warm", "teardown_ms", "n") == 4);
	CHECK(num(o, "phases", "warm", "total_ms", "max") == 4004);
	/* Every phase of both kinds, with all six figures. */
	for (int k = 0; k < RUNSTATS_KINDS; k++)
		for (int i = 0; i < RUNSTATS_PHASES; i++)
			for (const char *const *f = (const char *const[]){ "p50", "p90", "p99", "min", "max", "n", NULL };
			     *f; f++)
				CHECK(!isnan(num(o, "phases", runstats_kind_name(k), runstats_phase(k, i), *f)));
out:
	cJSON_Delete(o);
	free(text);
	runstats_free(&s);
}

TEST(runstats_json_no_runs)
{
	struct runstats s;
	struct runstats_host h = { .kernel = "k", .cpu_model = "c", .kvm = "unknown", .version = "v",
				   .guest_kernel_minsn = -1 };
	cJSON *o, *p;
	char *text;

	CHECK(runstats_init(&s, 3) == 0);
	s.requested = 3;
	s.failed = 1;
	text = runstats_json(&s, &h);
	runstats_free(&s);
	CHECK(text);
	o = cJSON_Parse(text);
	free(text);
	CHECK(o);
	p = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "phases"),
									       "warm"),
					     "restore_ms");
	/* No run of a kind: n is 0 and the figures are null. */
	CHECK(num(o, "phases", "warm", "restore_ms", "n") == 0 && num(o, "phases", "cold", "total_ms", "n") == 0);
	CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(p, "p50")) &&
	      cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(p, "max")));
	CHECK(num(o, "runs", "failed", NULL, NULL) == 1);
	cJSON_Delete(o);
}

TEST(runstats_table)
{
	struct runstats s;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int r;

	CHECK(f);
	CHECK(runstats_init(&s, 2) == 0);
	s.requested = 2;
	add_run(&s, RUNSTATS_COLD, 12.34, failed);
	add_run(&s, RUNSTATS_COLD, 56.78, failed);
	r = runstats_print_table(f, &s);
	fclose(f);
	runstats_free(&s);
	if (!*failed && r == 0 && buf) {
		CHECK(strstr(buf, "kindling run --repeat 2: 2 cold, 0 warm, 0 failed"));
		CHECK(strstr(buf, "nearest rank"));
		CHECK(strstr(buf, "kind  phase"));
		CHECK(strstr(buf, "cold  vmm_setup                2       12.3       56.8       56.8       12.3       56.8\n"));
		CHECK(strstr(buf, "cold  total "));
		/* Faults are counts, named in full. */
		CHECK(strstr(buf, "cold  invocation_faults        2       5012       5057       5057       5012       5057\n"));
		/* No warm run: no warm rows. */
		CHECK(!strstr(buf, "warm "));
	} else {
		*failed = 1;
	}
	free(buf);
}

/* A fake /proc/cpuinfo and /sys/module under a temporary directory. */
TEST(runstats_host_facts)
{
	char dir[] = "/tmp/kindling-runstats-XXXXXX", path[256], mods[128];
	struct runstats_host h;
	FILE *f;

	CHECK(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/cpuinfo", dir);
	snprintf(mods, sizeof(mods), "%s/module", dir);
	f = fopen(path, "w");
	CHECK(f);
	fprintf(f, "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t:   AMD EPYC 7B13 64-Core Processor  \n"
		   "processor\t: 1\nmodel name\t: other\n");
	fclose(f);
	CHECK(mkdir(mods, 0700) == 0);
	runstats_host_read(&h, path, mods);
	CHECK(!strcmp(h.cpu_model, "AMD EPYC 7B13 64-Core Processor"));
	CHECK(!strcmp(h.kvm, "unknown"));
	CHECK(h.kernel[0] && h.version && h.guest_kernel_minsn < 0);
	snprintf(path, sizeof(path), "%s/kvm_amd", mods);
	CHECK(mkdir(path, 0700) == 0);
	CHECK(!strcmp(check_kvm_flavour(mods), "kvm-amd"));
	snprintf(path, sizeof(path), "%s/kvm_pvm", mods);
	CHECK(mkdir(path, 0700) == 0);
	CHECK(!strcmp(check_kvm_flavour(mods), "pvm"));
	rmdir(path);
	snprintf(path, sizeof(path), "%s/kvm_amd", mods);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/kvm_intel", mods);
	CHECK(mkdir(path, 0700) == 0);
	CHECK(!strcmp(check_kvm_flavour(mods), "kvm-intel"));
	rmdir(path);
	rmdir(mods);
	/* No cpuinfo, or none with a model name. */
	snprintf(path, sizeof(path), "%s/cpuinfo", dir);
	unlink(path);
	runstats_host_read(&h, path, NULL);
	CHECK(!strcmp(h.cpu_model, "unknown"));
	rmdir(dir);
}
