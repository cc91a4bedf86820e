/* api/body.c: request bodies checked as Firecracker's serde structs check them. */
#include <string.h>

#include <stdint.h>

#include "body.h"
#include "test.h"

static const struct field mc[] = {
	{ "vcpu_count", F_U8, true, false },
	{ "mem_size_mib", F_USIZE, true, false },
	{ "smt", F_BOOL, false, false },
	{ "cpu_template", F_STR, false, true },
	{ "rate_limiter", F_RATE_LIMITER, false, true },
};

/* Parses s; returns NULL when accepted, else the reason. */
static const char *refusal(const char *s)
{
	static char why[512];
	bool serde;
	cJSON *o = body_parse(s, strlen(s), mc, 5, why, sizeof(why), &serde);

	if (o) {
		cJSON_Delete(o);
		return NULL;
	}
	return why;
}

TEST(body_accepts_firecracker_bodies)
{
	CHECK(!refusal("{\"vcpu_count\": 1, \"mem_size_mib\": 128}"));
	CHECK(!refusal(" {\"vcpu_count\":255,\"mem_size_mib\":18446744073709551615,\"cpu_template\":null} \n"));
	CHECK(!refusal("{\"vcpu_count\": 1, \"mem_size_mib\": 128, \"rate_limiter\": {}}"));
	CHECK(!refusal("{\"vcpu_count\": 1, \"mem_size_mib\": 128, \"rate_limiter\": {\"ops\": null}}"));
	/* A key inside a string value is not a member. */
	CHECK(!refusal("{\"cpu_template\": \"\\\"vcpu_count\\\": 1.5\", \"vcpu_count\": 2, \"mem_size_mib\": 8}"));
}

TEST(body_refuses_in_serde_words)
{
	const char *w;

	CHECK((w = refusal("{\"mem_size_mib\": 128}")) && !strcmp(w, "missing field `vcpu_count` at line 1 column 21"));
	CHECK((w = refusal("{\n\"vcpu_count\": 2\n}")) && strstr(w, "missing field `mem_size_mib` at line 3 column 1"));
	CHECK((w = refusal("{\"vcpu_count\": 1.0, \"mem_size_mib\": 8}")) &&
	      !strcmp(w, "invalid type: floating point `1.0`, expected u8"));
	CHECK((w = refusal("{\"vcpu_count\": 1e0, \"mem_size_mib\": 8}")) && strstr(w, "floating point"));
	CHECK((w = refusal("{\"vcpu_count\": 256, \"mem_size_mib\": 8}")) &&
	      !strcmp(w, "invalid value: integer `256`, expected u8"));
	CHECK((w = refusal("{\"vcpu_count\": -1, \"mem_size_mib\": 8}")) && strstr(w, "invalid value: integer `-1`"));
	CHECK((w = refusal("{\"vcpu_count\": 1, \"mem_size_mib\": 18446744073709551616}")) &&
	      strstr(w, "invalid type: floating point"));
	CHECK((w = refusal("{\"vcpu_count\": \"2\", \"mem_size_mib\": 8}")) &&
	      !strcmp(w, "invalid type: string \"2\", expected u8"));
	CHECK((w = refusal("{\"vcpu_count\": 1, \"mem_size_mib\": 8, \"smt\": null}")) &&
	      !strcmp(w, "invalid type: null, expected a boolean"));
	CHECK((w = refusal("{\"vcpu_count\": 1, \"mem_size_mib\": 8, \"cpus\": 4}")) &&
	      strstr(w, "unknown field `cpus`, expected one of `vcpu_count`"));
	CHECK((w = refusal("{\"vcpu_count\": 1, \"vcpu_count\": 2, \"mem_size_mib\": 8}")) &&
	      !strcmp(w, "duplicate field `vcpu_count`"));
	CHECK((w = refusal("[1]")) && strstr(w, "expected a JSON object"));
	CHECK((w = refusal("{\"vcpu_count\": 1,")) && strstr(w, "invalid JSON"));
	CHECK((w = refusal("{} x")) && strstr(w, "trailing characters"));
}

#define MC "{\"vcpu_count\": 1, \"mem_size_mib\": 8, "

/* Firecracker's RateLimiterConfig (deny_unknown_fields) of TokenBucketConfigs (which ignore
 * unknown fields), refused in serde's words; the values read exactly. */
TEST(body_rate_limiter_checked_and_read)
{
	const char *ok = MC "\"rate_limiter\": {\"bandwidth\": {\"size\": 18446744073709551615, \"refill_time\": 100, "
			    "\"one_time_burst\": null, \"extra\": [1]}, \"ops\": {\"size\": 9007199254740993, "
			    "\"one_time_burst\": 5, \"refill_time\": 1}}}";
	struct rl_update u;
	char why[256];
	bool serde;
	const char *w;
	cJSON *o;

	o = body_parse(ok, strlen(ok), mc, 5, why, sizeof(why), &serde);
	CHECK(o);
	CHECK(body_get_rate_limiter(o, "rate_limiter", &u));
	CHECK(u.set_bandwidth && u.bandwidth.size == UINT64_MAX && u.bandwidth.refill_time == 100 &&
	      u.bandwidth.one_time_burst == 0);
	CHECK(u.set_ops && u.ops.size == 9007199254740993ull && u.ops.one_time_burst == 5 && u.ops.refill_time == 1);
	CHECK(!body_get_rate_limiter(o, "cpu_template", &u) && !u.set_bandwidth && !u.set_ops);
	cJSON_Delete(o);
	ok = MC "\"rate_limiter\": {\"ops\": null}}";
	o = body_parse(ok, strlen(ok), mc, 5, why, sizeof(why), &serde);
	CHECK(o && body_get_rate_limiter(o, "rate_limiter", &u) && !u.set_bandwidth && !u.set_ops);
	cJSON_Delete(o);

	CHECK((w = refusal(MC "\"rate_limiter\": {\"bandwidth\": {\"size\": 1}}}")) &&
	      !strcmp(w, "missing field `refill_time` at line 1 column 78"));
	CHECK((w = refusal(MC "\"rate_limiter\": {\"ops\": {\"refill_time\": 1}}}")) &&
	      !strcmp(w, "missing field `size` at line 1 column 79"));
	CHECK((w = refusal(MC "\"rate_limiter\": {\"bw\": null}}")) &&
	      !strcmp(w, "unknown field `bw`, expected `bandwidth` or `ops`"));
	CHECK((w = refusal(MC "\"rate_limiter\": \"fast\"}")) &&
	      !strcmp(w, "invalid type: string \"fast\", expected struct RateLimiterConfig"));
	CHECK((w = refusal(MC "\"rate_limiter\": {\"ops\": 5}}")) &&
	      !strcmp(w, "invalid type: integer `5`, expected struct TokenBucketConfig"));
	CHECK((w = refusal(MC "\"rate_limiter\": {\"ops\": {\"size\": 1.5, \"refill_time\": 1}}}")) &&
	      !strcmp(w, "invalid type: floating point `1.5`, expected u64"));
	CHECK((w = refusal(MC "\"rate_limiter\": {\"ops\": {\"size\": -1, \"refill_time\": 1}}}")) &&
	      !strcmp(w, "invalid value: integer `-1`, expected u64"));
	CHECK((w = refusal(MC "\"rate_limiter\": {\"ops\": {\"size\": 1, \"refill_time\": null}}}")) &&
	      !strcmp(w, "invalid type: null, expected u64"));
	CHECK((w = refusal(MC "\"rate_limiter\": {\"ops\": {\"size\": 1, \"one_time_burst\": \"x\", \"refill_time\": 1}}}")) &&
	      !strcmp(w, "invalid type: string \"x\", expected u64"));
	CHECK((w = refusal(MC "\"rate_limiter\": {\"ops\": {\"size\": 1, \"size\": 2, \"refill_time\": 1}}}")) &&
	      !strcmp(w, "duplicate field `size`"));
	CHECK((w = refusal(MC "\"rate_limiter\": {\"ops\": null, \"ops\": null}}")) && !strcmp(w, "duplicate field `ops`"));
	CHECK((w = refusal(MC "\"rate_limiter\": {\"ops\": {\"size\": 18446744073709551616, \"refill_time\": 1}}}")) &&
	      strstr(w, "invalid type: floating point"));
}
