/* Request bodies, checked as Firecracker's serde structs check them: every member known,
 * every type right, nulls only for Option fields, integers in their Rust type's range; the
 * refusals in serde's words, so that clients matching Firecracker's messages still match. */
#ifndef KINDLING_BODY_H
#define KINDLING_BODY_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

enum ftype {
	F_STR,
	F_PATH,   /* a string, Rust's PathBuf ("path string" in serde's words) */
	F_BOOL,
	F_U8,
	F_U32,
	F_U64,
	F_USIZE,
	F_RATE_LIMITER, /* null, {} or {"bandwidth": null, "ops": null}: no limiter */
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

/* How serde names an integer type ("u8", "usize", ...). */
const char *body_type_name(enum ftype t);

#endif
