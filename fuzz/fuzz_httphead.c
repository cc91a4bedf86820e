/* libFuzzer target: the shared HTTP/1.x request-head parser (common/httphead.c) under every
 * combination of its options, the first byte choosing them. Checks that whatever it reports
 * lies inside the bytes it was given and within the limits it was set. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "httphead.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int inside(const char *p, size_t n, const char *buf, size_t len)
{
	return p >= buf && n <= len && (size_t)(p - buf) <= len - n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const methods[] = { "GET", "PUT", "PATCH", NULL };
	struct httphead_opts o = { .max_head = 1024, .max_target = 64, .max_length_digits = 10,
				   .max_length = 0xffffffffull };
	struct httphead h;
	const char *buf;
	uint8_t bits;

	if (!size)
		return 0;
	bits = data[0];
	buf = (const char *)data + 1;
	size--;
	o.lf_lines = bits & 1;
	o.strip_query = bits & 2;
	o.target_obs_text = bits & 4;
	o.value_del = bits & 8;
	o.early_ascii = bits & 16;
	o.early_request_line = bits & 32;
	o.methods = bits & 64 ? methods : NULL;
	o.max_fields = bits & 128 ? 4 : 0;

	switch (httphead_parse(buf, size, &o, &h)) {
	case HTTPHEAD_DONE:
		if (h.head_len > size || h.head_len > o.max_head || !inside(h.method, h.method_len, buf, h.head_len) ||
		    !inside(h.target, h.target_len, buf, h.head_len) || !h.method_len || h.method_len >= 16 ||
		    !h.target_len || h.target_len >= o.max_target || h.content_length > o.max_length ||
		    (h.minor_version != 0 && h.minor_version != 1))
			__builtin_trap();
		break;
	case HTTPHEAD_ERROR:
		if (h.error == HTTPHEAD_OK || !inside(h.at, h.at_len, buf, size))
			__builtin_trap();
		if (h.error == HTTPHEAD_FIELD || h.error == HTTPHEAD_FIELD_NAME || h.error == HTTPHEAD_FIELD_VALUE ||
		    h.error == HTTPHEAD_FOLD)
			if (httphead_key_len(&h) > h.at_len)
				__builtin_trap();
		break;
	case HTTPHEAD_INCOMPLETE:
		if (h.head_len || h.method || h.error)
			__builtin_trap();
		break;
	}
	return 0;
}
