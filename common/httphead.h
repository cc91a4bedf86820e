/* The one strict HTTP/1.x request-head parser, for the API server (api/http.c) and
 * kindling-init's invocation server (guest-init/reqhead.c). It splits and checks the
 * request line and header fields and handles the fields that frame a body (Content-Length,
 * Transfer-Encoding, Expect); each caller turns an error into its own status and words.
 * Where the two servers differ, struct httphead_opts says so. Pure; unit tested and fuzzed. */
#ifndef KINDLING_HTTPHEAD_H
#define KINDLING_HTTPHEAD_H

#include <stdbool.h>
#include <stddef.h>

enum httphead_result {
	HTTPHEAD_INCOMPLETE = 0, /* no blank line yet, and nothing wrong so far */
	HTTPHEAD_DONE = 1,       /* the head is whole and valid; the body starts at head_len */
	HTTPHEAD_ERROR = -1,     /* h->error (and h->at) say what is wrong */
};

enum httphead_error {
	HTTPHEAD_OK,
	HTTPHEAD_TOO_LARGE,      /* no blank line within max_head bytes */
	HTTPHEAD_EARLY_BYTE,     /* early_ascii: a byte no request head has, before the blank line */
	HTTPHEAD_EARLY_NUL,      /* early_request_line: a NUL before the blank line */
	HTTPHEAD_LINE_END,       /* a line not ended by CRLF */
	HTTPHEAD_STRAY,          /* lf_lines: a CR or NUL inside a line */
	HTTPHEAD_REQUEST_LINE,   /* not "method SP target SP version" */
	HTTPHEAD_METHOD,         /* empty, 16 bytes or more, or not a token */
	HTTPHEAD_METHOD_UNKNOWN, /* a token, but not one of opts->methods */
	HTTPHEAD_TARGET,         /* not an absolute path */
	HTTPHEAD_TARGET_CHAR,    /* a byte a request target may not have */
	HTTPHEAD_TARGET_LONG,    /* max_target bytes or more */
	HTTPHEAD_VERSION,        /* not "HTTP/1.<digit>"; at: the version as sent */
	HTTPHEAD_VERSION_UNSUPPORTED, /* "HTTP/1.x" with x neither 0 nor 1; at: the version */
	HTTPHEAD_FOLD,           /* a header line starting with SP or HT (obsolete folding); at: the line */
	HTTPHEAD_TOO_MANY_FIELDS, /* more than max_fields header fields */
	HTTPHEAD_FIELD,          /* no colon, or nothing before it; at: the line */
	HTTPHEAD_FIELD_NAME,     /* a name that is not a token; at: the line */
	HTTPHEAD_FIELD_VALUE,    /* a control byte in a value; at: the line */
	HTTPHEAD_CONTENT_LENGTH, /* not 1 to max_length_digits digits, or above max_length; at: the value */
	HTTPHEAD_LENGTH_CONFLICT, /* two Content-Length fields that disagree */
	HTTPHEAD_TRANSFER_ENCODING, /* any Transfer-Encoding: bodies are framed by Content-Length only; at: the value */
	HTTPHEAD_EXPECT,         /* an Expect other than 100-continue; at: the value */
};

/* What differs between the two servers. Both parsers were strict before they were merged;
 * these keep each one's limits and its choices exactly. */
struct httphead_opts {
	size_t max_head;            /* the blank line must come within this many bytes */
	size_t max_target;          /* a request target this long or longer is refused */
	unsigned max_fields;        /* more header fields are refused; 0: no limit */
	unsigned max_length_digits; /* Content-Length digits */
	unsigned long long max_length; /* and its largest value */
	const char *const *methods; /* NULL-terminated list of the methods served; NULL: any token */
	/* Lines end at LF, which must follow a CR, and hold no other CR or NUL (kindling-init);
	 * else a line ends at the first CR, which must precede an LF, and any other byte is
	 * judged by the checks of the part it is in (the API). Both refuse the same heads. */
	bool lf_lines;
	bool strip_query;           /* the target is reported without its "?query" */
	bool target_obs_text;       /* bytes 0x80-0xff are allowed in the target (else refused) */
	bool value_del;             /* DEL (0x7f) is allowed in field values (else refused) */
	/* Before the blank line has come: refuse at once a byte that is not printable ASCII,
	 * HT, CR or LF (the API); or refuse a NUL and check the request line as soon as it is
	 * whole (kindling-init). */
	bool early_ascii;
	bool early_request_line;
};

struct httphead {
	const char *method;         /* into the buffer; on HTTPHEAD_DONE */
	size_t method_len;
	const char *target;         /* less any query with strip_query */
	size_t target_len;
	int minor_version;          /* HTTP/1.0 or HTTP/1.1 */
	bool has_length;
	unsigned long long content_length; /* 0 when absent */
	bool expect_continue;
	int connection;             /* the last "Connection: close" (-1) or "keep-alive" (1); else 0 */
	size_t head_len;            /* request line, fields and the blank line */
	enum httphead_error error;  /* on HTTPHEAD_ERROR */
	const char *at;             /* the part of the head it concerns, as described above */
	size_t at_len;
};

enum httphead_result httphead_parse(const char *buf, size_t len, const struct httphead_opts *o, struct httphead *h);

/* The name of the field whose line is at (for HTTPHEAD_FOLD, _FIELD, _FIELD_NAME and
 * _FIELD_VALUE): up to the colon, or the whole line if it has none. */
size_t httphead_key_len(const struct httphead *h);

#endif
