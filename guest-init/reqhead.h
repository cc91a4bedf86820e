/* The request line and headers of one HTTP/1.x request, parsed strictly by the shared head
 * parser (common/httphead.h) with kindling-init's options: CRLF line ends, token header
 * names, no obs-fold, Content-Length bodies only. Pure; unit tested. */
#ifndef KINDLING_INIT_REQHEAD_H
#define KINDLING_INIT_REQHEAD_H

#include <stdbool.h>
#include <stddef.h>

#define REQHEAD_MAX 8192   /* request line + headers + blank line */
#define REQHEAD_MAX_FIELDS 64
#define REQHEAD_MAX_PATH 256

enum reqhead_result {
	REQHEAD_INCOMPLETE = 0, /* no blank line yet and still under REQHEAD_MAX */
	REQHEAD_DONE = 1,       /* rh is filled; the body starts at rh->head_len */
	REQHEAD_ERROR = -1,     /* rh->status and rh->why say what to answer */
};

struct reqhead {
	char method[16];
	char path[REQHEAD_MAX_PATH]; /* without the query string */
	size_t content_length;        /* 0 when absent: a request without one has no body */
	bool expect_continue;
	size_t head_len;
	int status;                   /* on REQHEAD_ERROR: 400, 417, 431, 501 or 505 */
	const char *why;
};

enum reqhead_result reqhead_parse(const char *buf, size_t len, struct reqhead *rh);

#endif
