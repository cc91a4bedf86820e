/* Strict JSON scanning for guest-init's fixed-schema inputs (function.json, the restore
 * message): the pieces a recursive-descent parser of one known schema needs, with every size
 * bounded and every error naming the input and the byte offset. No generic tree.
 *
 * Strings: valid UTF-8 only, no raw control characters, no \u0000, paired surrogates, at most
 * SJSON_MAX_STR decoded bytes. Numbers: whole, non-negative, no leading zero, no fraction or
 * exponent. Objects: each key at most once, only from the caller's list. */
#ifndef KINDLING_INIT_SJSON_H
#define KINDLING_INIT_SJSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SJSON_MAX_STR 4096

struct sjson {
	const char *s;
	size_t len, pos;
	const char *what; /* the input's name in messages: "function.json" */
	char *err;
	size_t errlen;
};

/* Writes "WHAT: MESSAGE at byte N" to p->err; returns -EINVAL. */
int sjson_err(struct sjson *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void sjson_skip_ws(struct sjson *p);
/* Consumes c after optional whitespace; false (nothing consumed but whitespace) otherwise. */
bool sjson_eat(struct sjson *p, char c);

/* Parses a string into a new NUL-terminated heap copy. Returns 0, -EINVAL or -ENOMEM. */
int sjson_string(struct sjson *p, char **out) __attribute__((warn_unused_result));

/* Parses a whole number in min..max; name is the key, for the messages. Returns 0 or -EINVAL. */
int sjson_uint(struct sjson *p, const char *name, uint64_t min, uint64_t max, uint64_t *out)
	__attribute__((warn_unused_result));

/* Parses `"key" :` of an object whose keys are keys[0..n-1] (n <= 32). Returns the key's
 * index, or -EINVAL for an unknown key or one already in *seen; marks it in *seen. */
int sjson_key(struct sjson *p, const char *const *keys, unsigned n, unsigned *seen)
	__attribute__((warn_unused_result));

/* Only whitespace may follow the top-level value. Returns 0 or -EINVAL. */
int sjson_end(struct sjson *p) __attribute__((warn_unused_result));

#endif
