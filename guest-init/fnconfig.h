/* The function to run: /etc/kindling/function.json (strict, bounded JSON for one fixed
 * schema) overridden by kindling.* keys of the kernel command line.
 *
 *   { "handler": "/function/handler",      required unless kindling.handler= is given
 *     "args": ["--flag", "x"],              optional, at most FN_MAX_ARGS strings
 *     "env": { "KEY": "value" },            optional, at most FN_MAX_ENV entries
 *     "timeout_s": 30,                       optional, whole seconds 1..FN_MAX_TIMEOUT_S
 *     "init": ["/function/warm", "x"] }     optional: the init hook, run once before readiness;
 *                                            an absolute path, then at most FN_MAX_ARGS args
 *
 * Unknown keys, duplicate keys, wrong types, trailing data, invalid UTF-8, control characters
 * and NUL (\u0000) in strings are errors: a typo should fail the boot, not be ignored. */
#ifndef KINDLING_INIT_FNCONFIG_H
#define KINDLING_INIT_FNCONFIG_H

#include <stddef.h>

#define FN_MAX_FILE 65536
#define FN_MAX_STR 4096
#define FN_MAX_ARGS 64
#define FN_MAX_ENV 64
#define FN_MAX_TIMEOUT_S 3600
#define FN_DEFAULT_TIMEOUT_S 30

struct fnconfig {
	char *handler;
	char *argv[FN_MAX_ARGS + 2]; /* argv[0] = handler, then args, NULL */
	int nargs;                   /* args only, without argv[0] */
	char *env[FN_MAX_ENV + 1];   /* "KEY=value", NULL-terminated */
	int nenv;
	unsigned timeout_s;
	char *init_argv[FN_MAX_ARGS + 2]; /* the init hook: path, args, NULL */
	int ninit;                        /* entries of init_argv, the path included; 0: no hook */
};

void fnconfig_init(struct fnconfig *fc);
void fnconfig_free(struct fnconfig *fc);

/* Parses function.json text into fc (after fnconfig_init). Returns 0, or -EINVAL/-ENOMEM
 * with a message naming the byte offset in err. */
int fnconfig_parse(struct fnconfig *fc, const char *json, size_t len, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Applies kindling.handler= and kindling.timeout= from a kernel command line, then checks
 * that a handler is set and is an absolute path, and fills argv[0]. Returns 0 or -EINVAL. */
int fnconfig_finish(struct fnconfig *fc, const char *cmdline, char *err, size_t errlen)
	__attribute__((warn_unused_result));

#endif
