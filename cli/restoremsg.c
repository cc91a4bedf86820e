/* The restore message's body, built on the host: see restoremsg.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "restoremsg.h"

static void base64(const unsigned char *in, size_t n, char *out)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	for (size_t i = 0; i < n; i += 3) {
		uint32_t w = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
			     (i + 2 < n ? in[i + 2] : 0);

		*out++ = a[w >> 18];
		*out++ = a[w >> 12 & 63];
		*out++ = i + 1 < n ? a[w >> 6 & 63] : '=';
		*out++ = i + 2 < n ? a[w & 63] : '=';
	}
	*out = '\0';
}

/* Our strings go into JSON unescaped: refuse what would need escaping. */
static bool plain(const char *s)
{
	for (; s && *s; s++)
		if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20)
			return false;
	return true;
}

/* Appends a formatted piece; false once buf is full. */
__attribute__((format(printf, 4, 5))) static bool add(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*off >= len)
		return false;
	va_start(ap, fmt);
	n = vsnprintf(buf + *off, len - *off, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len - *off)
		return false;
	*off += (size_t)n;
	return true;
}

int restoremsg_build(char *buf, size_t len, const char *hostname, const char *ip, const char *mac)
{
	unsigned char rnd[RESTOREMSG_ENTROPY];
	char b64[(RESTOREMSG_ENTROPY + 2) / 3 * 4 + 1];
	struct timespec ts;
	size_t got = 0, off = 0;
	bool ok;

	if (!plain(hostname) || !plain(ip) || !plain(mac))
		return -EINVAL;
	while (got < sizeof(rnd)) {
		ssize_t n = getrandom(rnd + got, sizeof(rnd) - got, 0);

		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0)
			got += (size_t)n;
	}
	base64(rnd, sizeof(rnd), b64);
	explicit_bzero(rnd, sizeof(rnd));
	clock_gettime(CLOCK_REALTIME, &ts);
	ok = add(buf, len, &off, "{\"entropy\":\"%s\",\"time_ns\":%llu", b64,
		 (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec);
	explicit_bzero(b64, sizeof(b64));
	if (ok && hostname)
		ok = add(buf, len, &off, ",\"hostname\":\"%s\"", hostname);
	if (ok && ip)
		ok = add(buf, len, &off, ",\"ip\":\"%s\"", ip);
	if (ok && mac)
		ok = add(buf, len, &off, ",\"mac\":\"%s\"", mac);
	if (ok)
		ok = add(buf, len, &off, "}");
	if (!ok) {
		if (len)
			explicit_bzero(buf, len);
		return -ENOSPC;
	}
	return (int)off;
}
