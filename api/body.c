/* Request body validation in Firecracker's (serde_json's) words. cJSON parses; a small
 * scanner over the raw text finds what cJSON hides: whether a number was written as a
 * float, integers past 2^53, and where the object ends (serde reports the position). */
#include "body.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

const char *body_type_name(enum ftype t)
{
	switch (t) {
	case F_STR: return "a string";
	case F_PATH: return "path string";
	case F_BOOL: return "a boolean";
	case F_U8: return "u8";
	case F_U32: return "u32";
	case F_U64: return "u64";
	case F_USIZE: return "usize";
	case F_MEM_BACKEND: return "struct MemBackendConfig";
	default: return "struct RateLimiterConfig";
	}
}

static uint64_t type_max(enum ftype t)
{
	return t == F_U8 ? UINT8_MAX : t == F_U32 ? UINT32_MAX : UINT64_MAX;
}

/* ---- a scanner over JSON text that cJSON has already accepted ---- */

static const char *skip_ws(const char *p, const char *e)
{
	while (p < e && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	return p;
}

static const char *skip_string(const char *p, const char *e)
{
	for (p++; p < e; p++) {
		if (*p == '\\')
			p++;
		else if (*p == '"')
			return p + 1;
	}
	return e;
}

static const char *skip_value(const char *p, const char *e)
{
	int depth = 0;

	if (p < e && *p == '"')
		return skip_string(p, e);
	if (p < e && (*p == '{' || *p == '[')) {
		while (p < e) {
			if (*p == '"') {
				p = skip_string(p, e);
				continue;
			}
			if (*p == '{' || *p == '[')
				depth++;
			else if ((*p == '}' || *p == ']') && --depth == 0)
				return p + 1;
			p++;
		}
		return e;
	}
	while (p < e && !strchr(",}] \t\r\n", *p))
		p++;
	return p;
}

/* The raw text of the top-level member `key` of the object in [p, e). */
static const char *raw_member(const char *p, const char *e, const char *key, size_t *toklen)
{
	size_t klen = strlen(key);

	p = skip_ws(p, e);
	if (p == e || *p != '{')
		return NULL;
	for (p = skip_ws(p + 1, e); p < e && *p == '"'; p = skip_ws(p, e)) {
		const char *k = p, *ke = skip_string(p, e), *v, *ve;

		p = skip_ws(ke, e);
		if (p == e || *p != ':')
			return NULL;
		v = skip_ws(p + 1, e);
		ve = skip_value(v, e);
		if ((size_t)(ke - k) == klen + 2 && !memcmp(k + 1, key, klen)) {
			*toklen = (size_t)(ve - v);
			return v;
		}
		p = skip_ws(ve, e);
		if (p < e && *p == ',')
			p++;
	}
	return NULL;
}

const char *body_member_text(const char *text, size_t len, const char *key, size_t *outlen)
{
	return raw_member(text, text + len, key, outlen);
}

const char *body_element_text(const char *text, size_t len, int index, size_t *outlen)
{
	const char *p = skip_ws(text, text + len), *e = text + len;

	if (p == e || *p != '[')
		return NULL;
	for (p = skip_ws(p + 1, e); p < e && *p != ']'; index--) {
		const char *v = p, *ve = skip_value(v, e);

		if (index == 0) {
			*outlen = (size_t)(ve - v);
			return v;
		}
		p = skip_ws(ve, e);
		if (p < e && *p == ',')
			p = skip_ws(p + 1, e);
	}
	return NULL;
}

/* serde's "line L column C" for byte offset off. */
static void position(const char *body, size_t off, int *line, int *col)
{
	size_t start = 0;

	*line = 1;
	for (size_t i = 0; i < off; i++) {
		if (body[i] == '\n') {
			(*line)++;
			start = i + 1;
		}
	}
	*col = (int)(off - start);
}

/* serde's description of a value that has the wrong type: `string "2"`, `integer `5``... */
static void describe(const cJSON *m, const char *tok, size_t toklen, char *out, size_t outlen)
{
	int n = toklen > 40 ? 40 : (int)toklen;

	if (cJSON_IsString(m))
		snprintf(out, outlen, "string \"%.40s\"", m->valuestring);
	else if (cJSON_IsBool(m))
		snprintf(out, outlen, "boolean `%s`", cJSON_IsTrue(m) ? "true" : "false");
	else if (cJSON_IsNull(m))
		snprintf(out, outlen, "null");
	else if (cJSON_IsObject(m))
		snprintf(out, outlen, "map");
	else if (cJSON_IsArray(m))
		snprintf(out, outlen, "sequence");
	else if (tok && (memchr(tok, '.', toklen) || memchr(tok, 'e', toklen) || memchr(tok, 'E', toklen)))
		snprintf(out, outlen, "floating point `%.*s`", n, tok);
	else if (tok)
		snprintf(out, outlen, "integer `%.*s`", n, tok);
	else
		snprintf(out, outlen, "a number");
}

static int check_int(const cJSON *m, const char *tok, size_t toklen, enum ftype t, char *why, size_t whylen)
{
	char what[64];
	uint64_t v = 0;
	bool neg;

	describe(m, tok, toklen, what, sizeof(what));
	if (!cJSON_IsNumber(m) || !tok || strncmp(what, "integer", 7))
		return errorf(why, whylen, -EINVAL, "invalid type: %s, expected %s", what, body_type_name(t));
	neg = *tok == '-';
	for (size_t i = neg; i < toklen; i++) {
		uint64_t d = (uint64_t)(tok[i] - '0');

		if (v > (UINT64_MAX - d) / 10) /* past u64: serde_json reads it as a float */
			return errorf(why, whylen, -EINVAL, "invalid type: floating point `%.*s`, expected %s",
				     (int)(toklen > 40 ? 40 : toklen), tok, body_type_name(t));
		v = v * 10 + d;
	}
	if ((neg && v) || v > type_max(t))
		return errorf(why, whylen, -EINVAL, "invalid value: %s, expected %s", what, body_type_name(t));
	return 0;
}

/* Keeps the exact text of an integer that was checked (cJSON's double loses the digits
 * past 2^53) in its item's valuestring, which cJSON_Delete frees. body_get_u64 reads it. */
static int keep_digits(cJSON *m, const char *tok, size_t toklen)
{
	char *s = cJSON_malloc(toklen + 1);

	if (!s)
		return -ENOMEM;
	memcpy(s, tok, toklen);
	s[toklen] = 0;
	m->valuestring = s;
	return 0;
}

bool body_get_u64(const cJSON *m, uint64_t *out)
{
	if (!cJSON_IsNumber(m))
		return false;
	if (m->valuestring)
		*out = strtoull(m->valuestring, NULL, 10);
	else
		*out = m->valuedouble <= 0 ? 0 : m->valuedouble >= 18446744073709551615.0 ? UINT64_MAX : (uint64_t)m->valuedouble;
	return true;
}

/* Firecracker's TokenBucketConfig {size, one_time_burst: Option, refill_time}: serde
 * ignores unknown members here (no deny_unknown_fields), and notices a missing one at the
 * closing brace, whose position counts from doc. */
static int check_bucket(const char *doc, cJSON *b, const char *tok, size_t toklen, char *why, size_t whylen)
{
	static const char *const names[] = { "size", "one_time_burst", "refill_time" };
	cJSON *f;
	int line, col;

	if (!cJSON_IsObject(b)) {
		char what[64];

		describe(b, tok, toklen, what, sizeof(what));
		return errorf(why, whylen, -EINVAL, "invalid type: %s, expected struct TokenBucketConfig", what);
	}
	cJSON_ArrayForEach(f, b) {
		const char *ftok;
		size_t flen = 0;
		size_t i;
		int r;

		for (i = 0; i < ARRAY_SIZE(names) && strcmp(f->string, names[i]); i++)
			;
		if (i == ARRAY_SIZE(names))
			continue;
		for (cJSON *d = f->next; d; d = d->next)
			if (!strcmp(d->string, f->string))
				return errorf(why, whylen, -EINVAL, "duplicate field `%s`", f->string);
		if (i == 1 && cJSON_IsNull(f))
			continue;
		ftok = raw_member(tok, tok + toklen, f->string, &flen);
		if ((r = check_int(f, ftok, flen, F_U64, why, whylen)))
			return r;
		if (keep_digits(f, ftok, flen))
			return errorf(why, whylen, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < ARRAY_SIZE(names); i += 2) {
		if (!cJSON_GetObjectItemCaseSensitive(b, names[i])) {
			position(doc, (size_t)(tok + toklen - doc), &line, &col);
			return errorf(why, whylen, -EINVAL, "missing field `%s` at line %d column %d", names[i], line, col);
		}
	}
	return 0;
}

/* Firecracker's RateLimiterConfig {bandwidth, ops}, both Option<TokenBucketConfig>, with
 * deny_unknown_fields. tok is m's text inside doc. */
static int check_rate_limiter(const char *doc, cJSON *m, const char *tok, size_t toklen, char *why, size_t whylen)
{
	cJSON *b;

	if (!cJSON_IsObject(m)) {
		char what[64];

		describe(m, tok, toklen, what, sizeof(what));
		return errorf(why, whylen, -EINVAL, "invalid type: %s, expected struct RateLimiterConfig", what);
	}
	cJSON_ArrayForEach(b, m) {
		const char *btok;
		size_t blen = 0;
		int r;

		if (strcmp(b->string, "bandwidth") && strcmp(b->string, "ops"))
			return errorf(why, whylen, -EINVAL, "unknown field `%.64s`, expected `bandwidth` or `ops`", b->string);
		for (cJSON *d = b->next; d; d = d->next)
			if (!strcmp(d->string, b->string))
				return errorf(why, whylen, -EINVAL, "duplicate field `%s`", b->string);
		if (cJSON_IsNull(b))
			continue;
		btok = raw_member(tok, tok + toklen, b->string, &blen);
		if ((r = check_bucket(doc, b, btok, blen, why, whylen)))
			return r;
	}
	return 0;
}

static void get_bucket(const cJSON *m, const char *name, bool *set, struct rl_bucket_config *out)
{
	const cJSON *b = cJSON_GetObjectItemCaseSensitive(m, name);

	*set = cJSON_IsObject(b);
	memset(out, 0, sizeof(*out));
	if (!*set)
		return;
	body_get_u64(cJSON_GetObjectItemCaseSensitive(b, "size"), &out->size);
	body_get_u64(cJSON_GetObjectItemCaseSensitive(b, "one_time_burst"), &out->one_time_burst);
	body_get_u64(cJSON_GetObjectItemCaseSensitive(b, "refill_time"), &out->refill_time);
}

bool body_get_rate_limiter(const cJSON *o, const char *key, struct rl_update *out)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, key);

	get_bucket(m, "bandwidth", &out->set_bandwidth, &out->bandwidth);
	get_bucket(m, "ops", &out->set_ops, &out->ops);
	return cJSON_IsObject(m);
}

/* body_parse of [body, body + len), which lies inside doc: positions count from doc. */
static cJSON *parse_in(const char *doc, const char *body, size_t len, const struct field *fields, int n, char *why,
		       size_t whylen, bool *serde)
{
	const char *end = NULL, *e = body + len;
	int line, col;
	cJSON *o, *m;

	*serde = true;
	o = cJSON_ParseWithLengthOpts(body, len, &end, false);
	if (!o) {
		const char *at = cJSON_GetErrorPtr();

		position(doc, (size_t)(body - doc) + (at && at >= body && at <= e ? (size_t)(at - body) + 1 : len), &line, &col);
		errorf(why, whylen, -EINVAL, "invalid JSON at line %d column %d", line, col);
		return NULL;
	}
	if (skip_ws(end, e) != e) {
		position(doc, (size_t)(skip_ws(end, e) - doc) + 1, &line, &col);
		errorf(why, whylen, -EINVAL, "trailing characters at line %d column %d", line, col);
		goto bad;
	}
	if (!cJSON_IsObject(o)) {
		char what[64];

		describe(o, NULL, 0, what, sizeof(what));
		errorf(why, whylen, -EINVAL, "invalid type: %s, expected a JSON object", what);
		goto bad;
	}
	cJSON_ArrayForEach(m, o) {
		const char *tok;
		size_t toklen = 0;
		int i;

		for (i = 0; i < n && strcmp(m->string, fields[i].name); i++)
			;
		if (i == n) {
			char list[512];
			size_t k = 0;

			for (int j = 0; j < n && k < sizeof(list); j++)
				k += (size_t)snprintf(list + k, sizeof(list) - k, "%s`%s`", !j ? "" : n == 2 ? " or " : ", ",
					      fields[j].name);
			errorf(why, whylen, -EINVAL, "unknown field `%.64s`, expected %s%s", m->string, n > 2 ? "one of " : "", list);
			goto bad;
		}
		for (cJSON *d = m->next; d; d = d->next) {
			if (!strcmp(d->string, m->string)) {
				errorf(why, whylen, -EINVAL, "duplicate field `%s`", m->string);
				goto bad;
			}
		}
		tok = raw_member(body, e, m->string, &toklen);
		if (cJSON_IsNull(m) && (fields[i].nullable || fields[i].type == F_UNSUPPORTED ||
					 fields[i].type == F_RATE_LIMITER))
			continue;
		switch (fields[i].type) {
		case F_STR:
		case F_PATH:
		case F_BOOL:
			if (fields[i].type == F_BOOL ? !cJSON_IsBool(m) : !cJSON_IsString(m)) {
				char what[64];

				describe(m, tok, toklen, what, sizeof(what));
				errorf(why, whylen, -EINVAL, "invalid type: %s, expected %s", what, body_type_name(fields[i].type));
				goto bad;
			}
			break;
		case F_U8:
		case F_U32:
		case F_U64:
		case F_USIZE:
			if (check_int(m, tok, toklen, fields[i].type, why, whylen))
				goto bad;
			break;
		case F_RATE_LIMITER:
			if (check_rate_limiter(doc, m, tok, toklen, why, whylen)) {
				*serde = strcmp(why, "out of memory") != 0;
				goto bad;
			}
			break;
		case F_MEM_BACKEND:
			if (!cJSON_IsObject(m)) {
				char what[64];

				describe(m, tok, toklen, what, sizeof(what));
				errorf(why, whylen, -EINVAL, "invalid type: %s, expected %s", what, body_type_name(fields[i].type));
				goto bad;
			}
			break;
		case F_UNSUPPORTED:
			*serde = false;
			errorf(why, whylen, -EINVAL, "'%s' is not supported by kindling.", m->string);
			goto bad;
		}
	}
	for (int i = 0; i < n; i++) {
		if (fields[i].required && !cJSON_GetObjectItemCaseSensitive(o, fields[i].name)) {
			/* serde notices at the object's closing brace. */
			position(doc, (size_t)(end - doc), &line, &col);
			errorf(why, whylen, -EINVAL, "missing field `%s` at line %d column %d", fields[i].name, line, col);
			goto bad;
		}
	}
	return o;
bad:
	cJSON_Delete(o);
	return NULL;
}

cJSON *body_parse(const char *body, size_t len, const struct field *fields, int n, char *why, size_t whylen,
		  bool *serde)
{
	return parse_in(body, body, len, fields, n, why, whylen, serde);
}

cJSON *body_parse_member(const char *body, size_t len, const char *key, const struct field *fields, int n,
			 char *why, size_t whylen, bool *serde)
{
	size_t vlen = 0;
	const char *v = raw_member(body, body + len, key, &vlen);

	*serde = true;
	if (why && whylen)
		why[0] = 0;
	if (!v || (vlen == 4 && !memcmp(v, "null", 4)))
		return NULL;
	return parse_in(body, v, vlen, fields, n, why, whylen, serde);
}
