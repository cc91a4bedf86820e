/* HTTP/1.x request heads for the invocation server, through the shared parser
 * (common/httphead.c). Anything it does not understand is an error with a status code,
 * never a guess: the client is a program, not a browser. */
#include <string.h>

#include "httphead.h"
#include "reqhead.h"

/* kindling-init's choices where the shared parser offers one (common/httphead.h). */
static const struct httphead_opts init_head = {
	.max_head = REQHEAD_MAX,
	.max_target = REQHEAD_MAX_PATH,
	.max_fields = REQHEAD_MAX_FIELDS,
	.max_length_digits = 15, /* so that adding it to anything cannot overflow */
	.max_length = 999999999999999ull,
	.methods = NULL, /* the server answers 405 itself */
	.lf_lines = true,
	.strip_query = true,
	.target_obs_text = true,
	.value_del = false,
	.early_ascii = false,
	.early_request_line = true,
};

static enum reqhead_result bad(struct reqhead *rh, int status, const char *why)
{
	rh->status = status;
	rh->why = why;
	return REQHEAD_ERROR;
}

static enum reqhead_result head_error(const struct httphead *h, struct reqhead *rh)
{
	switch (h->error) {
	case HTTPHEAD_TOO_LARGE: return bad(rh, 431, "request head larger than 8192 bytes");
	case HTTPHEAD_EARLY_NUL: return bad(rh, 400, "NUL byte in request head");
	case HTTPHEAD_LINE_END: return bad(rh, 400, "line not ended by CRLF");
	case HTTPHEAD_STRAY: return bad(rh, 400, "stray CR or NUL in request head");
	case HTTPHEAD_REQUEST_LINE: return bad(rh, 400, "malformed request line");
	case HTTPHEAD_METHOD: return bad(rh, 400, "bad method");
	case HTTPHEAD_TARGET: return bad(rh, 400, "request target must be an absolute path");
	case HTTPHEAD_TARGET_CHAR: return bad(rh, 400, "bad character in request target");
	case HTTPHEAD_TARGET_LONG: return bad(rh, 414, "request target too long");
	case HTTPHEAD_VERSION:
		return bad(rh, h->at_len >= 5 && !memcmp(h->at, "HTTP/", 5) ? 505 : 400, "bad HTTP version");
	case HTTPHEAD_VERSION_UNSUPPORTED: return bad(rh, 505, "unsupported HTTP version");
	case HTTPHEAD_FOLD: return bad(rh, 400, "obsolete line folding");
	case HTTPHEAD_TOO_MANY_FIELDS: return bad(rh, 431, "too many header fields");
	case HTTPHEAD_FIELD: return bad(rh, 400, "malformed header field");
	case HTTPHEAD_FIELD_NAME: return bad(rh, 400, "bad header field name");
	case HTTPHEAD_FIELD_VALUE: return bad(rh, 400, "bad character in header field value");
	case HTTPHEAD_CONTENT_LENGTH: return bad(rh, 400, "bad Content-Length");
	case HTTPHEAD_LENGTH_CONFLICT: return bad(rh, 400, "conflicting Content-Length fields");
	case HTTPHEAD_TRANSFER_ENCODING: return bad(rh, 501, "Transfer-Encoding is not supported; send Content-Length");
	case HTTPHEAD_EXPECT: return bad(rh, 417, "unsupported Expect");
	default: return bad(rh, 400, "bad request head");
	}
}

enum reqhead_result reqhead_parse(const char *buf, size_t len, struct reqhead *rh)
{
	struct httphead h;

	memset(rh, 0, sizeof(*rh));
	switch (httphead_parse(buf, len, &init_head, &h)) {
	case HTTPHEAD_INCOMPLETE:
		return REQHEAD_INCOMPLETE;
	case HTTPHEAD_ERROR:
		return head_error(&h, rh);
	case HTTPHEAD_DONE:
		break;
	}
	/* The limits above make both fit. */
	memcpy(rh->method, h.method, h.method_len);
	memcpy(rh->path, h.target, h.target_len);
	rh->content_length = (size_t)h.content_length;
	rh->expect_continue = h.expect_continue;
	rh->head_len = h.head_len;
	return REQHEAD_DONE;
}
