/* libFuzzer target: raw request bytes through the HTTP parser, the router and JSON
 * validation. Side effects (start, pause, logger, metrics, snapshots) are stubs that succeed
 * (a load fails for a snapshot path starting with 'x'), so the fuzzer also reaches the
 * post-boot and post-load routes. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "log.h"
#include "routes.h"

/* The VMM's state, as the stubs below change it; reset for every input. */
static enum vmm_state state;

static enum vmm_state get_state(void *o)
{
	(void)o;
	return state;
}

static int ok_start(void *o, const struct vmm_config *c, char *e, size_t n)
{
	(void)o, (void)c, (void)e, (void)n;
	state = VMM_RUNNING;
	return 0;
}

static int ok_pause(void *o, bool p, char *e, size_t n)
{
	(void)o, (void)e, (void)n;
	state = p ? VMM_PAUSED : VMM_RUNNING;
	return 0;
}

static int ok_simple(void *o, char *e, size_t n)
{
	(void)o, (void)e, (void)n;
	return 0;
}

static int ok_logger(void *o, const struct logger_config *l, char *e, size_t n)
{
	(void)o, (void)l, (void)e, (void)n;
	return 0;
}

static int ok_metrics(void *o, const char *p, char *e, size_t n)
{
	(void)o, (void)p, (void)e, (void)n;
	return 0;
}

static int ok_patch(void *o, const struct drive_config *d, char *e, size_t n)
{
	(void)o, (void)d, (void)e, (void)n;
	return 0;
}

static int ok_create(void *o, const struct snapshot_create_params *p, char *e, size_t n)
{
	(void)o, (void)p, (void)e, (void)n;
	return 0;
}

/* Loads succeed or fail by the snapshot path's first byte, so both outcomes are reached. */
static int some_load(void *o, const struct snapshot_load_params *p, char *e, size_t n)
{
	(void)o;
	if (p->state_path[0] == 'x')
		return errorf(e, n, -EINVAL, "no such snapshot");
	state = p->resume ? VMM_RUNNING : VMM_PAUSED;
	return 0;
}

static int ok_patch_rl(void *o, bool net, const char *id, int which, const struct rl_update *u, char *e, size_t n)
{
	(void)o, (void)net, (void)id, (void)which, (void)u, (void)e, (void)n;
	return 0;
}

static const struct api_ops ops = {
	.state = get_state,
	.start = ok_start,
	.pause = ok_pause,
	.ctrl_alt_del = ok_simple,
	.flush_metrics = ok_simple,
	.logger = ok_logger,
	.metrics = ok_metrics,
	.patch_drive = ok_patch,
	.patch_rate_limiter = ok_patch_rl,
	.snapshot_create = ok_create,
	.snapshot_load = some_load,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api a;
	const char *buf = (const char *)data;

	state = VMM_NOT_STARTED;
	api_init(&a, NULL, &ops, NULL);
	/* Several pipelined requests per input, as one keep-alive connection would send. */
	while (size) {
		struct http_request req;
		struct api_response resp;
		size_t used = 0;
		char why[HTTP_WHY_MAX];
		int status;

		if (http_parse(buf, size, HTTP_MAX_BODY, &req, &used, &status, why) != HTTP_COMPLETE)
			break;
		api_handle(&a, req.method, req.method_name, req.path, req.body, req.body_len, &resp);
		if (resp.status < 200 || resp.status > 599)
			__builtin_trap();
		free(resp.body);
		buf += used;
		size -= used;
	}
	if (size && size < 4096) {
		/* And the same bytes as a config file. */
		char err[256];

		if (api_apply_config(&a, buf, size, err, sizeof(err)) == 0 && !a.cfg.kernel_path)
			__builtin_trap(); /* an accepted config always has a boot source */
	}
	api_free(&a);
	return 0;
}
