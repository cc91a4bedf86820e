/* Strict JSON scanning: see sjson.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sjson.h"

int sjson_err(struct sjson *p, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(p->err, p->errlen, "%s: %s at byte %zu", p->what, msg, p->pos);
	return -EINVAL;
}

void sjson_skip_ws(struct sjson *p)
{
	while (p->pos < p->len && strchr(" \t\r\n", p->s[p->pos]) && p->s[p->pos])
		p->pos++;
}

bool sjson_eat(struct sjson *p, char c)
{
	sjson_skip_ws(p);
	if (p->pos < p->len && p->s[p->pos] == c) {
		p->pos++;
		return true;
	}
	return false;
}

static int hex4(struct sjson *p, unsigned *out)
{
	unsigned v = 0;

	if (p->len - p->pos < 4)
		return sjson_err(p, "truncated \\u escape");
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
			return sjson_err(p, "bad hex digit in \\u escape");
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

static int parse_escape(struct sjson *p, char *out, size_t *n)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	unsigned cp, lo;
	const char *e;
	char c;
	int r;

	if (p->pos >= p->len)
		return sjson_err(p, "truncated escape");
	c = p->s[p->pos++];
	if (c != 'u') {
		e = c ? strchr(from, c) : NULL;
		if (!e)
			return sjson_err(p, "bad escape \\%c", c);
		out[(*n)++] = to[e - from];
		return 0;
	}
	r = hex4(p, &cp);
	if (r)
		return r;
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return sjson_err(p, "unpaired low surrogate");
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
			return sjson_err(p, "unpaired high surrogate");
		p->pos += 2;
		r = hex4(p, &lo);
		if (r)
			return r;
		if (lo < 0xdc00 || lo > 0xdfff)
			return sjson_err(p, "bad low surrogate");
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	}
	if (cp == 0)
		return sjson_err(p, "\\u0000 is not allowed");
	*n += put_utf8(out + *n, cp);
	return 0;
}

int sjson_string(struct sjson *p, char **out)
{
	char *buf;
	size_t n = 0;
	int r = 0;

	if (!sjson_eat(p, '"'))
		return sjson_err(p, "expected a string");
	buf = malloc(SJSON_MAX_STR + 1);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		unsigned char c;

		if (p->pos >= p->len) {
			r = sjson_err(p, "unterminated string");
			break;
		}
		/* Room for the longest step (4 bytes) keeps every write below in bounds. */
		if (n + 4 > SJSON_MAX_STR) {
			r = sjson_err(p, "string longer than %d bytes", SJSON_MAX_STR);
			break;
		}
		c = (unsigned char)p->s[p->pos];
		if (c == '"') {
			p->pos++;
			break;
		}
		if (c < 0x20) {
			r = sjson_err(p, "control character in string");
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
			r = sjson_err(p, "invalid UTF-8");
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

int sjson_uint(struct sjson *p, const char *name, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t start;

	sjson_skip_ws(p);
	start = p->pos;
	while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
		/* Saturates instead of wrapping: any longer number is out of range anyway. */
		v = v <= (UINT64_MAX - 9) / 10 ? v * 10 + (uint64_t)(p->s[p->pos] - '0') : UINT64_MAX;
		p->pos++;
	}
	if (p->pos == start)
		return sjson_err(p, "%s must be a whole number", name);
	if (p->pos - start > 1 && p->s[start] == '0')
		return sjson_err(p, "leading zero in number");
	if (p->pos < p->len && strchr(".eE", p->s[p->pos]) && p->s[p->pos])
		return sjson_err(p, "%s must be a whole number", name);
	if (v < min || v > max)
		return sjson_err(p, "%s must be %llu..%llu", name, (unsigned long long)min, (unsigned long long)max);
	*out = v;
	return 0;
}

int sjson_key(struct sjson *p, const char *const *keys, unsigned n, unsigned *seen)
{
	char *key, allowed[256];
	size_t off = 0;
	unsigned k;
	int r;

	r = sjson_string(p, &key);
	if (r)
		return r;
	for (k = 0; k < n && strcmp(key, keys[k]); k++)
		;
	free(key);
	if (k == n) {
		for (unsigned i = 0; i < n && off < sizeof(allowed); i++)
			off += (size_t)snprintf(allowed + off, sizeof(allowed) - off, "%s%s", i ? ", " : "", keys[i]);
		return sjson_err(p, "unknown key (allowed: %s)", n ? allowed : "none");
	}
	if (*seen & 1u << k)
		return sjson_err(p, "duplicate key %s", keys[k]);
	*seen |= 1u << k;
	if (!sjson_eat(p, ':'))
		return sjson_err(p, "expected :");
	return (int)k;
}

int sjson_end(struct sjson *p)
{
	sjson_skip_ws(p);
	return p->pos == p->len ? 0 : sjson_err(p, "trailing data after the object");
}
