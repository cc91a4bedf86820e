/* The jailer's error lines (jail_err.h). */
#include "jail_err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static char *capture_buf;
static size_t capture_len;

void jail_error_capture(char *buf, size_t len)
{
	capture_buf = len ? buf : NULL;
	capture_len = len;
	if (capture_buf)
		capture_buf[0] = 0;
}

static void emit(const char *msg)
{
	if (capture_buf)
		snprintf(capture_buf, capture_len, "%s", msg);
	else
		fprintf(stderr, "kindling-jailer: %s\n", msg);
}

void jail_error(const char *fmt, ...)
{
	int saved = errno;
	char msg[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	emit(msg);
	errno = saved;
}

int jail_error_errno(int err, const char *fmt, ...)
{
	char msg[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", strerror(err));
	emit(msg);
	errno = err;
	return -err;
}
