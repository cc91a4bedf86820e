/* The strict HTTP/1.x request-head parser shared by the API and kindling-init (httphead.h).
 * Anything unusual is an error: the clients are programs, not browsers, and a lenient
 * parser is an attack surface. */
#include "httphead.h"

#include <string.h>
#include <strings.h>

#define METHOD_MAX 16

static enum httphead_result fail(struct httphead *h, enum httphead_error e, const char *at, size_t at_len)
{
	h->error = e;
	h->at = at;
	h->at_len = at_len;
	return HTTPHEAD_ERROR;
}

/* RFC 9110 tchar. NUL is not one. */
static bool is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool target_byte_ok(unsigned char u, const struct httphead_opts *o)
{
	return u > 0x20 && u != 0x7f && (u < 0x80 || o->target_obs_text);
}

/* Field values: HT, SP, visible ASCII, obs-text; DEL only where allowed. */
static bool value_byte_ok(unsigned char u, const struct httphead_opts *o)
{
	return (u >= 0x20 || u == '\t') && (u != 0x7f || o->value_del);
}

static bool ci_equal(const char *s, size_t n, const char *word)
{
	return n == strlen(word) && !strncasecmp(s, word, n);
}

static enum httphead_result request_line(const char *l, size_t n, const struct httphead_opts *o,
					 struct httphead *h)
{
	const char *sp1 = memchr(l, ' ', n), *sp2, *t, *v, *q;
	size_t mlen, tlen, vlen;

	if (!sp1)
		return fail(h, HTTPHEAD_REQUEST_LINE, l, n);
	mlen = (size_t)(sp1 - l);
	sp2 = memchr(sp1 + 1, ' ', n - mlen - 1);
	if (!sp2)
		return fail(h, HTTPHEAD_REQUEST_LINE, l, n);
	if (!mlen || mlen >= METHOD_MAX)
		return fail(h, HTTPHEAD_METHOD, l, mlen);
	for (size_t i = 0; i < mlen; i++)
		if (!is_tchar(l[i]))
			return fail(h, HTTPHEAD_METHOD, l, mlen);

	t = sp1 + 1;
	tlen = (size_t)(sp2 - t);
	if (!tlen || t[0] != '/')
		return fail(h, HTTPHEAD_TARGET, t, tlen);
	for (size_t i = 0; i < tlen; i++)
		if (!target_byte_ok((unsigned char)t[i], o))
			return fail(h, HTTPHEAD_TARGET_CHAR, t, tlen);
	if (o->strip_query && (q = memchr(t, '?', tlen)))
		tlen = (size_t)(q - t);
	if (tlen >= o->max_target)
		return fail(h, HTTPHEAD_TARGET_LONG, t, tlen);

	v = sp2 + 1;
	vlen = n - (size_t)(v - l);
	if (vlen != 8 || memcmp(v, "HTTP/1.", 7))
		return fail(h, HTTPHEAD_VERSION, v, vlen);
	if (v[7] != '0' && v[7] != '1')
		return fail(h, HTTPHEAD_VERSION_UNSUPPORTED, v, vlen);
	if (o->methods) {
		const char *const *m = o->methods;

		while (*m && (strlen(*m) != mlen || memcmp(*m, l, mlen)))
			m++;
		if (!*m)
			return fail(h, HTTPHEAD_METHOD_UNKNOWN, l, mlen);
	}
	h->method = l;
	h->method_len = mlen;
	h->target = t;
	h->target_len = tlen;
	h->minor_version = v[7] - '0';
	return HTTPHEAD_DONE;
}

/* Content-Length: 1*DIGIT within the caller's limits; duplicates must agree. */
static enum httphead_result content_length(const char *v, size_t n, const struct httphead_opts *o,
					   struct httphead *h)
{
	unsigned long long x = 0;

	if (!n || n > o->max_length_digits)
		return fail(h, HTTPHEAD_CONTENT_LENGTH, v, n);
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return fail(h, HTTPHEAD_CONTENT_LENGTH, v, n);
		x = x * 10 + (unsigned long long)(v[i] - '0');
	}
	if (x > o->max_length)
		return fail(h, HTTPHEAD_CONTENT_LENGTH, v, n);
	if (h->has_length && x != h->content_length)
		return fail(h, HTTPHEAD_LENGTH_CONFLICT, v, n);
	h->has_length = true;
	h->content_length = x;
	return HTTPHEAD_DONE;
}

static enum httphead_result header_field(const char *l, size_t n, const struct httphead_opts *o,
					 struct httphead *h)
{
	const char *colon = memchr(l, ':', n), *v, *end = l + n;
	size_t nlen, vlen;

	if (!colon || colon == l)
		return fail(h, HTTPHEAD_FIELD, l, n);
	nlen = (size_t)(colon - l);
	for (size_t i = 0; i < nlen; i++)
		if (!is_tchar(l[i]))
			return fail(h, HTTPHEAD_FIELD_NAME, l, n);
	for (v = colon + 1; v < end && (*v == ' ' || *v == '\t'); v++)
		;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	for (const char *c = v; c < end; c++)
		if (!value_byte_ok((unsigned char)*c, o))
			return fail(h, HTTPHEAD_FIELD_VALUE, l, n);
	vlen = (size_t)(end - v);

	if (ci_equal(l, nlen, "Content-Length"))
		return content_length(v, vlen, o, h);
	if (ci_equal(l, nlen, "Transfer-Encoding"))
		return fail(h, HTTPHEAD_TRANSFER_ENCODING, v, vlen);
	if (ci_equal(l, nlen, "Expect")) {
		if (!ci_equal(v, vlen, "100-continue"))
			return fail(h, HTTPHEAD_EXPECT, v, vlen);
		h->expect_continue = true;
	} else if (ci_equal(l, nlen, "Connection")) {
		if (ci_equal(v, vlen, "close"))
			h->connection = -1;
		else if (ci_equal(v, vlen, "keep-alive"))
			h->connection = 1;
	}
	return HTTPHEAD_DONE;
}

/* Before the blank line: refuse now what can only be refused later. */
static enum httphead_result early(const char *buf, size_t len, const struct httphead_opts *o, struct httphead *h)
{
	if (o->early_ascii) {
		for (size_t i = 0; i < len; i++) {
			unsigned char c = (unsigned char)buf[i];

			if ((c < 0x20 && c != '\r' && c != '\n' && c != '\t') || c >= 0x7f)
				return fail(h, HTTPHEAD_EARLY_BYTE, buf + i, 1);
		}
	}
	if (o->early_request_line) {
		const char *nl = memchr(buf, '\n', len), *nul = memchr(buf, '\0', len);

		if (nul)
			return fail(h, HTTPHEAD_EARLY_NUL, nul, 1);
		if (nl) {
			if (nl == buf || nl[-1] != '\r')
				return fail(h, HTTPHEAD_LINE_END, buf, (size_t)(nl - buf));
			if (request_line(buf, (size_t)(nl - 1 - buf), o, h) != HTTPHEAD_DONE)
				return HTTPHEAD_ERROR;
		}
	}
	memset(h, 0, sizeof(*h));
	return HTTPHEAD_INCOMPLETE;
}

/* The next line of the head [*p, end): its text (without the line end) in *l and *n. */
static enum httphead_result next_line(const char **p, const char *end, const struct httphead_opts *o,
				      struct httphead *h, const char **l, size_t *n)
{
	const char *s = *p;

	*l = s;
	if (o->lf_lines) {
		const char *nl = memchr(s, '\n', (size_t)(end - s)); /* found: end follows a CRLF */

		*n = (size_t)(nl - s);
		if (!*n || s[*n - 1] != '\r')
			return fail(h, HTTPHEAD_LINE_END, s, *n);
		(*n)--;
		if (memchr(s, '\r', *n) || memchr(s, '\0', *n))
			return fail(h, HTTPHEAD_STRAY, s, *n);
		*p = nl + 1;
	} else {
		const char *cr = memchr(s, '\r', (size_t)(end - s)); /* found: end follows a CRLF */

		*n = (size_t)(cr - s);
		if (cr[1] != '\n')
			return fail(h, HTTPHEAD_LINE_END, s, *n);
		*p = cr + 2;
	}
	return HTTPHEAD_DONE;
}

enum httphead_result httphead_parse(const char *buf, size_t len, const struct httphead_opts *o, struct httphead *h)
{
	const char *end, *p = buf, *l;
	unsigned fields = 0;
	size_t n;

	memset(h, 0, sizeof(*h));
	/* The blank line must come within max_head bytes; look no further than that. */
	if (len > o->max_head)
		len = o->max_head;
	end = memmem(buf, len, "\r\n\r\n", 4);
	if (!end) {
		if (len == o->max_head)
			return fail(h, HTTPHEAD_TOO_LARGE, buf, len);
		return early(buf, len, o, h);
	}
	h->head_len = (size_t)(end - buf) + 4;
	end += 2; /* the last line's CRLF */
	if (next_line(&p, end, o, h, &l, &n) != HTTPHEAD_DONE || request_line(l, n, o, h) != HTTPHEAD_DONE)
		return HTTPHEAD_ERROR;
	while (p < end) {
		if (next_line(&p, end, o, h, &l, &n) != HTTPHEAD_DONE)
			return HTTPHEAD_ERROR;
		if (n && (l[0] == ' ' || l[0] == '\t'))
			return fail(h, HTTPHEAD_FOLD, l, n);
		if (o->max_fields && ++fields > o->max_fields)
			return fail(h, HTTPHEAD_TOO_MANY_FIELDS, l, n);
		if (header_field(l, n, o, h) != HTTPHEAD_DONE)
			return HTTPHEAD_ERROR;
	}
	return HTTPHEAD_DONE;
}

size_t httphead_key_len(const struct httphead *h)
{
	const char *colon = memchr(h->at, ':', h->at_len);

	return colon ? (size_t)(colon - h->at) : h->at_len;
}
