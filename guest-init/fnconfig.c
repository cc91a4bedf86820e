/* function.json: a recursive-descent parser that knows the one schema it accepts, so it
 * needs no generic JSON tree and every size is bounded up front. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fnconfig.h"
#include "kcmdline.h"

struct parser {
	const char *s;
	size_t len, pos;
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 2, 3))) static int perr(struct parser *p, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(p->err, p->errlen, "function.json: %s at byte %zu", msg, p->pos);
	return -EINVAL;
}

static void skip_ws(struct parser *p)
{
	while (p->pos < p->len && strchr(" \t\r\n", p->s[p->pos]) && p->s[p->pos])
		p->pos++;
}

/* Consumes c after optional whitespace. */
static bool eat(struct parser *p, char c)
{
	skip_ws(p);
	if (p->pos < p->len && p->s[p->pos] == c) {
		p->pos++;
		return true;
	}
	return false;
}

static int hex4(struct parser *p, unsigned *out)
{
	unsigned v = 0;

	if (p->len - p->pos < 4)
		return perr(p, "truncated \\u escape");
	for (int i = 0; i < 4; i++) {
		char c = p->s[p->pos++];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return perr(p, "bad hex digit in \\u escape");
	}
	*out = v;
	return 0;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp, min;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0)
		len = 2, cp = s[0] & 0x1f, min = 0x80;
	else if ((s[0] & 0xf0) == 0xe0)
		len = 3, cp = s[0] & 0x0f, min = 0x800;
	else if ((s[0] & 0xf8) == 0xf0)
		len = 4, cp = s[0] & 0x07, min = 0x10000;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

static size_t put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

static int parse_escape(struct parser *p, char *out, size_t *n)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	unsigned cp, lo;
	const char *e;
	char c;
	int r;

	if (p->pos >= p->len)
		return perr(p, "truncated escape");
	c = p->s[p->pos++];
	if (c != 'u') {
		e = c ? strchr(from, c) : NULL;
		if (!e)
			return perr(p, "bad escape \\%c", c);
		out[(*n)++] = to[e - from];
		return 0;
	}
	r = hex4(p, &cp);
	if (r)
		return r;
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return perr(p, "unpaired low surrogate");
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
			return perr(p, "unpaired high surrogate");
		p->pos += 2;
		r = hex4(p, &lo);
		if (r)
			return r;
		if (lo < 0xdc00 || lo > 0xdfff)
			return perr(p, "bad low surrogate");
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	}
	if (cp == 0)
		return perr(p, "\\u0000 is not allowed");
	*n += put_utf8(out + *n, cp);
	return 0;
}

/* Parses a string into a new heap copy (at most FN_MAX_STR bytes decoded). */
static int parse_string(struct parser *p, char **out)
{
	char *buf;
	size_t n = 0;
	int r = 0;

	if (!eat(p, '"'))
		return perr(p, "expected a string");
	buf = malloc(FN_MAX_STR + 1);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		unsigned char c;

		if (p->pos >= p->len) {
			r = perr(p, "unterminated string");
			break;
		}
		/* Room for the longest step (4 bytes) keeps every write below in bounds. */
		if (n + 4 > FN_MAX_STR) {
			r = perr(p, "string longer than %d bytes", FN_MAX_STR);
			break;
		}
		c = (unsigned char)p->s[p->pos];
		if (c == '"') {
			p->pos++;
			break;
		}
		if (c < 0x20) {
			r = perr(p, "control character in string");
			break;
		}
		if (c == '\\') {
			p->pos++;
			r = parse_escape(p, buf, &n);
			if (r)
				break;
			continue;
		}
		size_t l = utf8_len((const unsigned char *)p->s + p->pos, p->len - p->pos);
		if (!l) {
			r = perr(p, "invalid UTF-8");
			break;
		}
		memcpy(buf + n, p->s + p->pos, l);
		n += l;
		p->pos += l;
	}
	if (r) {
		free(buf);
		return r;
	}
	buf[n] = '\0';
	*out = buf;
	return 0;
}

static int parse_timeout(struct parser *p, unsigned *out)
{
	uint64_t v = 0;
	size_t start;

	skip_ws(p);
	start = p->pos;
	while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
		if (v <= FN_MAX_TIMEOUT_S)
			v = v * 10 + (uint64_t)(p->s[p->pos] - '0');
		p->pos++;
	}
	if (p->pos == start)
		return perr(p, "timeout_s must be a whole number of seconds");
	if (p->pos - start > 1 && p->s[start] == '0')
		return perr(p, "leading zero in number");
	if (p->pos < p->len && strchr(".eE", p->s[p->pos]) && p->s[p->pos])
		return perr(p, "timeout_s must be a whole number of seconds");
	if (v < 1 || v > FN_MAX_TIMEOUT_S)
		return perr(p, "timeout_s must be 1..%d", FN_MAX_TIMEOUT_S);
	*out = (unsigned)v;
	return 0;
}

static int parse_args(struct parser *p, struct fnconfig *fc)
{
	int r;

	if (!eat(p, '['))
		return perr(p, "args must be an array of strings");
	if (eat(p, ']'))
		return 0;
	do {
		if (fc->nargs == FN_MAX_ARGS)
			return perr(p, "more than %d args", FN_MAX_ARGS);
		r = parse_string(p, &fc->argv[1 + fc->nargs]);
		if (r)
			return r;
		fc->nargs++;
	} while (eat(p, ','));
	return eat(p, ']') ? 0 : perr(p, "expected , or ] in args");
}

static bool valid_env_name(const char *s)
{
	if (!*s || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s; s++)
		if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
			return false;
	return true;
}

static int parse_env(struct parser *p, struct fnconfig *fc)
{
	char *k = NULL, *v = NULL;
	int r;

	if (!eat(p, '{'))
		return perr(p, "env must be an object of strings");
	if (eat(p, '}'))
		return 0;
	do {
		if (fc->nenv == FN_MAX_ENV)
			return perr(p, "more than %d env entries", FN_MAX_ENV);
		r = parse_string(p, &k);
		if (r)
			return r;
		if (!valid_env_name(k)) {
			free(k);
			return perr(p, "env name is not [A-Za-z_][A-Za-z0-9_]*");
		}
		for (int i = 0; i < fc->nenv; i++) {
			size_t kl = strlen(k);

			if (!strncmp(fc->env[i], k, kl) && fc->env[i][kl] == '=') {
				free(k);
				return perr(p, "duplicate env name");
			}
		}
		if (!eat(p, ':')) {
			free(k);
			return perr(p, "expected : in env");
		}
		r = parse_string(p, &v);
		if (r) {
			free(k);
			return r;
		}
		if (asprintf(&fc->env[fc->nenv], "%s=%s", k, v) < 0) {
			fc->env[fc->nenv] = NULL;
			r = -ENOMEM;
		} else {
			fc->nenv++;
		}
		free(k);
		free(v);
		if (r)
			return r;
	} while (eat(p, ','));
	return eat(p, '}') ? 0 : perr(p, "expected , or } in env");
}

void fnconfig_init(struct fnconfig *fc)
{
	memset(fc, 0, sizeof(*fc));
	fc->timeout_s = FN_DEFAULT_TIMEOUT_S;
}

void fnconfig_free(struct fnconfig *fc)
{
	free(fc->handler);
	for (int i = 1; i <= fc->nargs; i++)
		free(fc->argv[i]);
	for (int i = 0; i < fc->nenv; i++)
		free(fc->env[i]);
	fnconfig_init(fc);
}

int fnconfig_parse(struct fnconfig *fc, const char *json, size_t len, char *err, size_t errlen)
{
	struct parser p = { .s = json, .len = len, .err = err, .errlen = errlen };
	unsigned seen = 0;
	int r;

	if (len > FN_MAX_FILE)
		return perr(&p, "file larger than %d bytes", FN_MAX_FILE);
	if (!eat(&p, '{'))
		return perr(&p, "expected a JSON object");
	if (!eat(&p, '}')) {
		do {
			static const char *const keys[] = { "handler", "args", "env", "timeout_s" };
			char *key;
			unsigned k;

			r = parse_string(&p, &key);
			if (r)
				return r;
			for (k = 0; k < 4 && strcmp(key, keys[k]); k++)
				;
			free(key);
			if (k == 4)
				return perr(&p, "unknown key (allowed: handler, args, env, timeout_s)");
			if (seen & 1u << k)
				return perr(&p, "duplicate key %s", keys[k]);
			seen |= 1u << k;
			if (!eat(&p, ':'))
				return perr(&p, "expected :");
			if (k == 0)
				r = parse_string(&p, &fc->handler);
			else if (k == 1)
				r = parse_args(&p, fc);
			else if (k == 2)
				r = parse_env(&p, fc);
			else
				r = parse_timeout(&p, &fc->timeout_s);
			if (r)
				return r;
		} while (eat(&p, ','));
		if (!eat(&p, '}'))
			return perr(&p, "expected , or }");
	}
	skip_ws(&p);
	if (p.pos != p.len)
		return perr(&p, "trailing data after the object");
	return 0;
}

int fnconfig_finish(struct fnconfig *fc, const char *cmdline, char *err, size_t errlen)
{
	char val[FN_MAX_STR];
	int r;

	r = kcmdline_get(cmdline, "kindling.handler", val, sizeof(val));
	if (r < 0) {
		snprintf(err, errlen, "kindling.handler= is too long");
		return -EINVAL;
	}
	if (r > 0) {
		char *h = strdup(val);

		if (!h)
			return -ENOMEM;
		free(fc->handler);
		fc->handler = h;
	}
	r = kcmdline_get(cmdline, "kindling.timeout", val, sizeof(val));
	if (r != 0) {
		struct parser p = { .s = val, .len = r > 0 ? strlen(val) : 0, .err = err, .errlen = errlen };
		unsigned t;

		if (r < 0 || parse_timeout(&p, &t) || p.pos != p.len) {
			snprintf(err, errlen, "kindling.timeout= must be whole seconds 1..%d", FN_MAX_TIMEOUT_S);
			return -EINVAL;
		}
		fc->timeout_s = t;
	}
	if (!fc->handler || !*fc->handler) {
		snprintf(err, errlen, "no handler: set \"handler\" in function.json or kindling.handler=");
		return -EINVAL;
	}
	if (fc->handler[0] != '/') {
		snprintf(err, errlen, "handler %s is not an absolute path", fc->handler);
		return -EINVAL;
	}
	fc->argv[0] = fc->handler;
	fc->argv[1 + fc->nargs] = NULL;
	fc->env[fc->nenv] = NULL;
	return 0;
}
