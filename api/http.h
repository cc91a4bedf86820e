/* The control API's HTTP/1.1: requests parsed strictly by the shared head parser
 * (common/httphead.h) with the API's options, and responses formatted. Content-Length
 * bodies only; header section and body sizes capped. */
#ifndef KINDLING_HTTP_H
#define KINDLING_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP_MAX_HEADER 8192
/* Firecracker's default --http-api-max-payload-size. */
#define HTTP_MAX_BODY 51200
/* The largest --http-api-max-payload-size accepted. */
#define HTTP_MAX_BODY_LIMIT (16u << 20)
#define HTTP_MAX_PATH 1024

enum http_method { HTTP_GET, HTTP_PUT, HTTP_PATCH, HTTP_OTHER };

struct http_request {
	enum http_method method;
	char method_name[16];
	char path[HTTP_MAX_PATH];
	const char *body; /* points into the parsed buffer */
	size_t body_len;
	bool keep_alive;
	bool expect_continue;
	size_t header_len; /* bytes of request line + headers, including the blank line */
};

enum http_parse_result {
	HTTP_INCOMPLETE = 0, /* need more bytes */
	HTTP_COMPLETE = 1,   /* *consumed bytes form one request */
	HTTP_HEADERS_DONE = 2, /* headers parsed, body still to come (for 100-continue) */
	HTTP_ERROR = -1,     /* *status and *why say what to answer before closing */
};

/* The error buffer http_parse formats some reasons into. */
#define HTTP_WHY_MAX 160

/* Parses one request from buf[0..len), with bodies up to max_body bytes. On HTTP_COMPLETE,
 * *consumed is its total size. On HTTP_ERROR, *status is 400 (what Firecracker answers to
 * every malformed request) or 501, and why[HTTP_WHY_MAX] says why in Firecracker's words. */
enum http_parse_result http_parse(const char *buf, size_t len, size_t max_body, struct http_request *req,
				  size_t *consumed, int *status, char *why);

/* Formats a response; returns its length, or 0 if out did not have room. */
/* extra: more header lines ("Name: value\r\n"...), or NULL. */
size_t http_format_response(char *out, size_t outlen, int status, const char *body, size_t body_len,
			    bool keep_alive, const char *extra);
const char *http_reason(int status);

#endif
