/* kindling-init's restore message (guest-init/restore.c): strict parsing, base64, MAC. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../../guest-init/restore.h"
#include "test.h"

#define E32 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" /* bytes 0..31 */
#define E31 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==" /* bytes 0..30 */
#define T "1700000000123456789"

static int parse(struct restoremsg *m, const char *json)
{
	char err[320];

	return restore_parse(m, json, strlen(json), err, sizeof(err));
}

static int decode(const char *s, unsigned char *out, size_t outlen)
{
	return (int)restore_base64_decode(s, strlen(s), out, outlen);
}

TEST(init_restore_base64)
{
	unsigned char b[8];

	CHECK(decode("QQ==", b, sizeof(b)) == 1 && b[0] == 'A');
	CHECK(decode("QUI=", b, sizeof(b)) == 2 && !memcmp(b, "AB", 2));
	CHECK(decode("QUJD", b, sizeof(b)) == 3 && !memcmp(b, "ABC", 3));
	CHECK(decode("+/+/", b, sizeof(b)) == 3 && b[0] == 0xfb && b[1] == 0xff && b[2] == 0xbf);
	CHECK(decode("QUJDREVG", b, 6) == 6 && !memcmp(b, "ABCDEF", 6));
	CHECK(decode("QUJDREVG", b, 5) == -E2BIG);
	static const char *const bad[] = {
		"", "Q", "QQ", "QQ=", "QUJ", "Q===", "====", "QR==", "QUJ=" /* non-canonical */,
		"QQ==QUJD" /* padding inside */, "QU=D", "QU D", "QUJD\n", "QUJ-", "QUJ_", "QUJ.",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (decode(bad[i], b, sizeof(b)) != -EINVAL)
			printf("  accepted: \"%s\"\n", bad[i]);
		CHECK(decode(bad[i], b, sizeof(b)) == -EINVAL);
	}
}

TEST(init_restore_mac)
{
	unsigned char mac[6];

	CHECK(restore_parse_mac("02:00:0a:FF:c0:01", mac) == 0);
	CHECK(mac[0] == 2 && mac[2] == 0x0a && mac[3] == 0xff && mac[4] == 0xc0 && mac[5] == 1);
	static const char *const bad[] = {
		"01:00:00:00:00:01", /* multicast */ "ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00",
		"02:00:00:00:00", "02:00:00:00:00:01:", "02-00-00-00-00-01", "02:00:00:00:00:0g",
		"2:00:00:00:00:001", " 02:00:00:00:00:1", "",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(restore_parse_mac(bad[i], mac) == -EINVAL);
}

TEST(init_restore_parse_full)
{
	struct restoremsg m;
	char ip[INET_ADDRSTRLEN];

	CHECK(parse(&m, " {\"entropy\": \"" E32 "\", \"time_ns\": " T ",\n \"hostname\": \"fn-7\","
			" \"ip\": \"10.1.0.7::10.1.0.1:255.255.0.0:ignored:eth1:off\", \"mac\": \"02:00:00:00:00:07\"}\n") == 0);
	CHECK(m.entropy_len == 32 && m.entropy[0] == 0 && m.entropy[31] == 31);
	CHECK(m.time_ns == 1700000000123456789ull);
	CHECK(!strcmp(m.hostname, "fn-7")); /* the key wins over ip's HOSTNAME */
	CHECK(m.has_ip && m.ip.configure && m.ip.has_gw && !strcmp(m.ip.dev, "eth1"));
	CHECK(!strcmp(inet_ntop(AF_INET, &m.ip.addr, ip, sizeof(ip)), "10.1.0.7"));
	CHECK(m.has_mac && m.mac[5] == 7 && restore_has_net(&m));

	CHECK(parse(&m, "{\"time_ns\":" T ",\"entropy\":\"" E32 "\"}") == 0);
	CHECK(!m.hostname[0] && !m.has_ip && !m.has_mac && !restore_has_net(&m));
	CHECK(parse(&m, "{\"time_ns\":" T ",\"entropy\":\"" E32 "\",\"ip\":\"10.1.0.7:::::\"}") == 0);
	CHECK(!m.hostname[0] && !strcmp(m.ip.dev, "eth0") && !m.ip.has_gw);
	CHECK(parse(&m, "{\"time_ns\":" T ",\"entropy\":\"" E32 "\",\"ip\":\"10.1.0.7::::from-ip::\"}") == 0);
	CHECK(!strcmp(m.hostname, "from-ip"));
	CHECK(parse(&m, "{\"time_ns\":946684800000000000,\"entropy\":\"" E32 "\"}") == 0);
	CHECK(parse(&m, "{\"time_ns\":4102444799999999999,\"entropy\":\"" E32 "\"}") == 0);
}

TEST(init_restore_parse_rejects)
{
	static const char *const bad[] = {
		"", "[]", "{}", "{", "null",
		"{\"entropy\":\"" E32 "\"}",                                 /* no time_ns */
		"{\"time_ns\":" T "}",                                       /* no entropy */
		"{\"entropy\":\"" E32 "\",\"time_ns\":" T ",\"extra\":1}",    /* unknown key */
		"{\"entropy\":\"" E32 "\",\"time_ns\":" T ",\"time_ns\":" T "}",
		"{\"entropy\":\"" E31 "\",\"time_ns\":" T "}",               /* 31 bytes */
		"{\"entropy\":\"QUJD\",\"time_ns\":" T "}",
		"{\"entropy\":\"not base64!\",\"time_ns\":" T "}",
		"{\"entropy\":32,\"time_ns\":" T "}",
		"{\"entropy\":\"" E32 "\",\"time_ns\":\"" T "\"}",
		"{\"entropy\":\"" E32 "\",\"time_ns\":-1}",
		"{\"entropy\":\"" E32 "\",\"time_ns\":1.5e18}",
		"{\"entropy\":\"" E32 "\",\"time_ns\":1700000000}",           /* seconds, not ns: 1970 */
		"{\"entropy\":\"" E32 "\",\"time_ns\":4102444800000000000}",  /* 2100 */
		"{\"entropy\":\"" E32 "\",\"time_ns\":99999999999999999999999}",
		"{\"entropy\":\"" E32 "\",\"time_ns\":null}",
		"{\"entropy\":\"" E32 "\",\"time_ns\":" T ",\"hostname\":\"\"}",
		"{\"entropy\":\"" E32 "\",\"time_ns\":" T ",\"hostname\":\"-x\"}",
		"{\"entropy\":\"" E32 "\",\"time_ns\":" T ",\"hostname\":\"a b\"}",
		"{\"entropy\":\"" E32 "\",\"time_ns\":" T ",\"hostname\":\"a\\u0000\"}",
		"{\"entropy\":\"" E32 "\",\"time_ns\":" T ",\"ip\":\"dhcp\"}",
		"{\"entropy\":\"" E32 "\",\"time_ns\":" T ",\"ip\":\"off\"}",
		"{\"entropy\":\"" E32 "\",\"time_ns\":" T ",\"ip\":\"10.0.0.300\"}",
		"{\"entropy\":\"" E32 "\",\"time_ns\":" T ",\"ip\":\"10.0.0.2:::::eth0:dhcp\"}",
		"{\"entropy\":\"" E32 "\",\"time_ns\":" T ",\"mac\":\"01:00:00:00:00:01\"}",
		"{\"entropy\":\"" E32 "\",\"time_ns\":" T ",\"mac\":2}",
		"{\"entropy\":\"" E32 "\",\"time_ns\":" T "} x",
		"{\"entropy\":\"" E32 "\",\"time_ns\":" T ",}",
	};
	struct restoremsg m;
	char err[320];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(&m, bad[i]) != -EINVAL)
			printf("  accepted: %s\n", bad[i]);
		CHECK(parse(&m, bad[i]) == -EINVAL);
	}
	/* 513 bytes: one over the limit. */
	char big[1024], *p = big + sprintf(big, "{\"time_ns\":" T ",\"entropy\":\"");
	for (int i = 0; i < 171; i++)
		p += sprintf(p, "AAAA");
	strcpy(p, "\"}");
	CHECK(parse(&m, big) == -EINVAL);
	strcpy(p - 4, "\"}"); /* 510 bytes */
	CHECK(parse(&m, big) == 0 && m.entropy_len == 510);
	/* Messages name the problem and where. */
	const char *q = "{\"entropy\":\"" E32 "\"}";
	CHECK(restore_parse(&m, q, strlen(q), err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "restore message: time_ns is required"));
	q = "{\"entropy\":\"x\",\"time_ns\":1}";
	CHECK(restore_parse(&m, q, strlen(q), err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "entropy is not padded standard base64 at byte 14"));
}
