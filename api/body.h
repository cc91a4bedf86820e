/* Request bodies, checked as Firecracker's serde structs check them: every member known,
 * every type right, nulls only for Option fields, integers in their Rust type's range; the
 * refusals in serde's words, so that clients matching Firecracker's messages still match. */
#ifndef KINDLING_BODY_H
#define KINDLING_BODY_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ratelimit.h"

enum ftype {
	F_STR,
	F_PATH,   /* a string, Rust's PathBuf ("path string" in serde's words) */
	F_BOOL,
	F_U8,
	F_U32,
	F_U64,
	F_USIZE,
	F_RATE_LIMITER, /* Firecracker's RateLimiterConfig (null: none); body_get_rate_limiter reads it */
	F_UNSUPPORTED,	/* a feature kindling lacks: only null (or absence) is accepted */
	F_MEM_BACKEND,	/* /snapshot/load's nested MemBackendConfig: checked with body_parse_member */
};

struct field {
	const char *name;
	enum ftype type;
	bool required;
	bool nullable; /* an Option in Firecracker: null is the same as absent */
};

/* The prefix of every refused body, as Firecracker words it. */
#define BODY_ERR "An error occurred when deserializing the json body of a request: "

/* Parses body as one JSON object of `fields`. Returns it, or NULL with a one-line reason in
 * why (without BODY_ERR when *serde is true, a message of its own when false). */
cJSON *body_parse(const char *body, size_t len, const struct field *fields, int n, char *why, size_t whylen,
		  bool *serde);

/* body_parse for the object that is the top-level member key of the JSON object body (which
 * body_parse accepted): serde's line and column count from the start of body. NULL with
 * *why empty if there is no such member (or it is null). */
cJSON *body_parse_member(const char *body, size_t len, const char *key, const struct field *fields, int n,
			 char *why, size_t whylen, bool *serde);

/* The raw text of the member key of the JSON object in text[0..len), or of the element
 * index of the array there: a section of a config file, to check as a body of its own.
 * NULL if there is none. The text must be JSON that cJSON accepted. */
const char *body_member_text(const char *text, size_t len, const char *key, size_t *outlen);
const char *body_element_text(const char *text, size_t len, int index, size_t *outlen);

/* The rate limiter member key of an object body_parse accepted, as Firecracker reads it: a
 * bucket given (not null) is set, with its values (one_time_burst 0 when null or absent); a
 * bucket with size or refill_time 0 removes the limit. Returns whether key is an object
 * (null or absent: no limiter given, nothing set; {}: given, nothing set). */
bool body_get_rate_limiter(const cJSON *o, const char *key, struct rl_update *out);
/* An integer member's value, exact to the last digit for those body_parse checked inside a
 * rate limiter (others as cJSON's double has it). false if m is not a number. */
bool body_get_u64(const cJSON *m, uint64_t *out);

/* How serde names an integer type ("u8", "usize", ...). */
const char *body_type_name(enum ftype t);

#endif
