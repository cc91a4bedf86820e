/* guest-init's parsers: kernel command line and ip=, function.json, HTTP request heads. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../../guest-init/fnconfig.h"
#include "../../guest-init/kcmdline.h"
#include "../../guest-init/reqhead.h"
#include "test.h"
#include "util.h"

static int parse_json(struct fnconfig *fc, const char *json)
{
	char err[256];

	fnconfig_init(fc);
	return fnconfig_parse(fc, json, strlen(json), err, sizeof(err));
}

/* Parses and frees: 0 when the text is accepted. */
static int json_ok(const char *json)
{
	struct fnconfig fc;
	int r = parse_json(&fc, json);

	fnconfig_free(&fc);
	return r;
}

static const char *ip4(struct in_addr a)
{
	static char buf[INET_ADDRSTRLEN];

	return inet_ntop(AF_INET, &a, buf, sizeof(buf));
}

TEST(init_cmdline_get)
{
	const char *cl = "console=ttyS0 kindling.port=9000 ip=10.0.0.2::10.0.0.1:255.255.255.0::eth0:off "
			 "kindling.handler=\"/fn/my handler\" kindling.port=9001 flag -- kindling.port=1";
	char v[64];

	CHECK(kcmdline_get(cl, "kindling.port", v, sizeof(v)) == 1 && !strcmp(v, "9001")); /* last wins, not after -- */
	CHECK(kcmdline_get(cl, "kindling.handler", v, sizeof(v)) == 1 && !strcmp(v, "/fn/my handler"));
	CHECK(kcmdline_get(cl, "ip", v, sizeof(v)) == 1 && !strncmp(v, "10.0.0.2::", 10));
	CHECK(kcmdline_get(cl, "flag", v, sizeof(v)) == 1 && !strcmp(v, ""));
	CHECK(kcmdline_get(cl, "kindling", v, sizeof(v)) == 0); /* prefixes do not match */
	CHECK(kcmdline_get(cl, "console=tty", v, sizeof(v)) == 0);
	CHECK(kcmdline_get("", "ip", v, sizeof(v)) == 0);
	CHECK(kcmdline_get("ip=0123456789", "ip", v, 5) == -E2BIG);
}

TEST(init_cmdline_ip)
{
	struct ipconf ic;

	CHECK(kcmdline_parse_ip("10.0.0.2::10.0.0.1:255.255.255.0:fn1:eth1:off", &ic) == 0);
	CHECK(ic.configure && ic.has_addr && ic.has_gw);
	CHECK(!strcmp(ip4(ic.addr), "10.0.0.2") && !strcmp(ip4(ic.gw), "10.0.0.1"));
	CHECK(!strcmp(ip4(ic.mask), "255.255.255.0"));
	CHECK(!strcmp(ic.hostname, "fn1") && !strcmp(ic.dev, "eth1") && !strcmp(ic.autoconf, "off"));
	/* No netmask: the address class; no device: eth0; no gateway: no route. */
	CHECK(kcmdline_parse_ip("172.16.1.5", &ic) == 0 && ic.configure && !ic.has_gw);
	CHECK(!strcmp(ip4(ic.mask), "255.255.0.0") && !strcmp(ic.dev, "eth0"));
	CHECK(kcmdline_parse_ip("off", &ic) == 0 && !ic.configure);
	CHECK(kcmdline_parse_ip("dhcp", &ic) == 0 && !ic.configure && !strcmp(ic.autoconf, "dhcp"));
	CHECK(kcmdline_parse_ip("::::::", &ic) == 0 && !ic.configure);
	CHECK(kcmdline_parse_ip("10.0.0.300", &ic) == -EINVAL);
	CHECK(kcmdline_parse_ip("10.0.0.2::10.0.0.1:255.0.255.0", &ic) == -EINVAL); /* not contiguous */
	CHECK(kcmdline_parse_ip("10.0.0.2:::::averyveryverylongname0", &ic) == -EINVAL);
	CHECK(kcmdline_parse_ip("10.0.0.2::::bad_host!", &ic) == -EINVAL);
}

TEST(init_cmdline_scratch_dev)
{
	static const char *const bad[] = { "", "/dev/vd", "/dev/vdA", "/dev/vdb1", "/dev/vdaa", "vdb", "/dev/sda",
					   "/dev/vd{", "/dev/../dev/vdb", "/dev/vdb/", " /dev/vdb", "/dev/xvdb" };

	CHECK(kcmdline_scratch_dev_valid("/dev/vda") && kcmdline_scratch_dev_valid("/dev/vdb"));
	CHECK(kcmdline_scratch_dev_valid("/dev/vdz"));
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		if (kcmdline_scratch_dev_valid(bad[i]))
			printf("  accepted: '%s'\n", bad[i]);
		CHECK(!kcmdline_scratch_dev_valid(bad[i]));
	}
}

TEST(init_fnconfig_full)
{
	struct fnconfig fc;
	char err[256];

	CHECK(parse_json(&fc, " {\"handler\": \"/function/run\", \"args\": [\"-v\", \"x y\"],\n"
			      "  \"env\": {\"MODE\": \"fast\", \"_X1\": \"\\u00e9\\n\\\"q\\\"\\ud83d\\ude00\"},"
			      " \"timeout_s\": 12 }\n") == 0);
	CHECK(fnconfig_finish(&fc, "kindling.timeout=7", err, sizeof(err)) == 0);
	CHECK(!strcmp(fc.argv[0], "/function/run") && !strcmp(fc.argv[1], "-v") && !strcmp(fc.argv[2], "x y"));
	CHECK(fc.argv[3] == NULL && fc.nargs == 2);
	CHECK(fc.nenv == 2 && !strcmp(fc.env[0], "MODE=fast"));
	CHECK(!strcmp(fc.env[1], "_X1=\xc3\xa9\n\"q\"\xf0\x9f\x98\x80"));
	CHECK(fc.env[2] == NULL);
	CHECK(fc.timeout_s == 7); /* the command line wins */
	fnconfig_free(&fc);
}

TEST(init_fnconfig_init_hook)
{
	struct fnconfig fc;
	char err[256];

	CHECK(parse_json(&fc, "{\"handler\": \"/function/run\", \"init\": [\"/function/warm\", \"--fill\", \"\"]}") == 0);
	CHECK(fnconfig_finish(&fc, "", err, sizeof(err)) == 0);
	CHECK(fc.ninit == 3 && !strcmp(fc.init_argv[0], "/function/warm"));
	CHECK(!strcmp(fc.init_argv[1], "--fill") && !strcmp(fc.init_argv[2], "") && fc.init_argv[3] == NULL);
	CHECK(fc.nargs == 0 && fc.argv[1] == NULL); /* the handler's args are its own */
	fnconfig_free(&fc);
	CHECK(parse_json(&fc, "{\"handler\": \"/function/run\"}") == 0);
	CHECK(fc.ninit == 0 && fc.init_argv[0] == NULL); /* no hook */
	fnconfig_free(&fc);
	/* The message names the problem and points at the offending value. */
	fnconfig_init(&fc);
	CHECK(fnconfig_parse(&fc, "{\"init\": [\"warm\"]}", 18, err, sizeof(err)) == -EINVAL);
	CHECK(!strcmp(err, "function.json: init's program is not an absolute path at byte 10"));
	fnconfig_free(&fc);
	CHECK(fnconfig_parse(&fc, "{\"init\": []}", 12, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "init is empty") != NULL);
	fnconfig_free(&fc);
	CHECK(fnconfig_parse(&fc, "{\"init\": \"/bin/true\"}", 21, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "init must be an array of strings") != NULL);
	fnconfig_free(&fc);
}

TEST(init_fnconfig_cmdline_handler)
{
	struct fnconfig fc;
	char err[256];

	CHECK(parse_json(&fc, "{}") == 0);
	CHECK(fnconfig_finish(&fc, "quiet", err, sizeof(err)) == -EINVAL); /* no handler anywhere */
	CHECK(strstr(err, "no handler"));
	CHECK(fnconfig_finish(&fc, "kindling.handler=/bin/true", err, sizeof(err)) == 0);
	CHECK(!strcmp(fc.argv[0], "/bin/true") && fc.timeout_s == FN_DEFAULT_TIMEOUT_S);
	fnconfig_free(&fc);
	CHECK(parse_json(&fc, "{\"handler\":\"relative/path\"}") == 0);
	CHECK(fnconfig_finish(&fc, "", err, sizeof(err)) == -EINVAL);
	CHECK(fnconfig_finish(&fc, "kindling.handler=/ok kindling.timeout=0", err, sizeof(err)) == -EINVAL);
	CHECK(fnconfig_finish(&fc, "kindling.handler=/ok kindling.timeout=5s", err, sizeof(err)) == -EINVAL);
	fnconfig_free(&fc);
}

TEST(init_fnconfig_rejects)
{
	static const char *const bad[] = {
		"", "[]", "{", "{\"handler\":\"/a\"", "{\"handler\":\"/a\"} x", "{\"handler\":\"/a\",}",
		"{\"handler\":\"/a\",\"handler\":\"/b\"}",  /* duplicate key */
		"{\"hander\":\"/a\"}",                      /* unknown key: typos must fail */
		"{\"handler\":1}", "{\"args\":\"x\"}", "{\"args\":[1]}", "{\"args\":[\"a\",]}",
		"{\"env\":[]}", "{\"env\":{\"A\":1}}", "{\"env\":{\"1A\":\"x\"}}", "{\"env\":{\"A=B\":\"x\"}}",
		"{\"env\":{\"A\":\"x\",\"A\":\"y\"}}",
		"{\"timeout_s\":0}", "{\"timeout_s\":-1}", "{\"timeout_s\":1.5}", "{\"timeout_s\":1e3}",
		"{\"timeout_s\":3601}", "{\"timeout_s\":99999999999999999999}", "{\"timeout_s\":01}",
		"{\"timeout_s\":\"5\"}", "{\"handler\":null}",
		"{\"init\":\"/bin/true\"}", "{\"init\":[]}", "{\"init\":[\"true\"]}", "{\"init\":[\"\"]}",
		"{\"init\":[\"/a\",1]}", "{\"init\":[1]}", "{\"init\":{}}", "{\"init\":null}",
		"{\"init\":[\"/a\",]}", "{\"init\":[\"/a\"],\"init\":[\"/b\"]}", "{\"init\":[\"/a\" \"b\"]}",
		"{\"handler\":\"a\tb\"}",          /* raw control character */
		"{\"handler\":\"\\u0000\"}",       /* NUL cannot be in a C string */
		"{\"handler\":\"\\ud800\"}",       /* lone surrogate */
		"{\"handler\":\"\\x\"}", "{\"handler\":\"\\u12\"}",
		"{\"handler\":\"\xc3\"}", "{\"handler\":\"\xc0\xaf\"}", "{\"handler\":\"\xed\xa0\x80\"}",
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		if (json_ok(bad[i]) == 0)
			printf("  accepted: %s\n", bad[i]);
		CHECK(json_ok(bad[i]) == -EINVAL);
	}
	CHECK(json_ok("{ }") == 0);
	CHECK(json_ok("{\"args\":[],\"env\":{}}") == 0);
}

TEST(init_fnconfig_bounds)
{
	size_t n = FN_MAX_STR + 64;
	char *big = malloc(n + 32), *p;
	struct fnconfig fc;

	CHECK(big);
	/* A string just over the limit fails cleanly; one well within it passes. */
	p = big + sprintf(big, "{\"handler\":\"/");
	memset(p, 'a', FN_MAX_STR);
	strcpy(p + FN_MAX_STR, "\"}");
	CHECK(json_ok(big) == -EINVAL);
	strcpy(p + 100, "\"}");
	CHECK(json_ok(big) == 0);
	free(big);
	/* More args than allowed. */
	big = malloc(16 * (FN_MAX_ARGS + 2) + 32);
	CHECK(big);
	p = big + sprintf(big, "{\"args\":[");
	for (int i = 0; i <= FN_MAX_ARGS; i++)
		p += sprintf(p, "%s\"a%d\"", i ? "," : "", i);
	strcpy(p, "]}");
	CHECK(json_ok(big) == -EINVAL);
	/* The init hook: its path and at most FN_MAX_ARGS args. */
	p = big + sprintf(big, "{\"init\":[\"/warm\"");
	for (int i = 0; i < FN_MAX_ARGS; i++)
		p += sprintf(p, ",\"a%d\"", i);
	strcpy(p, "]}");
	CHECK(parse_json(&fc, big) == 0 && fc.ninit == FN_MAX_ARGS + 1 && fc.init_argv[FN_MAX_ARGS + 1] == NULL);
	fnconfig_free(&fc);
	strcpy(p, ",\"one-too-many\"]}");
	CHECK(json_ok(big) == -EINVAL);
	free(big);
	/* A whole file over the limit is refused before parsing. */
	big = calloc(1, FN_MAX_FILE + 2);
	CHECK(big);
	memset(big, ' ', FN_MAX_FILE + 1);
	big[0] = '{', big[FN_MAX_FILE] = '}';
	CHECK(parse_json(&fc, big) == -EINVAL);
	fnconfig_free(&fc);
	free(big);
}

static enum reqhead_result head(const char *s, struct reqhead *rh)
{
	return reqhead_parse(s, strlen(s), rh);
}

TEST(init_reqhead_ok)
{
	struct reqhead rh;
	const char *r = "POST /invoke?x=1 HTTP/1.1\r\nHost: a\r\ncontent-length:  12 \r\nExpect: 100-Continue\r\n\r\nbody";

	CHECK(head(r, &rh) == REQHEAD_DONE);
	CHECK(!strcmp(rh.method, "POST") && !strcmp(rh.path, "/invoke"));
	CHECK(rh.content_length == 12 && rh.expect_continue && rh.head_len == strlen(r) - 4);
	CHECK(head("GET /health HTTP/1.0\r\n\r\n", &rh) == REQHEAD_DONE && rh.content_length == 0);
	CHECK(head("GET /health HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", &rh) == REQHEAD_DONE);
	CHECK(head("GET /health HTTP/1.1\r\nHost: a\r\n", &rh) == REQHEAD_INCOMPLETE);
	CHECK(head("GET /hea", &rh) == REQHEAD_INCOMPLETE);
}

TEST(init_reqhead_errors)
{
	static const struct {
		const char *req;
		int status;
	} cases[] = {
		{ "garbage\r\n", 400 },   /* a bad request line is refused before the head ends */
		{ "GET /x HTTP/1.1\n\n", 400 },
		{ "GET x HTTP/1.1\r\n\r\n", 400 },
		{ "GET /x HTTP/2.0\r\n\r\n", 505 },
		{ "GET /x FOO/1.1\r\n\r\n", 400 },
		{ "GET  /x HTTP/1.1\r\n\r\n", 400 },
		{ "G(T /x HTTP/1.1\r\n\r\n", 400 },
		{ "GET /x HTTP/1.1\r\nNo colon\r\n\r\n", 400 },
		{ "GET /x HTTP/1.1\r\nBad Name: v\r\n\r\n", 400 },
		{ "GET /x HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", 400 },
		{ "GET /x HTTP/1.1\r\nA: b\rc\r\n\r\n", 400 },
		{ "GET /x HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400 },
		{ "GET /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400 },
		{ "GET /x HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", 400 },
		{ "GET /x HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", 400 },
		{ "GET /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400 },
		{ "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501 },
		{ "POST /x HTTP/1.1\r\nExpect: something\r\n\r\n", 417 },
	};
	struct reqhead rh;
	char *big;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		enum reqhead_result r = head(cases[i].req, &rh);

		if (r != REQHEAD_ERROR || rh.status != cases[i].status)
			printf("  case %zu: result %d status %d\n", i, r, rh.status);
		CHECK(r == REQHEAD_ERROR && rh.status == cases[i].status && rh.why);
	}
	CHECK(reqhead_parse("GET /\0x", 7, &rh) == REQHEAD_ERROR && rh.status == 400);
	big = malloc(REQHEAD_MAX + 64);
	CHECK(big);
	memset(big, 'a', REQHEAD_MAX + 64);
	memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
	CHECK(reqhead_parse(big, REQHEAD_MAX + 64, &rh) == REQHEAD_ERROR && rh.status == 431);
	free(big);
	big = malloc(REQHEAD_MAX);
	CHECK(big);
	strcpy(big, "GET / HTTP/1.1\r\n");
	for (int i = 0; i <= REQHEAD_MAX_FIELDS; i++)
		strcat(big, "A: b\r\n");
	strcat(big, "\r\n");
	CHECK(head(big, &rh) == REQHEAD_ERROR && rh.status == 431);
	free(big);
}
