/* A small, strict HTTP/1.1 request parser and response formatter for the control API.
 * Content-Length bodies only; header section and body sizes capped. */
#ifndef KINDLING_HTTP_H
#define KINDLING_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP_MAX_HEADER 8192
#define HTTP_MAX_BODY 51200
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

/* Parses one request from buf[0..len). On HTTP_COMPLETE, *consumed is its total size. */
enum http_parse_result http_parse(const char *buf, size_t len, struct http_request *req, size_t *consumed,
				  int *status, const char **why);

/* Formats a response; returns its length, or 0 if out did not have room. */
size_t http_format_response(char *out, size_t outlen, int status, const char *body, size_t body_len,
			    bool keep_alive);
const char *http_reason(int status);

#endif
