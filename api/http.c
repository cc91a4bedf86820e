/* Strict HTTP/1.1 request parsing. Anything unusual is an error: the API's clients are
 * scripts and SDKs, not browsers, and a lenient parser is an attack surface. */
#include "http.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

const char *http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Payload Too Large";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

static enum http_parse_result error(int *status, char *why, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static enum http_parse_result error(int *status, char *why, int code, const char *fmt, ...)
{
	va_list ap;

	*status = code;
	va_start(ap, fmt);
	vsnprintf(why, HTTP_WHY_MAX, fmt, ap);
	va_end(ap);
	return HTTP_ERROR;
}

/* Finds "\r\n\r\n" within the first n bytes. */
static const char *find_end(const char *buf, size_t n)
{
	for (size_t i = 0; i + 3 < n; i++)
		if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' && buf[i + 3] == '\n')
			return buf + i;
	return NULL;
}

static bool is_token_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr("!#$%&'*+-.^_`|~", c);
}

static int parse_request_line(const char *p, const char *eol, struct http_request *req)
{
	const char *sp1 = memchr(p, ' ', (size_t)(eol - p)), *sp2;
	size_t n;

	if (!sp1 || sp1 == p || (size_t)(sp1 - p) >= sizeof(req->method_name))
		return -1;
	for (const char *q = p; q < sp1; q++)
		if (!is_token_char(*q))
			return -1;
	memcpy(req->method_name, p, (size_t)(sp1 - p));
	req->method_name[sp1 - p] = 0;
	sp2 = memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1));
	if (!sp2)
		return -1;
	n = (size_t)(sp2 - sp1 - 1);
	if (n == 0 || n >= sizeof(req->path) || sp1[1] != '/')
		return -1;
	for (const char *q = sp1 + 1; q < sp2; q++)
		if ((unsigned char)*q <= 0x20 || (unsigned char)*q >= 0x7f)
			return -1;
	memcpy(req->path, sp1 + 1, n);
	req->path[n] = 0;
	if ((size_t)(eol - sp2 - 1) != 8)
		return -1;
	if (!memcmp(sp2 + 1, "HTTP/1.1", 8))
		req->keep_alive = true;
	else if (!memcmp(sp2 + 1, "HTTP/1.0", 8))
		req->keep_alive = false;
	else
		return -2;
	if (!strcmp(req->method_name, "GET"))
		req->method = HTTP_GET;
	else if (!strcmp(req->method_name, "PUT"))
		req->method = HTTP_PUT;
	else if (!strcmp(req->method_name, "PATCH"))
		req->method = HTTP_PATCH;
	else
		return -3; /* Firecracker's parser knows no other method */
	return 0;
}

static bool value_is(const char *v, size_t n, const char *word)
{
	return n == strlen(word) && !strncasecmp(v, word, n);
}

enum http_parse_result http_parse(const char *buf, size_t len, size_t max_body, struct http_request *req,
				  size_t *consumed, int *status, char *why)
{
	const char *end, *p, *eol;
	long long content_length = -1;
	size_t hlen;
	int r;

	memset(req, 0, sizeof(*req));
	end = find_end(buf, len < HTTP_MAX_HEADER ? len : HTTP_MAX_HEADER);
	if (!end) {
		if (len >= HTTP_MAX_HEADER)
			return error(status, why, 400, "Invalid request: the header section is larger than %d bytes.", HTTP_MAX_HEADER);
		/* Reject garbage at once rather than wait for a blank line that never comes: a
		 * request head is printable ASCII, tabs and line ends. */
		for (size_t i = 0; i < len; i++) {
			unsigned char c = (unsigned char)buf[i];

			if ((c < 0x20 && c != '\r' && c != '\n' && c != '\t') || c >= 0x7f)
				return error(status, why, 400, "Invalid request.");
		}
		return HTTP_INCOMPLETE;
	}
	hlen = (size_t)(end - buf) + 4;
	eol = memchr(buf, '\r', hlen);
	if (!eol || eol[1] != '\n')
		return error(status, why, 400, "Invalid request.");
	r = parse_request_line(buf, eol, req);
	if (r == -2)
		return error(status, why, 400, "Invalid HTTP Version: Unsupported HTTP version.");
	if (r == -3)
		return error(status, why, 400, "Invalid HTTP Method: Unsupported HTTP method.");
	if (r)
		return error(status, why, 400, "Invalid request.");

	for (p = eol + 2; p < end + 2; p = eol + 2) {
		const char *colon, *v, *ve;

		eol = memchr(p, '\r', (size_t)(end + 2 - p));
		if (!eol || eol[1] != '\n')
			return error(status, why, 400, "Invalid request.");
		if (eol == p)
			break;
		colon = memchr(p, ':', (size_t)(eol - p));
		if (!colon || colon == p)
			return error(status, why, 400, "Invalid header. Reason: Header is incorrectly formatted. Key: %.*s", (int)(eol - p > 64 ? 64 : eol - p), p);
		for (const char *q = p; q < colon; q++)
			if (!is_token_char(*q))
				return error(status, why, 400, "Invalid header. Reason: Header is incorrectly formatted. Key: %.*s", (int)(colon - p > 64 ? 64 : colon - p), p);
		for (v = colon + 1; v < eol && (*v == ' ' || *v == '\t'); v++)
			;
		for (ve = eol; ve > v && (ve[-1] == ' ' || ve[-1] == '\t'); ve--)
			;
		for (const char *q = v; q < ve; q++)
			if ((unsigned char)*q < 0x20 && *q != '\t')
				return error(status, why, 400, "Invalid header. Reason: Header contains invalid characters. Key: %.*s", (int)(colon - p > 64 ? 64 : colon - p), p);
		size_t name_len = (size_t)(colon - p), vlen = (size_t)(ve - v);

		if (name_len == 14 && !strncasecmp(p, "Content-Length", 14)) {
			long long cl = 0;

			/* Firecracker parses it as a u32. */
			if (vlen == 0 || vlen > 10)
				return error(status, why, 400, "Invalid header. Reason: Invalid value. Key:Content-Length; Value: %.*s", (int)(vlen > 24 ? 24 : vlen), v);
			for (size_t i = 0; i < vlen; i++) {
				if (v[i] < '0' || v[i] > '9')
					return error(status, why, 400, "Invalid header. Reason: Invalid value. Key:Content-Length; Value: %.*s", (int)(vlen > 24 ? 24 : vlen), v);
				cl = cl * 10 + (v[i] - '0');
			}
			if (cl > 0xffffffffll)
				return error(status, why, 400, "Invalid header. Reason: Invalid value. Key:Content-Length; Value: %.*s", (int)vlen, v);
			if (content_length >= 0 && content_length != cl)
				return error(status, why, 400, "Invalid request: conflicting Content-Length headers.");
			content_length = cl;
		} else if (name_len == 17 && !strncasecmp(p, "Transfer-Encoding", 17)) {
			/* Firecracker accepts the header and still frames by Content-Length; two ways to
			 * frame one body is how requests are smuggled, so we refuse it. */
			return error(status, why, 400, "Invalid header. Reason: Unsupported value. Key:Transfer-Encoding; Value:%.*s (kindling frames bodies by Content-Length only)", (int)(vlen > 24 ? 24 : vlen), v);
		} else if (name_len == 10 && !strncasecmp(p, "Connection", 10)) {
			if (value_is(v, vlen, "close"))
				req->keep_alive = false;
			else if (value_is(v, vlen, "keep-alive"))
				req->keep_alive = true;
		} else if (name_len == 6 && !strncasecmp(p, "Expect", 6)) {
			if (!value_is(v, vlen, "100-continue"))
				return error(status, why, 400, "Invalid header. Reason: Unsupported value. Key:Expect; Value:%.*s", (int)(vlen > 24 ? 24 : vlen), v);
			req->expect_continue = true;
		}
	}
	if (content_length > (long long)max_body)
		return error(status, why, 400, "Request payload with size %lld is larger than the limit of %zu allowed by server.",
			     content_length, max_body);
	if (content_length < 0)
		content_length = 0;
	req->header_len = hlen;
	req->body_len = (size_t)content_length;
	if (len - hlen < req->body_len)
		return HTTP_HEADERS_DONE;
	req->body = buf + hlen;
	*consumed = hlen + req->body_len;
	return HTTP_COMPLETE;
}

size_t http_format_response(char *out, size_t outlen, int status, const char *body, size_t body_len,
			    bool keep_alive, const char *extra)
{
	char length[48] = "";
	int n;

	/* RFC 9110: no body and no Content-Length on 204. */
	if (status == 204)
		body_len = 0;
	else
		snprintf(length, sizeof(length), "Content-Length: %zu\r\n", body_len);
	n = snprintf(out, outlen, "HTTP/1.1 %d %s\r\nServer: kindling\r\n%s%s%s%s\r\n", status,
		     http_reason(status), body_len ? "Content-Type: application/json\r\n" : "", length,
		     keep_alive ? "" : "Connection: close\r\n", extra ? extra : "");
	if (n < 0 || (size_t)n + body_len > outlen)
		return 0;
	if (body_len)
		memcpy(out + n, body, body_len);
	return (size_t)n + body_len;
}
