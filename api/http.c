/* The API's HTTP/1.1: its requests through the shared head parser (common/httphead.c),
 * errors in Firecracker's words, and response formatting. */
#include "http.h"

#include "httphead.h"

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

/* Firecracker's parser knows no other method. */
static const char *const methods[] = { "GET", "PUT", "PATCH", NULL };

/* The API's choices where the shared parser offers one (common/httphead.h). */
static const struct httphead_opts api_head = {
	.max_head = HTTP_MAX_HEADER,
	.max_target = HTTP_MAX_PATH,
	.max_fields = 0,
	.max_length_digits = 10, /* Firecracker parses Content-Length as a u32 */
	.max_length = 0xffffffffull,
	.methods = methods,
	.lf_lines = false,
	.strip_query = false,
	.target_obs_text = false,
	.value_del = true,
	.early_ascii = true,
	.early_request_line = false,
};

static int shorter(size_t n, size_t max)
{
	return (int)(n > max ? max : n);
}

/* The shared parser's verdict in Firecracker's words: 400 for every malformed request. */
static enum http_parse_result head_error(const struct httphead *h, int *status, char *why)
{
	/* A line without a name is shown whole; else the name, as Firecracker does. */
	int key = shorter(h->error == HTTPHEAD_FIELD ? h->at_len : httphead_key_len(h), 64);
	int val = shorter(h->at_len, 24);

	switch (h->error) {
	case HTTPHEAD_TOO_LARGE:
		return error(status, why, 400, "Invalid request: the header section is larger than %d bytes.",
			     HTTP_MAX_HEADER);
	case HTTPHEAD_VERSION:
		if (h->at_len != 8)
			break;
		/* fall through */
	case HTTPHEAD_VERSION_UNSUPPORTED:
		return error(status, why, 400, "Invalid HTTP Version: Unsupported HTTP version.");
	case HTTPHEAD_METHOD_UNKNOWN:
		return error(status, why, 400, "Invalid HTTP Method: Unsupported HTTP method.");
	case HTTPHEAD_FOLD:
	case HTTPHEAD_FIELD:
	case HTTPHEAD_FIELD_NAME:
		return error(status, why, 400, "Invalid header. Reason: Header is incorrectly formatted. Key: %.*s", key,
			     h->at);
	case HTTPHEAD_FIELD_VALUE:
		return error(status, why, 400, "Invalid header. Reason: Header contains invalid characters. Key: %.*s",
			     key, h->at);
	case HTTPHEAD_CONTENT_LENGTH:
		return error(status, why, 400, "Invalid header. Reason: Invalid value. Key:Content-Length; Value: %.*s",
			     val, h->at);
	case HTTPHEAD_LENGTH_CONFLICT:
		return error(status, why, 400, "Invalid request: conflicting Content-Length headers.");
	case HTTPHEAD_TRANSFER_ENCODING:
		/* Firecracker accepts the header and still frames by Content-Length; two ways to
		 * frame one body is how requests are smuggled, so we refuse it. */
		return error(status, why, 400,
			     "Invalid header. Reason: Unsupported value. Key:Transfer-Encoding; Value:%.*s (kindling "
			     "frames bodies by Content-Length only)",
			     val, h->at);
	case HTTPHEAD_EXPECT:
		return error(status, why, 400, "Invalid header. Reason: Unsupported value. Key:Expect; Value:%.*s", val,
			     h->at);
	default:
		break;
	}
	return error(status, why, 400, "Invalid request.");
}

enum http_parse_result http_parse(const char *buf, size_t len, size_t max_body, struct http_request *req,
				  size_t *consumed, int *status, char *why)
{
	struct httphead h;

	memset(req, 0, sizeof(*req));
	switch (httphead_parse(buf, len, &api_head, &h)) {
	case HTTPHEAD_INCOMPLETE:
		return HTTP_INCOMPLETE;
	case HTTPHEAD_ERROR:
		return head_error(&h, status, why);
	case HTTPHEAD_DONE:
		break;
	}
	/* The limits above make both fit. */
	memcpy(req->method_name, h.method, h.method_len);
	memcpy(req->path, h.target, h.target_len);
	req->method = !strcmp(req->method_name, "GET") ? HTTP_GET : !strcmp(req->method_name, "PUT") ? HTTP_PUT : HTTP_PATCH;
	req->keep_alive = h.connection ? h.connection > 0 : h.minor_version == 1;
	req->expect_continue = h.expect_continue;
	if (h.content_length > max_body)
		return error(status, why, 400, "Request payload with size %llu is larger than the limit of %zu allowed by server.",
			     h.content_length, max_body);
	req->header_len = h.head_len;
	req->body_len = (size_t)h.content_length;
	if (len - h.head_len < req->body_len)
		return HTTP_HEADERS_DONE;
	req->body = buf + h.head_len;
	*consumed = h.head_len + req->body_len;
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
