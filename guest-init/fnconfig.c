/* function.json: a recursive-descent parser (on sjson.h) that knows the one schema it
 * accepts, so it needs no generic JSON tree and every size is bounded up front. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fnconfig.h"
#include "kcmdline.h"
#include "sjson.h"
#include "util.h"

_Static_assert(FN_MAX_STR == SJSON_MAX_STR, "strings of function.json are sjson strings");

static int parse_timeout(struct sjson *p, unsigned *out)
{
	uint64_t v;
	int r = sjson_uint(p, "timeout_s", 1, FN_MAX_TIMEOUT_S, &v);

	if (!r)
		*out = (unsigned)v;
	return r;
}

static int parse_args(struct sjson *p, struct fnconfig *fc)
{
	int r;

	if (!sjson_eat(p, '['))
		return sjson_err(p, "args must be an array of strings");
	if (sjson_eat(p, ']'))
		return 0;
	do {
		if (fc->nargs == FN_MAX_ARGS)
			return sjson_err(p, "more than %d args", FN_MAX_ARGS);
		r = sjson_string(p, &fc->argv[1 + fc->nargs]);
		if (r)
			return r;
		fc->nargs++;
	} while (sjson_eat(p, ','));
	return sjson_eat(p, ']') ? 0 : sjson_err(p, "expected , or ] in args");
}

/* A command, like the handler and its args in one: ["/abs/path", "arg", ...]. */
static int parse_init(struct sjson *p, struct fnconfig *fc)
{
	size_t at;
	int r;

	if (!sjson_eat(p, '['))
		return sjson_err(p, "init must be an array of strings: [\"/abs/path\", args...]");
	if (sjson_eat(p, ']'))
		return sjson_err(p, "init is empty: it needs the absolute path of a program");
	do {
		if (fc->ninit == FN_MAX_ARGS + 1)
			return sjson_err(p, "more than %d init args", FN_MAX_ARGS);
		sjson_skip_ws(p);
		at = p->pos;
		r = sjson_string(p, &fc->init_argv[fc->ninit]);
		if (r)
			return r;
		if (++fc->ninit == 1 && fc->init_argv[0][0] != '/') {
			p->pos = at;
			return sjson_err(p, "init's program is not an absolute path");
		}
	} while (sjson_eat(p, ','));
	return sjson_eat(p, ']') ? 0 : sjson_err(p, "expected , or ] in init");
}

static bool valid_env_name(const char *s)
{
	if (!*s || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s; s++)
		if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
			return false;
	return true;
}

static int parse_env(struct sjson *p, struct fnconfig *fc)
{
	char *k = NULL, *v = NULL;
	int r;

	if (!sjson_eat(p, '{'))
		return sjson_err(p, "env must be an object of strings");
	if (sjson_eat(p, '}'))
		return 0;
	do {
		if (fc->nenv == FN_MAX_ENV)
			return sjson_err(p, "more than %d env entries", FN_MAX_ENV);
		r = sjson_string(p, &k);
		if (r)
			return r;
		if (!valid_env_name(k)) {
			free(k);
			return sjson_err(p, "env name is not [A-Za-z_][A-Za-z0-9_]*");
		}
		for (int i = 0; i < fc->nenv; i++) {
			size_t kl = strlen(k);

			if (!strncmp(fc->env[i], k, kl) && fc->env[i][kl] == '=') {
				free(k);
				return sjson_err(p, "duplicate env name");
			}
		}
		if (!sjson_eat(p, ':')) {
			free(k);
			return sjson_err(p, "expected : in env");
		}
		r = sjson_string(p, &v);
		if (r) {
			free(k);
			return r;
		}
		if (asprintf(&fc->env[fc->nenv], "%s=%s", k, v) < 0) {
			fc->env[fc->nenv] = NULL;
			r = -ENOMEM;
		} else {
			fc->nenv++;
		}
		free(k);
		free(v);
		if (r)
			return r;
	} while (sjson_eat(p, ','));
	return sjson_eat(p, '}') ? 0 : sjson_err(p, "expected , or } in env");
}

void fnconfig_init(struct fnconfig *fc)
{
	memset(fc, 0, sizeof(*fc));
	fc->timeout_s = FN_DEFAULT_TIMEOUT_S;
}

void fnconfig_free(struct fnconfig *fc)
{
	free(fc->handler);
	for (int i = 1; i <= fc->nargs; i++)
		free(fc->argv[i]);
	for (int i = 0; i < fc->nenv; i++)
		free(fc->env[i]);
	for (int i = 0; i < fc->ninit; i++)
		free(fc->init_argv[i]);
	fnconfig_init(fc);
}

int fnconfig_parse(struct fnconfig *fc, const char *json, size_t len, char *err, size_t errlen)
{
	struct sjson p = { .s = json, .len = len, .what = "function.json", .err = err, .errlen = errlen };
	unsigned seen = 0;
	int r;

	if (len > FN_MAX_FILE)
		return sjson_err(&p, "file larger than %d bytes", FN_MAX_FILE);
	if (!sjson_eat(&p, '{'))
		return sjson_err(&p, "expected a JSON object");
	if (!sjson_eat(&p, '}')) {
		do {
			static const char *const keys[] = { "handler", "args", "env", "timeout_s", "init" };
			int k = sjson_key(&p, keys, ARRAY_SIZE(keys), &seen);

			if (k < 0)
				return k;
			if (k == 0)
				r = sjson_string(&p, &fc->handler);
			else if (k == 1)
				r = parse_args(&p, fc);
			else if (k == 2)
				r = parse_env(&p, fc);
			else if (k == 3)
				r = parse_timeout(&p, &fc->timeout_s);
			else
				r = parse_init(&p, fc);
			if (r)
				return r;
		} while (sjson_eat(&p, ','));
		if (!sjson_eat(&p, '}'))
			return sjson_err(&p, "expected , or }");
	}
	return sjson_end(&p);
}

int fnconfig_finish(struct fnconfig *fc, const char *cmdline, char *err, size_t errlen)
{
	char val[FN_MAX_STR];
	int r;

	r = kcmdline_get(cmdline, "kindling.handler", val, sizeof(val));
	if (r < 0) {
		snprintf(err, errlen, "kindling.handler= is too long");
		return -EINVAL;
	}
	if (r > 0) {
		char *h = strdup(val);

		if (!h)
			return -ENOMEM;
		free(fc->handler);
		fc->handler = h;
	}
	r = kcmdline_get(cmdline, "kindling.timeout", val, sizeof(val));
	if (r != 0) {
		struct sjson p = { .s = val, .len = r > 0 ? strlen(val) : 0, .what = "kindling.timeout=",
				   .err = err, .errlen = errlen };
		unsigned t;

		if (r < 0 || parse_timeout(&p, &t) || p.pos != p.len) {
			snprintf(err, errlen, "kindling.timeout= must be whole seconds 1..%d", FN_MAX_TIMEOUT_S);
			return -EINVAL;
		}
		fc->timeout_s = t;
	}
	if (!fc->handler || !*fc->handler) {
		snprintf(err, errlen, "no handler: set \"handler\" in function.json or kindling.handler=");
		return -EINVAL;
	}
	if (fc->handler[0] != '/') {
		snprintf(err, errlen, "handler %s is not an absolute path", fc->handler);
		return -EINVAL;
	}
	fc->argv[0] = fc->handler;
	fc->argv[1 + fc->nargs] = NULL;
	fc->env[fc->nenv] = NULL;
	return 0;
}
