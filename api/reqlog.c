/* The API's log lines, in Firecracker's words: each request a client sends, and what it got. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "routes.h"

/* Rust's {:?} of a str, as Firecracker logs request bodies: quoted, with escapes. */
static void debug_str(char *out, size_t outlen, const char *s, size_t n)
{
	size_t k = 0;

	out[k++] = '"';
	for (size_t i = 0; i < n && k + 8 < outlen; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '"' || ch == '\\')
			k += (size_t)snprintf(out + k, outlen - k, "\\%c", ch);
		else if (ch == '\n')
			k += (size_t)snprintf(out + k, outlen - k, "\\n");
		else if (ch == '\r')
			k += (size_t)snprintf(out + k, outlen - k, "\\r");
		else if (ch == '\t')
			k += (size_t)snprintf(out + k, outlen - k, "\\t");
		else if (ch < 0x20 || ch == 0x7f)
			k += (size_t)snprintf(out + k, outlen - k, "\\u{%x}", ch);
		else
			out[k++] = (char)ch;
	}
	out[k++] = '"';
	out[k] = 0;
}

/* Firecracker's log lines for a request and its outcome, word for word. */
static void log_request(enum http_method m, const char *path, const char *body, size_t body_len)
{
	static const char *const names[] = { "Get", "Put", "Patch", "Other" };
	char quoted[1024];

	if (log_get_level() < LOG_INFO)
		return;
	if (!body_len) {
		log_info("The API server received a %s request on \"%s\".", names[m], path);
		return;
	}
	debug_str(quoted, sizeof(quoted), body, body_len < 900 ? body_len : 900);
	log_info("The API server received a %s request on \"%s\" with body %s.", names[m], path, quoted);
}

static void log_outcome(const struct api_response *r)
{
	cJSON *e;
	const cJSON *msg;

	if (r->status < 400) {
		log_info("The request was executed successfully. Status code: %d %s.", r->status, http_reason(r->status));
		return;
	}
	e = cJSON_ParseWithLength(r->body, r->body_len);
	msg = cJSON_GetObjectItemCaseSensitive(e, "fault_message");
	log_error("Received Error. Status code: %d %s. Message: %s", r->status, http_reason(r->status),
		  cJSON_IsString(msg) ? msg->valuestring : "");
	cJSON_Delete(e);
}

void api_serve(struct api *a, enum http_method m, const char *method_name, const char *path, const char *body,
	       size_t body_len, struct api_response *resp)
{
	log_request(m, path, body, body_len);
	api_handle(a, m, method_name, path, body, body_len, resp);
	log_outcome(resp);
}

