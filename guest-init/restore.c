/* The restore message: parsing and validation only (see restore.h); restore_apply.c does
 * the work. Everything is checked before anything is applied. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "restore.h"
#include "sjson.h"

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

ssize_t restore_base64_decode(const char *in, size_t inlen, unsigned char *out, size_t outlen)
{
	size_t pad = 0, n = 0;

	if (!inlen || inlen % 4)
		return -EINVAL;
	if (in[inlen - 1] == '=')
		pad = in[inlen - 2] == '=' ? 2 : 1;
	if (inlen / 4 * 3 - pad > outlen)
		return -E2BIG;
	for (size_t i = 0; i < inlen; i += 4) {
		int v[4];
		uint32_t w = 0;
		size_t q = i + 4 == inlen ? 4 - pad : 4; /* significant characters in this quantum */

		for (size_t j = 0; j < 4; j++) {
			v[j] = j < q ? b64_value(in[i + j]) : 0;
			if (v[j] < 0)
				return -EINVAL; /* also '=' anywhere but at the end */
			w = w << 6 | (uint32_t)v[j];
		}
		/* Canonical form only: the bits the padding leaves over must be zero. */
		if ((q == 2 && (w & 0xffff)) || (q == 3 && (w & 0xff)))
			return -EINVAL;
		out[n++] = (unsigned char)(w >> 16);
		if (q > 2)
			out[n++] = (unsigned char)(w >> 8);
		if (q > 3)
			out[n++] = (unsigned char)w;
	}
	return (ssize_t)n;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int restore_parse_mac(const char *s, unsigned char mac[6])
{
	if (strlen(s) != 17)
		return -EINVAL;
	for (int i = 0; i < 6; i++, s += 3) {
		int hi = hex_value(s[0]), lo = hex_value(s[1]);

		if (hi < 0 || lo < 0 || (i < 5 && s[2] != ':'))
			return -EINVAL;
		mac[i] = (unsigned char)(hi << 4 | lo);
	}
	if (mac[0] & 1)
		return -EINVAL; /* multicast (and broadcast) */
	if (!(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]))
		return -EINVAL;
	return 0;
}

static int parse_entropy(struct sjson *p, struct restoremsg *m)
{
	char *s;
	ssize_t n;
	int r = sjson_string(p, &s);

	if (r)
		return r;
	n = restore_base64_decode(s, strlen(s), m->entropy, sizeof(m->entropy));
	free(s);
	if (n == -EINVAL)
		return sjson_err(p, "entropy is not padded standard base64");
	if (n < RESTORE_MIN_ENTROPY || n > RESTORE_MAX_ENTROPY)
		return sjson_err(p, "entropy must be %d..%d bytes", RESTORE_MIN_ENTROPY, RESTORE_MAX_ENTROPY);
	m->entropy_len = (size_t)n;
	return 0;
}

static int parse_ip(struct sjson *p, struct restoremsg *m)
{
	char *s;
	int r = sjson_string(p, &s);
	bool ok;

	if (r)
		return r;
	ok = kcmdline_parse_ip(s, &m->ip) == 0 && m->ip.configure &&
	     (!m->ip.autoconf[0] || !strcmp(m->ip.autoconf, "off") || !strcmp(m->ip.autoconf, "none")) &&
	     (!m->ip.hostname[0] || kcmdline_hostname_valid(m->ip.hostname));
	free(s);
	if (!ok)
		return sjson_err(p, "ip must be a static CLIENT::GW:NETMASK:HOSTNAME:DEV:off");
	m->has_ip = true;
	return 0;
}

static int parse_field(struct sjson *p, struct restoremsg *m, int k)
{
	char *s = NULL;
	uint64_t t;
	int r;

	switch (k) {
	case 0:
		return parse_entropy(p, m);
	case 1:
		r = sjson_uint(p, "time_ns", RESTORE_MIN_TIME_NS, RESTORE_MAX_TIME_NS, &t);
		if (!r)
			m->time_ns = t;
		return r;
	case 2:
		r = sjson_string(p, &s);
		if (r)
			return r;
		if (kcmdline_hostname_valid(s))
			snprintf(m->hostname, sizeof(m->hostname), "%s", s);
		else
			r = sjson_err(p, "hostname must be 1..64 of [A-Za-z0-9.-], not starting with -");
		break;
	case 3:
		return parse_ip(p, m);
	default:
		r = sjson_string(p, &s);
		if (r)
			return r;
		if (restore_parse_mac(s, m->mac))
			r = sjson_err(p, "mac must be a unicast aa:bb:cc:dd:ee:ff, not all zero");
		m->has_mac = !r;
		break;
	}
	free(s);
	return r;
}

int restore_parse(struct restoremsg *m, const char *json, size_t len, char *err, size_t errlen)
{
	static const char *const keys[] = { "entropy", "time_ns", "hostname", "ip", "mac" };
	struct sjson p = { .s = json, .len = len, .what = "restore message", .err = err, .errlen = errlen };
	unsigned seen = 0;
	int r;

	memset(m, 0, sizeof(*m));
	if (!sjson_eat(&p, '{'))
		return sjson_err(&p, "expected a JSON object");
	if (!sjson_eat(&p, '}')) {
		do {
			int k = sjson_key(&p, keys, 5, &seen);

			if (k < 0)
				return k;
			r = parse_field(&p, m, k);
			if (r)
				return r;
		} while (sjson_eat(&p, ','));
		if (!sjson_eat(&p, '}'))
			return sjson_err(&p, "expected , or }");
	}
	r = sjson_end(&p);
	if (r)
		return r;
	if ((seen & 3) != 3)
		return sjson_err(&p, "%s is required", seen & 1 ? "time_ns" : "entropy");
	/* The "hostname" key wins over the ip's HOSTNAME field, as kindling.hostname= does at boot. */
	if (!(seen & 4) && m->has_ip && m->ip.hostname[0])
		snprintf(m->hostname, sizeof(m->hostname), "%s", m->ip.hostname);
	return 0;
}
