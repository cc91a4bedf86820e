/* Kernel command line parsing for guest-init: pure functions, unit tested on the host. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "kcmdline.h"
#include "util.h"

/* Splits off the next parameter the way the kernel's next_arg() does: whitespace separates
 * parameters except inside double quotes, and the quotes themselves are dropped. Writes the
 * unquoted parameter to tok (truncated at toklen - 1, flagged via *trunc); returns the
 * position after it. */
static const char *next_param(const char *p, char *tok, size_t toklen, bool *trunc)
{
	bool quoted = false;
	size_t n = 0;

	*trunc = false;
	for (; *p && (quoted || !isspace((unsigned char)*p)); p++) {
		if (*p == '"') {
			quoted = !quoted;
			continue;
		}
		if (n + 1 < toklen)
			tok[n++] = *p;
		else
			*trunc = true;
	}
	tok[n] = '\0';
	return p;
}

int kcmdline_get(const char *cmdline, const char *key, char *out, size_t outlen)
{
	char tok[KCMDLINE_MAX];
	size_t klen = strlen(key);
	const char *p = cmdline;
	int found = 0;

	while (*p) {
		bool trunc;

		while (isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		p = next_param(p, tok, sizeof(tok), &trunc);
		if (!strcmp(tok, "--"))
			break; /* the rest belongs to init's argv, not to the kernel's parameters */
		if (strncmp(tok, key, klen) || (tok[klen] != '=' && tok[klen] != '\0'))
			continue;
		const char *val = tok[klen] == '=' ? tok + klen + 1 : "";
		if (trunc || strlen(val) >= outlen) {
			found = -E2BIG;
			continue;
		}
		strcpy(out, val);
		found = 1;
	}
	return found;
}

/* The kernel's fallback when ip= has an address but no netmask: the address class. */
static struct in_addr classful_mask(struct in_addr a)
{
	uint32_t h = ntohl(a.s_addr);
	struct in_addr m;

	if ((h >> 31) == 0)
		m.s_addr = htonl(0xff000000u);
	else if ((h >> 30) == 2)
		m.s_addr = htonl(0xffff0000u);
	else
		m.s_addr = htonl(0xffffff00u);
	return m;
}

static bool valid_mask(struct in_addr m)
{
	uint32_t h = ntohl(m.s_addr);

	return (h & (~h >> 1)) == 0; /* ones, then only zeros */
}

static bool valid_hostname(const char *s)
{
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '.')
			return false;
	return true;
}

int kcmdline_parse_ip(const char *value, struct ipconf *ic)
{
	static const char *const autoconf_words[] = { "on", "any", "dhcp", "bootp", "rarp", "both" };
	char buf[256], *field[10] = { 0 };
	int nf = 0;

	memset(ic, 0, sizeof(*ic));
	strcpy(ic->dev, "eth0");
	if (!strcmp(value, "off") || !strcmp(value, "none") || !*value)
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(autoconf_words); i++) {
		if (!strcmp(value, autoconf_words[i])) {
			strcpy(ic->autoconf, value);
			return 0;
		}
	}
	if (strlen(value) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, value);
	for (char *p = buf; nf < 10;) {
		field[nf++] = p;
		p = strchr(p, ':');
		if (!p)
			break;
		*p++ = '\0';
	}
	if (field[0][0] && !inet_pton(AF_INET, field[0], &ic->addr))
		return -EINVAL;
	ic->has_addr = field[0][0] != '\0';
	/* field 1, the NFS server, means nothing to us. */
	if (nf > 2 && field[2][0]) {
		if (!inet_pton(AF_INET, field[2], &ic->gw))
			return -EINVAL;
		ic->has_gw = true;
	}
	if (nf > 3 && field[3][0]) {
		if (!inet_pton(AF_INET, field[3], &ic->mask) || !valid_mask(ic->mask))
			return -EINVAL;
	} else if (ic->has_addr) {
		ic->mask = classful_mask(ic->addr);
	}
	if (nf > 4 && field[4][0]) {
		if (strlen(field[4]) >= sizeof(ic->hostname) || !valid_hostname(field[4]))
			return -EINVAL;
		strcpy(ic->hostname, field[4]);
	}
	if (nf > 5 && field[5][0]) {
		if (strlen(field[5]) >= sizeof(ic->dev) || strchr(field[5], '/'))
			return -EINVAL;
		strcpy(ic->dev, field[5]);
	}
	if (nf > 6 && field[6][0]) {
		if (strlen(field[6]) >= sizeof(ic->autoconf))
			return -EINVAL;
		strcpy(ic->autoconf, field[6]);
	}
	/* Fields 7.. (DNS, NTP) are ignored: the function gets no resolver configuration. */
	ic->configure = ic->has_addr;
	return 0;
}

bool kcmdline_hostname_valid(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > 64 || *s == '-')
		return false;
	for (; *s; s++)
		if (!(*s == '-' || *s == '.' || (*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= 'A' && *s <= 'Z')))
			return false;
	return true;
}

bool kcmdline_scratch_dev_valid(const char *s)
{
	return !strncmp(s, "/dev/vd", 7) && s[7] >= 'a' && s[7] <= 'z' && !s[8];
}
