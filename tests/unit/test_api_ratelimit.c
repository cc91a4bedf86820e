/* Rate limiters through the API (api/routes_devices.c, api/layout.c) over fake VMM ops: PUT
 * and PATCH of drives and network interfaces, GET /vm/config's report, the config file,
 * with Firecracker v1.7.0's answers (test_api.py's rate limiter cases, test_drive_patch,
 * test_get_full_config). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "routes.h"
#include "test.h"

#define NOT_BEFORE "The requested operation is not supported before starting the microVM."

/* The fake VMM: its state, and the limiter changes it was asked for. */
static struct {
	enum vmm_state state;
	int calls;
	bool net[4];
	int which[4];
	char id[4][CONFIG_ID_MAX + 1];
	struct rl_update u[4];
	bool fail;
} fake;

static enum vmm_state f_state(void *o)
{
	(void)o;
	return fake.state;
}

static int f_start(void *o, const struct vmm_config *c, char *e, size_t n)
{
	(void)o, (void)c, (void)e, (void)n;
	fake.state = VMM_RUNNING;
	return 0;
}

static int f_patch_rl(void *o, bool net, const char *id, int which, const struct rl_update *u, char *e, size_t n)
{
	int i = fake.calls++ % 4;

	(void)o;
	if (fake.fail)
		return errorf(e, n, -ENODEV, "no block device with id '%s'", id);
	fake.net[i] = net;
	fake.which[i] = which;
	snprintf(fake.id[i], sizeof(fake.id[i]), "%s", id);
	fake.u[i] = *u;
	return 0;
}

static const struct api_ops ops = { .state = f_state, .start = f_start, .patch_rate_limiter = f_patch_rl };

static char file_path[64];

static void remove_file(void)
{
	unlink(file_path);
}

static const char *a_file(void)
{
	if (!file_path[0]) {
		int fd;

		snprintf(file_path, sizeof(file_path), "/tmp/kindling-unit-rl-XXXXXX");
		fd = mkstemp(file_path);
		if (fd >= 0)
			close(fd);
		atexit(remove_file);
	}
	return file_path;
}

/* One request: its status, and its fault message (or body) in out. */
static int call(struct api *a, enum http_method m, const char *path, const char *body, char *out, size_t outlen)
{
	static const char *const names[] = { [HTTP_GET] = "GET", [HTTP_PUT] = "PUT", [HTTP_PATCH] = "PATCH" };
	struct api_response r = { 0 };
	cJSON *o, *f;

	api_handle(a, m, names[m], path, body, strlen(body), &r);
	o = r.body ? cJSON_Parse(r.body) : NULL;
	f = cJSON_GetObjectItem(o, "fault_message");
	snprintf(out, outlen, "%s", cJSON_IsString(f) ? f->valuestring : r.body ? r.body : "");
	cJSON_Delete(o);
	free(r.body);
	return r.status;
}

static char msg[4096];
#define PUT(a, path, body) call(a, HTTP_PUT, path, body, msg, sizeof(msg))
#define PATCH(a, path, body) call(a, HTTP_PATCH, path, body, msg, sizeof(msg))

/* GET /vm/config's member `key` of the first drive or interface, re-printed compactly. */
static const char *reported(struct api *a, const char *list, const char *key)
{
	static char out[512];
	char *s = api_vm_config_json(a);
	cJSON *o = cJSON_Parse(s), *dev = cJSON_GetArrayItem(cJSON_GetObjectItem(o, list), 0);
	char *p = cJSON_PrintUnformatted(cJSON_GetObjectItem(dev, key));

	snprintf(out, sizeof(out), "%s", p ? p : "(none)");
	free(p);
	cJSON_Delete(o);
	free(s);
	return out;
}

static void drive_body(char *b, size_t n, const char *limiter)
{
	snprintf(b, n,
		 "{\"drive_id\": \"bw\", \"path_on_host\": \"%s\", \"is_read_only\": false, \"is_root_device\": false%s%s}",
		 a_file(), limiter ? ", \"rate_limiter\": " : "", limiter ? limiter : "");
}

/* test_rate_limiters_api_config and test_get_full_config: accepted before boot, reported as
 * Firecracker reports them (a missing burst as null, a disabled bucket as null, no bucket
 * at all as a null limiter). */
TEST(api_rate_limiter_put_and_report)
{
	struct api a;
	char b[1024], *s;

	memset(&fake, 0, sizeof(fake));
	api_init(&a, NULL, &ops, NULL);
	drive_body(b, sizeof(b), "{\"bandwidth\": {\"size\": 1000000, \"refill_time\": 100}}");
	CHECK(PUT(&a, "/drives/bw", b) == 204);
	CHECK(!strcmp(reported(&a, "drives", "rate_limiter"),
		      "{\"bandwidth\":{\"size\":1000000,\"one_time_burst\":null,\"refill_time\":100},\"ops\":null}"));
	drive_body(b, sizeof(b),
		   "{\"bandwidth\": {\"size\": 1000000, \"refill_time\": 100}, \"ops\": {\"size\": 1, \"refill_time\": 100, "
		   "\"one_time_burst\": 18446744073709551615}}");
	CHECK(PUT(&a, "/drives/bw", b) == 204);
	/* Exact past 2^53 (re-parsing it here would round it). */
	s = api_vm_config_json(&a);
	CHECK(strstr(s, "\"rate_limiter\":{\"bandwidth\":{\"size\":1000000,\"one_time_burst\":null,\"refill_time\":100},"
			"\"ops\":{\"size\":1,\"one_time_burst\":18446744073709551615,\"refill_time\":100}}"));
	free(s);
	/* size 0 or refill_time 0: that bucket is off; none left: no limiter. */
	drive_body(b, sizeof(b), "{\"bandwidth\": {\"size\": 0, \"refill_time\": 100}, \"ops\": {\"size\": 5, \"refill_time\": 0}}");
	CHECK(PUT(&a, "/drives/bw", b) == 204);
	CHECK(!strcmp(reported(&a, "drives", "rate_limiter"), "null"));
	drive_body(b, sizeof(b), "{}");
	CHECK(PUT(&a, "/drives/bw", b) == 204);
	CHECK(!strcmp(reported(&a, "drives", "rate_limiter"), "null"));
	drive_body(b, sizeof(b), "{\"bandwidth\": {\"size\": 1.5, \"refill_time\": 100}}");
	CHECK(PUT(&a, "/drives/bw", b) == 400);
	CHECK(!strcmp(msg, "An error occurred when deserializing the json body of a request: invalid type: floating point "
			   "`1.5`, expected u64."));

	CHECK(PUT(&a, "/network-interfaces/3",
		  "{\"iface_id\": \"3\", \"guest_mac\": \"06:00:00:00:00:03\", \"host_dev_name\": \"tap3\", "
		  "\"rx_rate_limiter\": {\"bandwidth\": {\"size\": 1000000, \"refill_time\": 100}, \"ops\": {\"size\": 1, "
		  "\"refill_time\": 100}}, \"tx_rate_limiter\": {\"ops\": {\"size\": 1, \"one_time_burst\": 7, \"refill_time\": "
		  "100}}}") == 204);
	CHECK(!strcmp(reported(&a, "network-interfaces", "rx_rate_limiter"),
		      "{\"bandwidth\":{\"size\":1000000,\"one_time_burst\":null,\"refill_time\":100},\"ops\":{\"size\":1,"
		      "\"one_time_burst\":null,\"refill_time\":100}}"));
	CHECK(!strcmp(reported(&a, "network-interfaces", "tx_rate_limiter"),
		      "{\"bandwidth\":null,\"ops\":{\"size\":1,\"one_time_burst\":7,\"refill_time\":100}}"));
	CHECK(PUT(&a, "/network-interfaces/3",
		  "{\"iface_id\": \"3\", \"host_dev_name\": \"tap3\", \"tx_rate_limiter\": {\"bandwidth\": 1}}") == 400);
	CHECK(strstr(msg, "invalid type: integer `1`, expected struct TokenBucketConfig"));
	CHECK(fake.calls == 0);
	api_free(&a);
}

/* test_api_patch_pre_boot, test_drive_patch (the rate limiter steps), and PATCH's merge:
 * a bucket given replaces that bucket, a bucket left out stays, a 0-size one is removed. */
TEST(api_rate_limiter_patch_drive)
{
	struct api a;
	char b[1024];

	memset(&fake, 0, sizeof(fake));
	api_init(&a, NULL, &ops, NULL);
	drive_body(b, sizeof(b), "{\"bandwidth\": {\"size\": 1000000, \"refill_time\": 100}}");
	CHECK(PUT(&a, "/drives/bw", b) == 204);
	CHECK(PATCH(&a, "/drives/bw", "{\"drive_id\": \"bw\", \"rate_limiter\": {\"ops\": {\"size\": 1, \"refill_time\": 100}}}") ==
	      400);
	CHECK(!strcmp(msg, NOT_BEFORE));
	fake.state = VMM_RUNNING;
	/* Neither a path nor a limiter: Firecracker's answer for a virtio drive. */
	CHECK(PATCH(&a, "/drives/bw", "{\"drive_id\": \"bw\"}") == 400);
	CHECK(!strcmp(msg, "Drive config error: Unable to patch the block device: Device manager error: Running method "
			   "expected different backend. Please verify the request arguments."));
	CHECK(PATCH(&a, "/drives/bw", "{\"drive_id\": \"bw\", \"rate_limiter\": null}") == 400);
	/* {}: no bucket to change; the device is not asked. */
	CHECK(PATCH(&a, "/drives/bw", "{\"drive_id\": \"bw\", \"rate_limiter\": {}}") == 204);
	CHECK(fake.calls == 0);
	CHECK(PATCH(&a, "/drives/bw",
		    "{\"drive_id\": \"bw\", \"rate_limiter\": {\"bandwidth\": {\"size\": 5000, \"refill_time\": 100}, \"ops\": "
		    "{\"size\": 500, \"refill_time\": 100}}}") == 204);
	CHECK(fake.calls == 1 && !fake.net[0] && fake.which[0] == 0 && !strcmp(fake.id[0], "bw"));
	CHECK(fake.u[0].set_bandwidth && fake.u[0].bandwidth.size == 5000 && fake.u[0].set_ops && fake.u[0].ops.size == 500);
	CHECK(!strcmp(reported(&a, "drives", "rate_limiter"),
		      "{\"bandwidth\":{\"size\":5000,\"one_time_burst\":null,\"refill_time\":100},\"ops\":{\"size\":500,"
		      "\"one_time_burst\":null,\"refill_time\":100}}"));
	/* Only ops given: bandwidth stays. */
	CHECK(PATCH(&a, "/drives/bw", "{\"drive_id\": \"bw\", \"rate_limiter\": {\"ops\": {\"size\": 50, \"refill_time\": 10}}}") ==
	      204);
	CHECK(fake.calls == 2 && !fake.u[1].set_bandwidth && fake.u[1].set_ops);
	CHECK(!strcmp(reported(&a, "drives", "rate_limiter"),
		      "{\"bandwidth\":{\"size\":5000,\"one_time_burst\":null,\"refill_time\":100},\"ops\":{\"size\":50,"
		      "\"one_time_burst\":null,\"refill_time\":10}}"));
	/* A 0-size bucket removes that limit; both gone: a null limiter. */
	CHECK(PATCH(&a, "/drives/bw", "{\"drive_id\": \"bw\", \"rate_limiter\": {\"bandwidth\": {\"size\": 0, \"refill_time\": 100}}}") ==
	      204);
	CHECK(fake.u[2].set_bandwidth && fake.u[2].bandwidth.size == 0);
	CHECK(!strcmp(reported(&a, "drives", "rate_limiter"),
		      "{\"bandwidth\":null,\"ops\":{\"size\":50,\"one_time_burst\":null,\"refill_time\":10}}"));
	CHECK(PATCH(&a, "/drives/bw", "{\"drive_id\": \"bw\", \"rate_limiter\": {\"ops\": {\"size\": 10, \"refill_time\": 0}}}") ==
	      204);
	CHECK(!strcmp(reported(&a, "drives", "rate_limiter"), "null"));
	/* A bad path fails before the limiter changes (test_drive_patch). */
	CHECK(PATCH(&a, "/drives/bw",
		    "{\"drive_id\": \"bw\", \"path_on_host\": \"foo.bar\", \"rate_limiter\": {\"bandwidth\": {\"size\": 5000, "
		    "\"refill_time\": 100}}}") == 400);
	CHECK(strstr(msg, "No such file or directory (os error 2) foo.bar Please verify the request arguments."));
	CHECK(fake.calls == 4);
	/* The device refuses: the config stays as it was. */
	fake.fail = true;
	CHECK(PATCH(&a, "/drives/bw", "{\"drive_id\": \"bw\", \"rate_limiter\": {\"bandwidth\": {\"size\": 1, \"refill_time\": 1}}}") ==
	      400);
	CHECK(!strcmp(msg, "Drive config error: Unable to patch the block device: no block device with id 'bw' Please "
			   "verify the request arguments."));
	CHECK(!strcmp(reported(&a, "drives", "rate_limiter"), "null"));
	CHECK(PATCH(&a, "/drives/bw", "{\"drive_id\": \"bw\", \"rate_limiter\": {\"bandwidth\": {}}}") == 400);
	CHECK(strstr(msg, "missing field `size`"));
	api_free(&a);
}

TEST(api_rate_limiter_patch_net)
{
	struct api a;

	memset(&fake, 0, sizeof(fake));
	api_init(&a, NULL, &ops, NULL);
	CHECK(PUT(&a, "/network-interfaces/1",
		  "{\"iface_id\": \"1\", \"host_dev_name\": \"tap1\", \"tx_rate_limiter\": {\"bandwidth\": {\"size\": 1000000, "
		  "\"refill_time\": 100}}}") == 204);
	CHECK(PATCH(&a, "/network-interfaces/1", "{\"iface_id\": \"1\"}") == 400 && !strcmp(msg, NOT_BEFORE));
	fake.state = VMM_RUNNING;
	CHECK(PATCH(&a, "/network-interfaces/1", "{\"iface_id\": \"1\"}") == 204);
	CHECK(fake.calls == 0);
	/* test_get_full_config_after_restoring_snapshot's PATCH, and an RX limiter. */
	CHECK(PATCH(&a, "/network-interfaces/1",
		    "{\"iface_id\": \"1\", \"rx_rate_limiter\": {\"ops\": {\"size\": 10, \"refill_time\": 100}}, "
		    "\"tx_rate_limiter\": {\"bandwidth\": {\"size\": 500000, \"refill_time\": 100, \"one_time_burst\": null}, "
		    "\"ops\": null}}") == 204);
	CHECK(fake.calls == 2 && fake.net[0] && fake.which[0] == 0 && fake.u[0].set_ops && !fake.u[0].set_bandwidth);
	CHECK(fake.net[1] && fake.which[1] == 1 && fake.u[1].set_bandwidth && fake.u[1].bandwidth.size == 500000 &&
	      !fake.u[1].set_ops);
	CHECK(!strcmp(reported(&a, "network-interfaces", "rx_rate_limiter"),
		      "{\"bandwidth\":null,\"ops\":{\"size\":10,\"one_time_burst\":null,\"refill_time\":100}}"));
	CHECK(!strcmp(reported(&a, "network-interfaces", "tx_rate_limiter"),
		      "{\"bandwidth\":{\"size\":500000,\"one_time_burst\":null,\"refill_time\":100},\"ops\":null}"));
	CHECK(PATCH(&a, "/network-interfaces/1", "{\"iface_id\": \"1\", \"rx_rate_limiter\": {\"burst\": null}}") == 400);
	CHECK(strstr(msg, "unknown field `burst`, expected `bandwidth` or `ops`"));
	CHECK(PATCH(&a, "/network-interfaces/9", "{\"iface_id\": \"9\", \"rx_rate_limiter\": {}}") == 400);
	fake.fail = true;
	CHECK(PATCH(&a, "/network-interfaces/1", "{\"iface_id\": \"1\", \"tx_rate_limiter\": {\"bandwidth\": {\"size\": 0, "
						"\"refill_time\": 0}}}") == 400);
	CHECK(strstr(msg, "Network config error: Unable to update the net device: "));
	CHECK(strcmp(reported(&a, "network-interfaces", "tx_rate_limiter"), "null"));
	api_free(&a);
}

/* --config-file takes the same members, with the same checks. */
TEST(api_rate_limiter_config_file)
{
	struct api a;
	char json[2048], err[1024];

	memset(&fake, 0, sizeof(fake));
	api_init(&a, NULL, &ops, NULL);
	snprintf(json, sizeof(json),
		 "{\"boot-source\": {\"kernel_image_path\": \"%s\"}, \"drives\": [{\"drive_id\": \"d\", \"path_on_host\": \"%s\", "
		 "\"is_root_device\": true, \"rate_limiter\": {\"ops\": {\"size\": 100, \"refill_time\": 100}}}], "
		 "\"network-interfaces\": [{\"iface_id\": \"n\", \"host_dev_name\": \"tap0\", \"rx_rate_limiter\": "
		 "{\"bandwidth\": {\"size\": 10485760, \"one_time_burst\": 524288000, \"refill_time\": 100}}}]}",
		 a_file(), a_file());
	CHECK(api_apply_config(&a, json, strlen(json), err, sizeof(err)) == 0);
	CHECK(a.cfg.drives[0].rate_limiter.ops.size == 100 && a.cfg.drives[0].rate_limiter.ops.refill_time == 100);
	CHECK(a.cfg.nets[0].rx_rate_limiter.bandwidth.one_time_burst == 524288000ull);
	CHECK(!rate_limiter_config_enabled(&a.cfg.nets[0].tx_rate_limiter));
	api_free(&a);
	api_init(&a, NULL, &ops, NULL);
	snprintf(json, sizeof(json),
		 "{\"boot-source\": {\"kernel_image_path\": \"%s\"}, \"drives\": [{\"drive_id\": \"d\", \"path_on_host\": \"%s\", "
		 "\"is_root_device\": true, \"rate_limiter\": {\"ops\": {\"size\": 100}}}]}",
		 a_file(), a_file());
	CHECK(api_apply_config(&a, json, strlen(json), err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "/drives/d: ") && strstr(err, "missing field `refill_time`"));
	api_free(&a);
}
