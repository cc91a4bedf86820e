/* HTTP/1.x request heads for the invocation server. Anything it does not understand is an
 * error with a status code, never a guess: the client is a program, not a browser. */
#include <string.h>
#include <strings.h>

#include "reqhead.h"

static enum reqhead_result bad(struct reqhead *rh, int status, const char *why)
{
	rh->status = status;
	rh->why = why;
	return REQHEAD_ERROR;
}

static bool is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Visible ASCII or obs-text: what a request target and a field value may contain. */
static bool is_vchar(char c)
{
	unsigned char u = (unsigned char)c;

	return (u > 0x20 && u != 0x7f);
}

static enum reqhead_result request_line(const char *l, size_t n, struct reqhead *rh)
{
	const char *sp1 = memchr(l, ' ', n), *sp2, *target, *q;
	size_t mlen, tlen, vlen;

	if (!sp1)
		return bad(rh, 400, "malformed request line");
	mlen = (size_t)(sp1 - l);
	sp2 = memchr(sp1 + 1, ' ', n - mlen - 1);
	if (!sp2)
		return bad(rh, 400, "malformed request line");
	if (!mlen || mlen >= sizeof(rh->method))
		return bad(rh, 400, "bad method");
	for (size_t i = 0; i < mlen; i++)
		if (!is_tchar(l[i]))
			return bad(rh, 400, "bad method");
	memcpy(rh->method, l, mlen);
	rh->method[mlen] = '\0';

	target = sp1 + 1;
	tlen = (size_t)(sp2 - target);
	if (!tlen || target[0] != '/')
		return bad(rh, 400, "request target must be an absolute path");
	for (size_t i = 0; i < tlen; i++)
		if (!is_vchar(target[i]))
			return bad(rh, 400, "bad character in request target");
	q = memchr(target, '?', tlen);
	if (q)
		tlen = (size_t)(q - target);
	if (tlen >= sizeof(rh->path))
		return bad(rh, 414, "request target too long");
	memcpy(rh->path, target, tlen);
	rh->path[tlen] = '\0';

	vlen = n - (size_t)(sp2 + 1 - l);
	if (vlen != 8 || memcmp(sp2 + 1, "HTTP/1.", 7))
		return bad(rh, vlen >= 5 && !memcmp(sp2 + 1, "HTTP/", 5) ? 505 : 400, "bad HTTP version");
	if (sp2[8] != '0' && sp2[8] != '1')
		return bad(rh, 505, "unsupported HTTP version");
	return REQHEAD_DONE;
}

/* Content-Length: 1*DIGIT, at most 15 digits so the sum cannot overflow. */
static bool parse_length(const char *v, size_t n, size_t *out)
{
	size_t x = 0;

	if (!n || n > 15)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return false;
		x = x * 10 + (size_t)(v[i] - '0');
	}
	*out = x;
	return true;
}

static enum reqhead_result header_field(const char *l, size_t n, struct reqhead *rh, bool *have_len)
{
	const char *colon = memchr(l, ':', n), *v, *end = l + n;
	size_t nlen, len;

	if (!colon || colon == l)
		return bad(rh, 400, "malformed header field");
	nlen = (size_t)(colon - l);
	for (size_t i = 0; i < nlen; i++)
		if (!is_tchar(l[i]))
			return bad(rh, 400, "bad header field name");
	v = colon + 1;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	for (const char *c = v; c < end; c++)
		if (!is_vchar(*c) && *c != ' ' && *c != '\t')
			return bad(rh, 400, "bad character in header field value");

	if (nlen == 14 && !strncasecmp(l, "Content-Length", 14)) {
		if (!parse_length(v, (size_t)(end - v), &len))
			return bad(rh, 400, "bad Content-Length");
		if (*have_len && len != rh->content_length)
			return bad(rh, 400, "conflicting Content-Length fields");
		rh->content_length = len;
		*have_len = true;
	} else if (nlen == 17 && !strncasecmp(l, "Transfer-Encoding", 17)) {
		return bad(rh, 501, "Transfer-Encoding is not supported; send Content-Length");
	} else if (nlen == 6 && !strncasecmp(l, "Expect", 6)) {
		if ((size_t)(end - v) != 12 || strncasecmp(v, "100-continue", 12))
			return bad(rh, 417, "unsupported Expect");
		rh->expect_continue = true;
	}
	return REQHEAD_DONE;
}

enum reqhead_result reqhead_parse(const char *buf, size_t len, struct reqhead *rh)
{
	const char *p = buf, *end;
	bool have_len = false;
	int fields = 0;
	enum reqhead_result r;

	memset(rh, 0, sizeof(*rh));
	/* The blank line must come within REQHEAD_MAX bytes; look no further than that. */
	if (len > REQHEAD_MAX)
		len = REQHEAD_MAX;
	end = memmem(buf, len, "\r\n\r\n", 4);
	if (!end) {
		if (len == REQHEAD_MAX)
			return bad(rh, 431, "request head larger than 8192 bytes");
		/* Do not wait for more bytes of something that is already wrong. */
		const char *nl = memchr(buf, '\n', len);

		if (memchr(buf, '\0', len))
			return bad(rh, 400, "NUL byte in request head");
		if (nl) {
			if (nl == buf || nl[-1] != '\r')
				return bad(rh, 400, "line not ended by CRLF");
			r = request_line(buf, (size_t)(nl - 1 - buf), rh);
			if (r != REQHEAD_DONE)
				return r;
		}
		memset(rh, 0, sizeof(*rh));
		return REQHEAD_INCOMPLETE;
	}
	rh->head_len = (size_t)(end - buf) + 4;
	end += 2; /* the last line's CRLF */
	for (bool first = true; p < end; first = false) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n;

		/* nl exists: end points just past a CRLF. */
		n = (size_t)(nl - p);
		if (!n || p[n - 1] != '\r')
			return bad(rh, 400, "line not ended by CRLF");
		n--;
		if (memchr(p, '\r', n) || memchr(p, '\0', n))
			return bad(rh, 400, "stray CR or NUL in request head");
		if (first) {
			r = request_line(p, n, rh);
		} else {
			if (p[0] == ' ' || p[0] == '\t')
				return bad(rh, 400, "obsolete line folding");
			if (++fields > REQHEAD_MAX_FIELDS)
				return bad(rh, 431, "too many header fields");
			r = header_field(p, n, rh, &have_len);
		}
		if (r != REQHEAD_DONE)
			return r;
		p = nl + 1;
	}
	return REQHEAD_DONE;
}
