/* The shared HTTP/1.x request-head parser (common/httphead.c): its options, one at a time,
 * and the API's answers through it (api/http.c). kindling-init's are in test_init_parsers.c. */
#include <string.h>

#include "http.h"
#include "httphead.h"
#include "test.h"
#include "util.h"

static const struct httphead_opts base = {
	.max_head = 8192,
	.max_target = 64,
	.max_length_digits = 10,
	.max_length = 0xffffffffull,
};

static enum httphead_result parse(const char *s, const struct httphead_opts *o, struct httphead *h)
{
	return httphead_parse(s, strlen(s), o, h);
}

TEST(httphead_ok)
{
	struct httphead h;
	const char *r = "PUT /a?b HTTP/1.0\r\nContent-Length: 7\r\nconnection: Keep-Alive\r\nX:\t y \r\n\r\nbody";

	CHECK(parse(r, &base, &h) == HTTPHEAD_DONE);
	CHECK(h.method_len == 3 && !memcmp(h.method, "PUT", 3));
	CHECK(h.target_len == 4 && !memcmp(h.target, "/a?b", 4));
	CHECK(h.minor_version == 0 && h.has_length && h.content_length == 7 && h.connection == 1);
	CHECK(h.head_len == strlen(r) - 4);
	CHECK(parse("GET / HTTP/1.1\r\nHost: a\r\n", &base, &h) == HTTPHEAD_INCOMPLETE);
}

/* Each option against the same head: what it lets through, and what it refuses. */
TEST(httphead_options)
{
	struct httphead_opts o = base;
	static const char *const methods[] = { "GET", NULL };
	struct httphead h;

	o.strip_query = true;
	CHECK(parse("GET /a?b HTTP/1.1\r\n\r\n", &o, &h) == HTTPHEAD_DONE && h.target_len == 2);

	CHECK(parse("GET /\x80 HTTP/1.1\r\n\r\n", &base, &h) == HTTPHEAD_ERROR && h.error == HTTPHEAD_TARGET_CHAR);
	o = base, o.target_obs_text = true;
	CHECK(parse("GET /\x80 HTTP/1.1\r\n\r\n", &o, &h) == HTTPHEAD_DONE);

	CHECK(parse("GET / HTTP/1.1\r\nA: \x7f\r\n\r\n", &base, &h) == HTTPHEAD_ERROR && h.error == HTTPHEAD_FIELD_VALUE);
	o = base, o.value_del = true;
	CHECK(parse("GET / HTTP/1.1\r\nA: \x7f\r\n\r\n", &o, &h) == HTTPHEAD_DONE);

	o = base, o.max_fields = 1;
	CHECK(parse("GET / HTTP/1.1\r\nA: 1\r\n\r\n", &o, &h) == HTTPHEAD_DONE);
	CHECK(parse("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n\r\n", &o, &h) == HTTPHEAD_ERROR &&
	      h.error == HTTPHEAD_TOO_MANY_FIELDS);

	o = base, o.methods = methods;
	CHECK(parse("GET / HTTP/1.1\r\n\r\n", &o, &h) == HTTPHEAD_DONE);
	CHECK(parse("GETS / HTTP/1.1\r\n\r\n", &o, &h) == HTTPHEAD_ERROR && h.error == HTTPHEAD_METHOD_UNKNOWN);

	/* Line ends: a bare LF is refused either way, as a line end or as a byte in a name. */
	CHECK(parse("GET / HTTP/1.1\r\nA\n: 1\r\n\r\n", &base, &h) == HTTPHEAD_ERROR && h.error == HTTPHEAD_FIELD_NAME);
	o = base, o.lf_lines = true;
	CHECK(parse("GET / HTTP/1.1\r\nA\n: 1\r\n\r\n", &o, &h) == HTTPHEAD_ERROR && h.error == HTTPHEAD_LINE_END);
	CHECK(parse("GET / HTTP/1.1\r\nA: 1\r2\r\n\r\n", &o, &h) == HTTPHEAD_ERROR && h.error == HTTPHEAD_STRAY);
	CHECK(parse("GET / HTTP/1.1\r\nA: 1\r2\r\n\r\n", &base, &h) == HTTPHEAD_ERROR && h.error == HTTPHEAD_LINE_END);

	/* Before the blank line. */
	CHECK(parse("GET / HTTP/1.1\r\nA: \x01", &base, &h) == HTTPHEAD_INCOMPLETE);
	o = base, o.early_ascii = true;
	CHECK(parse("GET / HTTP/1.1\r\nA: \x01", &o, &h) == HTTPHEAD_ERROR && h.error == HTTPHEAD_EARLY_BYTE);
	CHECK(parse("GET / HTTP/1.1\r\nA: \x80", &o, &h) == HTTPHEAD_ERROR && h.error == HTTPHEAD_EARLY_BYTE);
	CHECK(parse("junk\r\nA: 1", &base, &h) == HTTPHEAD_INCOMPLETE);
	o = base, o.early_request_line = true;
	CHECK(parse("junk\r\nA: 1", &o, &h) == HTTPHEAD_ERROR && h.error == HTTPHEAD_REQUEST_LINE);
	CHECK(parse("GET / HTTP/1.1\r\nA: 1", &o, &h) == HTTPHEAD_INCOMPLETE && !h.method);
}

TEST(httphead_errors)
{
	static const struct {
		const char *req;
		enum httphead_error error;
	} cases[] = {
		{ "GET /x\r\n\r\n", HTTPHEAD_REQUEST_LINE },
		{ " /x HTTP/1.1\r\n\r\n", HTTPHEAD_METHOD },
		{ "GETTINGTOOLONGXX /x HTTP/1.1\r\n\r\n", HTTPHEAD_METHOD },
		{ "GET x HTTP/1.1\r\n\r\n", HTTPHEAD_TARGET },
		{ "GET /\x7f HTTP/1.1\r\n\r\n", HTTPHEAD_TARGET_CHAR },
		{ "GET /0123456789012345678901234567890123456789012345678901234567890123 HTTP/1.1\r\n\r\n",
		  HTTPHEAD_TARGET_LONG },
		{ "GET / HTTP/1.10\r\n\r\n", HTTPHEAD_VERSION },
		{ "GET / HTTP/1.2\r\n\r\n", HTTPHEAD_VERSION_UNSUPPORTED },
		{ "GET / HTTP/1.1\r\n X: y\r\n\r\n", HTTPHEAD_FOLD },
		{ "GET / HTTP/1.1\r\n: y\r\n\r\n", HTTPHEAD_FIELD },
		{ "GET / HTTP/1.1\r\nA B: y\r\n\r\n", HTTPHEAD_FIELD_NAME },
		{ "GET / HTTP/1.1\r\nContent-Length: 4294967296\r\n\r\n", HTTPHEAD_CONTENT_LENGTH },
		{ "GET / HTTP/1.1\r\nContent-Length: +1\r\n\r\n", HTTPHEAD_CONTENT_LENGTH },
		{ "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 01\r\nContent-Length: 2\r\n\r\n",
		  HTTPHEAD_LENGTH_CONFLICT },
		{ "GET / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n", HTTPHEAD_TRANSFER_ENCODING },
		{ "GET / HTTP/1.1\r\nExpect: 200-ok\r\n\r\n", HTTPHEAD_EXPECT },
	};
	struct httphead h;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		enum httphead_result r = parse(cases[i].req, &base, &h);

		if (r != HTTPHEAD_ERROR || h.error != cases[i].error)
			printf("  case %zu: result %d error %d\n", i, r, h.error);
		CHECK(r == HTTPHEAD_ERROR && h.error == cases[i].error);
	}
	/* A NUL is not a token character (the API's parser once took it for one). */
	CHECK(httphead_parse("GET\0 / HTTP/1.1\r\n\r\n", 19, &base, &h) == HTTPHEAD_ERROR && h.error == HTTPHEAD_METHOD);
	CHECK(httphead_parse("GET / HTTP/1.1\r\nA\0: 1\r\n\r\n", 25, &base, &h) == HTTPHEAD_ERROR &&
	      h.error == HTTPHEAD_FIELD_NAME);
}

static enum http_parse_result api(const char *s, struct http_request *req, size_t *used, int *status, char *why)
{
	return http_parse(s, strlen(s), HTTP_MAX_BODY, req, used, status, why);
}

/* The API's answers in Firecracker's words. */
TEST(api_http_parse)
{
	struct http_request req;
	char why[HTTP_WHY_MAX];
	size_t used = 0;
	int status = 0;
	const char *r = "PUT /actions?x HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}GET";

	CHECK(api(r, &req, &used, &status, why) == HTTP_COMPLETE);
	CHECK(req.method == HTTP_PUT && !strcmp(req.path, "/actions?x") && req.keep_alive);
	CHECK(req.body_len == 2 && !memcmp(req.body, "{}", 2) && used == strlen(r) - 3);
	CHECK(api("GET / HTTP/1.0\r\n\r\n", &req, &used, &status, why) == HTTP_COMPLETE && !req.keep_alive);
	CHECK(api("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", &req, &used, &status, why) == HTTP_COMPLETE &&
	      !req.keep_alive);
	CHECK(api("PUT / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n{", &req, &used, &status, why) ==
		      HTTP_HEADERS_DONE &&
	      req.expect_continue && req.body_len == 5);
	CHECK(api("GET / HTTP/1.1\r\nA: \x01", &req, &used, &status, why) == HTTP_ERROR && status == 400 &&
	      !strcmp(why, "Invalid request."));
	CHECK(api("POST / HTTP/1.1\r\n\r\n", &req, &used, &status, why) == HTTP_ERROR &&
	      !strcmp(why, "Invalid HTTP Method: Unsupported HTTP method."));
	CHECK(api("GET / HTTP/2.0\r\n\r\n", &req, &used, &status, why) == HTTP_ERROR &&
	      !strcmp(why, "Invalid HTTP Version: Unsupported HTTP version."));
	CHECK(api("GET / HTTP/1.1\r\nNo colon here\r\n\r\n", &req, &used, &status, why) == HTTP_ERROR &&
	      !strcmp(why, "Invalid header. Reason: Header is incorrectly formatted. Key: No colon here"));
	CHECK(api("GET / HTTP/1.1\r\nBad Key: v\r\n\r\n", &req, &used, &status, why) == HTTP_ERROR &&
	      !strcmp(why, "Invalid header. Reason: Header is incorrectly formatted. Key: Bad Key"));
	CHECK(api("GET / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", &req, &used, &status, why) == HTTP_ERROR &&
	      !strcmp(why, "Invalid header. Reason: Invalid value. Key:Content-Length; Value: 1x"));
	CHECK(api("PUT / HTTP/1.1\r\nContent-Length: 51201\r\n\r\n", &req, &used, &status, why) == HTTP_ERROR &&
	      !strcmp(why, "Request payload with size 51201 is larger than the limit of 51200 allowed by server."));
	CHECK(api("PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &req, &used, &status, why) == HTTP_ERROR &&
	      strstr(why, "Key:Transfer-Encoding; Value:chunked"));
}
