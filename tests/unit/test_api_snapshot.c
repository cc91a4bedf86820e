/* PUT /snapshot/create and /snapshot/load (api/routes_snapshot.c) over fake VMM ops: every
 * body error and wrong order answers Firecracker v1.7.0's status and message, a failed load
 * leaves the API as it was, and a successful one behaves as Firecracker's post-boot API. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "routes.h"
#include "test.h"
#include "util.h"

#define NOT_BEFORE "The requested operation is not supported before starting the microVM."
#define NOT_AFTER "The requested operation is not supported after starting the microVM."
#define NOT_ALLOWED \
	"Load snapshot error: Loading a microVM snapshot not allowed after configuring boot-specific resources."
#define BODY "An error occurred when deserializing the json body of a request: "

/* The fake VMM: its state, what the last snapshot call was given, and whether loads fail. */
static struct {
	enum vmm_state state;
	bool fail_load;
	int loads, creates, pauses;
	struct snapshot_load_params load;
	struct snapshot_create_params create;
	char paths[2][128];
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

static int f_pause(void *o, bool pause, char *e, size_t n)
{
	(void)o, (void)e, (void)n;
	fake.pauses++;
	fake.state = pause ? VMM_PAUSED : VMM_RUNNING;
	return 0;
}

static int f_logger(void *o, const struct logger_config *l, char *e, size_t n)
{
	(void)o, (void)l, (void)e, (void)n;
	return 0;
}

static int f_create(void *o, const struct snapshot_create_params *p, char *e, size_t n)
{
	(void)o;
	fake.creates++;
	fake.create = *p;
	snprintf(fake.paths[0], sizeof(fake.paths[0]), "%s", p->state_path);
	snprintf(fake.paths[1], sizeof(fake.paths[1]), "%s", p->mem_path);
	if (!strcmp(p->state_path, "/nonexistent/state"))
		return errorf(e, n, -ENOENT, "Cannot perform open on the snapshot backing file: No such file");
	return 0;
}

static int f_load(void *o, const struct snapshot_load_params *p, char *e, size_t n)
{
	(void)o;
	fake.loads++;
	fake.load = *p;
	snprintf(fake.paths[0], sizeof(fake.paths[0]), "%s", p->state_path);
	snprintf(fake.paths[1], sizeof(fake.paths[1]), "%s", p->backend_path);
	if (fake.fail_load)
		return errorf(e, n, -EINVAL, "the state file's CRC does not match");
	/* The VM the state file describes: 2 vCPUs, 256 MiB. */
	p->config->vcpu_count = 2;
	p->config->mem_size_mib = 256;
	fake.state = p->resume ? VMM_RUNNING : VMM_PAUSED;
	return 0;
}

static const struct api_ops ops = {
	.state = f_state, .start = f_start, .pause = f_pause, .logger = f_logger,
	.snapshot_create = f_create, .snapshot_load = f_load,
};

static int status;
static bool deprecated;

/* The fault message of one request ("" if none); status and deprecated are set. */
static const char *call(struct api *a, enum http_method m, const char *path, const char *body)
{
	static char msg[1024];
	static const char *const names[] = { [HTTP_GET] = "GET", [HTTP_PUT] = "PUT", [HTTP_PATCH] = "PATCH" };
	struct api_response r;
	cJSON *o, *f;

	api_handle(a, m, names[m], path, body, strlen(body), &r);
	status = r.status;
	deprecated = r.deprecated;
	o = r.body ? cJSON_Parse(r.body) : NULL;
	f = cJSON_GetObjectItem(o, "fault_message");
	snprintf(msg, sizeof(msg), "%s", cJSON_IsString(f) ? f->valuestring : "");
	cJSON_Delete(o);
	free(r.body);
	return msg;
}

#define PUT(a, path, body) call(a, HTTP_PUT, path, body)
#define EXPECT(a, m, path, body, code, text)                                  \
	do {                                                                  \
		const char *got_ = call(a, m, path, body);                    \
		if (status != (code) || strcmp(got_, text))                   \
			printf("  got %d '%s'\n  want %d '%s'\n", status, got_, code, text); \
		CHECK(status == (code) && !strcmp(got_, text));               \
	} while (0)

static void fresh(struct api *a)
{
	memset(&fake, 0, sizeof(fake));
	api_init(a, "t", &ops, NULL);
}

static const char *LOAD = "{\"snapshot_path\": \"s\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"m\"}}";
static const char *CREATE = "{\"snapshot_path\": \"s\", \"mem_file_path\": \"m\"}";

/* test_api.py test_negative_snapshot_load_api, and snapshot.rs's parser tests. */
TEST(snapshot_load_bodies)
{
	struct api a;

	fresh(&a);
	EXPECT(&a, HTTP_PUT, "/snapshot/load",
	       "{\"snapshot_path\": \"foo\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"bar\"}, "
	       "\"mem_file_path\": \"bar\"}",
	       400, BODY "too many fields: either `mem_backend` or `mem_file_path` exclusively is required.");
	EXPECT(&a, HTTP_PUT, "/snapshot/load",
	       "{\n            \"snapshot_path\": \"foo\",\n            \"mem_backend\": {\n                "
	       "\"backend_path\": \"bar\"\n            }\n        }",
	       400, BODY "missing field `backend_type` at line 5 column 13.");
	EXPECT(&a, HTTP_PUT, "/snapshot/load", "{\"snapshot_path\": \"foo\", \"mem_backend\": {\"backend_type\": \"File\"}}",
	       400, BODY "missing field `backend_path` at line 1 column 64.");
	EXPECT(&a, HTTP_PUT, "/snapshot/load",
	       "{\"snapshot_path\": \"foo\", \"mem_backend\": {\"backend_type\": \"foo\", \"backend_path\": \"bar\"}}", 400,
	       BODY "unknown variant `foo`, expected `File` or `Uffd`.");
	EXPECT(&a, HTTP_PUT, "/snapshot/load",
	       "{\n            \"mem_backend\": {\n                \"backend_path\": \"bar\",\n                "
	       "\"backend_type\": \"Uffd\"\n            }\n        }",
	       400, BODY "missing field `snapshot_path` at line 6 column 9.");
	EXPECT(&a, HTTP_PUT, "/snapshot/load", "{\"snapshot_path\": \"foo\"}", 400,
	       BODY "missing field: either `mem_backend` or `mem_file_path` is required.");
	EXPECT(&a, HTTP_PUT, "/snapshot/load", "{\"snapshot_path\": \"foo\", \"mem_backend\": null, \"mem_file_path\": null}",
	       400, BODY "missing field: either `mem_backend` or `mem_file_path` is required.");
	EXPECT(&a, HTTP_PUT, "/snapshot/load", "{\"snapshot_path\": \"foo\", \"mem_backend\": [1]}", 400,
	       BODY "invalid type: sequence, expected struct MemBackendConfig.");
	EXPECT(&a, HTTP_PUT, "/snapshot/load", "{\"snapshot_path\": 7, \"mem_file_path\": \"m\"}", 400,
	       BODY "invalid type: integer `7`, expected path string.");
	EXPECT(&a, HTTP_PUT, "/snapshot/load", "{\"snapshot_path\": \"s\", \"mem_file_path\": \"m\", \"resume_vm\": null}",
	       400, BODY "invalid type: null, expected a boolean.");
	EXPECT(&a, HTTP_PUT, "/snapshot/load",
	       "{\"snapshot_path\": \"s\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"m\", \"x\": 1}}",
	       400, BODY "unknown field `x`, expected `backend_path` or `backend_type`.");
	EXPECT(&a, HTTP_PUT, "/snapshot/load", "{\"snapshot_path\": \"s\", \"mem_file_path\": \"m\", \"version\": 1}", 400,
	       BODY "unknown field `version`, expected one of `snapshot_path`, `mem_file_path`, `mem_backend`, "
		    "`enable_diff_snapshots`, `resume_vm`, `track_dirty_pages`.");
	/* Refused bodies never reach the VMM, nor make it deprecated. */
	CHECK(fake.loads == 0 && !deprecated);
	api_free(&a);
}

TEST(snapshot_create_bodies_and_paths)
{
	struct api a;

	fresh(&a);
	EXPECT(&a, HTTP_PUT, "/snapshot/create", "{\"snapshot_path\": \"s\"}", 400,
	       BODY "missing field `mem_file_path` at line 1 column 22.");
	EXPECT(&a, HTTP_PUT, "/snapshot/create", "{\"snapshot_type\": \"Half\", \"snapshot_path\": \"s\", \"mem_file_path\": \"m\"}",
	       400, BODY "unknown variant `Half`, expected `Diff` or `Full`.");
	EXPECT(&a, HTTP_PUT, "/snapshot/create", "{\"snapshot_path\": \"s\", \"mem_file_path\": \"m\", \"version\": \"1.0\"}",
	       400, BODY "unknown field `version`, expected one of `snapshot_type`, `snapshot_path`, `mem_file_path`.");
	/* The path, as Firecracker's parsed_request.rs reads it. */
	EXPECT(&a, HTTP_PUT, "/snapshot", CREATE, 400, "Missing snapshot operation type.");
	EXPECT(&a, HTTP_PUT, "/snapshot/", CREATE, 400, "Missing snapshot operation type.");
	EXPECT(&a, HTTP_PUT, "/snapshot/foo", CREATE, 400, "Invalid request method and/or path: PUT /snapshot/foo.");
	EXPECT(&a, HTTP_PUT, "/snapshot/a-b", CREATE, 400, "Invalid request method and/or path: PUT /snapshot/a-b.");
	EXPECT(&a, HTTP_PATCH, "/snapshot/create", CREATE, 400, "Invalid request method and/or path: PATCH snapshot.");
	EXPECT(&a, HTTP_GET, "/snapshot/load", "", 400, "Invalid request method and/or path: GET snapshot.");
	/* Pre-boot, before any body check of the VMM's. */
	EXPECT(&a, HTTP_PUT, "/snapshot/create/extra", CREATE, 400, NOT_BEFORE);
	EXPECT(&a, HTTP_PUT, "/snapshot/create", "{\"snapshot_type\": \"Diff\", \"snapshot_path\": \"s\", \"mem_file_path\": \"m\"}",
	       400, NOT_BEFORE);
	CHECK(fake.creates == 0);
	api_free(&a);
}

/* Firecracker's boot_path: these PUTs (even refused ones) end the chance of a load; the
 * logger and metrics do not. */
TEST(snapshot_load_after_boot_specific_config)
{
	static const char *const puts[][2] = {
		{ "/boot-source", "{\"kernel_image_path\": \"/nonexistent/kernel\"}" },
		{ "/machine-config", "{\"vcpu_count\": 2, \"mem_size_mib\": 256}" },
		{ "/machine-config", "{\"vcpu_count\": 0, \"mem_size_mib\": 256}" },
		{ "/drives/rootfs", "{\"drive_id\": \"rootfs\", \"path_on_host\": \"/nonexistent\", \"is_root_device\": true, \"is_read_only\": true}" },
		{ "/network-interfaces/eth0", "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\"}" },
	};
	struct api a;

	for (size_t i = 0; i < ARRAY_SIZE(puts); i++) {
		fresh(&a);
		PUT(&a, puts[i][0], puts[i][1]);
		EXPECT(&a, HTTP_PUT, "/snapshot/load", LOAD, 400, NOT_ALLOWED);
		CHECK(fake.loads == 0);
		api_free(&a);
	}
	fresh(&a);
	EXPECT(&a, HTTP_PATCH, "/machine-config", "{\"vcpu_count\": 2}", 204, "");
	EXPECT(&a, HTTP_PUT, "/snapshot/load", LOAD, 400, NOT_ALLOWED);
	api_free(&a);

	/* Refused before the VMM saw them (the body, the path's id): not boot-specific yet. */
	fresh(&a);
	PUT(&a, "/machine-config", "{\"vcpu_count\": \"2\"}");
	PUT(&a, "/drives/a", "{\"drive_id\": \"b\", \"path_on_host\": \"/x\", \"is_root_device\": false}");
	EXPECT(&a, HTTP_PATCH, "/machine-config", "{}", 400, "Empty PATCH request.");
	CHECK(!a.boot_path);
	EXPECT(&a, HTTP_PUT, "/logger", "{\"level\": \"Info\"}", 204, "");
	EXPECT(&a, HTTP_PUT, "/snapshot/load", LOAD, 204, "");
	CHECK(fake.loads == 1);
	api_free(&a);
}

/* Better than Firecracker (which exits): a failed load is a 400, and nothing changed. */
TEST(snapshot_failed_load_leaves_api_usable)
{
	struct api a;

	fresh(&a);
	fake.fail_load = true;
	EXPECT(&a, HTTP_PUT, "/snapshot/load", "{\"snapshot_path\": \"s\", \"mem_file_path\": \"m\"}", 400,
	       "Load snapshot error: Failed to restore from snapshot: the state file's CRC does not match");
	CHECK(deprecated); /* Firecracker's header, failure or not */
	CHECK(fake.state == VMM_NOT_STARTED && !a.boot_path);
	CHECK(a.cfg.vcpu_count == 1 && a.cfg.mem_size_mib == DEFAULT_MEM_MIB);
	/* Another load may be tried, and a normal configuration still works. */
	EXPECT(&a, HTTP_PUT, "/snapshot/load", LOAD, 400,
	       "Load snapshot error: Failed to restore from snapshot: the state file's CRC does not match");
	CHECK(fake.loads == 2 && !deprecated);
	EXPECT(&a, HTTP_PUT, "/machine-config", "{\"vcpu_count\": 2, \"mem_size_mib\": 256}", 204, "");
	EXPECT(&a, HTTP_PATCH, "/vm", "{\"state\": \"Resumed\"}", 400, NOT_BEFORE);
	api_free(&a);
}

/* After a load the API is Firecracker's runtime API. */
TEST(snapshot_after_load)
{
	struct api a;
	struct api_response r;

	fresh(&a);
	EXPECT(&a, HTTP_PUT, "/snapshot/load",
	       "{\"snapshot_path\": \"/s/state\", \"mem_backend\": {\"backend_type\": \"Uffd\", \"backend_path\": \"/s/uffd.sock\"}, "
	       "\"enable_diff_snapshots\": true}",
	       204, "");
	CHECK(!deprecated && fake.loads == 1 && fake.state == VMM_PAUSED);
	CHECK(fake.load.backend == SNAPSHOT_MEM_UFFD && fake.load.track_dirty_pages && !fake.load.resume);
	CHECK(!strcmp(fake.paths[0], "/s/state") && !strcmp(fake.paths[1], "/s/uffd.sock"));
	/* GET /vm/config and /machine-config: the loaded VM, dirty tracking from the load. */
	api_handle(&a, HTTP_GET, "GET", "/machine-config", "", 0, &r);
	CHECK(r.status == 200 && strstr(r.body, "\"vcpu_count\":2,\"mem_size_mib\":256"));
	CHECK(strstr(r.body, "\"track_dirty_pages\":true"));
	free(r.body);
	api_handle(&a, HTTP_GET, "GET", "/vm/config", "", 0, &r);
	CHECK(r.status == 200 && strstr(r.body, "\"vcpu_count\":2"));
	free(r.body);
	/* Everything pre-boot is refused as post-boot. */
	EXPECT(&a, HTTP_PUT, "/actions", "{\"action_type\": \"InstanceStart\"}", 400, NOT_AFTER);
	EXPECT(&a, HTTP_PUT, "/snapshot/load", LOAD, 400, NOT_AFTER);
	EXPECT(&a, HTTP_PUT, "/boot-source", "{\"kernel_image_path\": \"/k\"}", 400, NOT_AFTER);
	EXPECT(&a, HTTP_PUT, "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 128}", 400, NOT_AFTER);
	EXPECT(&a, HTTP_PATCH, "/machine-config", "{\"vcpu_count\": 1}", 400, NOT_AFTER);
	EXPECT(&a, HTTP_PUT, "/drives/d", "{\"drive_id\": \"d\", \"path_on_host\": \"/x\", \"is_root_device\": false}", 400,
	       NOT_AFTER);
	EXPECT(&a, HTTP_PUT, "/network-interfaces/n", "{\"iface_id\": \"n\", \"host_dev_name\": \"t\"}", 400, NOT_AFTER);
	EXPECT(&a, HTTP_PUT, "/logger", "{\"level\": \"Info\"}", 400, NOT_AFTER);
	CHECK(fake.loads == 1);
	/* Snapshots of the loaded VM: Diff is allowed (tracking on), paused only. */
	EXPECT(&a, HTTP_PUT, "/snapshot/create", "{\"snapshot_type\": \"Diff\", \"snapshot_path\": \"d\", \"mem_file_path\": \"dm\"}",
	       204, "");
	CHECK(fake.creates == 1 && fake.create.type == SNAPSHOT_DIFF && !strcmp(fake.paths[1], "dm"));
	EXPECT(&a, HTTP_PATCH, "/vm", "{\"state\": \"Resumed\"}", 204, "");
	CHECK(fake.pauses == 1 && fake.state == VMM_RUNNING);
	EXPECT(&a, HTTP_PATCH, "/vm", "{\"state\": \"Resumed\"}", 204, ""); /* a no-op */
	CHECK(fake.pauses == 1);
	EXPECT(&a, HTTP_PUT, "/snapshot/create", CREATE, 400,
	       "Create snapshot error: Cannot save the microVM state: Operation not allowed: save/restore unavailable "
	       "while running");
	EXPECT(&a, HTTP_PATCH, "/vm", "{\"state\": \"Paused\"}", 204, "");
	EXPECT(&a, HTTP_PUT, "/snapshot/create", CREATE, 204, "");
	CHECK(fake.creates == 2 && fake.create.type == SNAPSHOT_FULL);
	api_free(&a);
}

TEST(snapshot_create_order_and_errors)
{
	struct api a;

	fresh(&a);
	/* Booted without dirty-page tracking. */
	EXPECT(&a, HTTP_PUT, "/boot-source", "{\"kernel_image_path\": \"/etc/hostname\"}", 204, "");
	EXPECT(&a, HTTP_PUT, "/actions", "{\"action_type\": \"InstanceStart\"}", 204, "");
	EXPECT(&a, HTTP_PUT, "/snapshot/create", "{\"snapshot_type\": \"Diff\", \"snapshot_path\": \"s\", \"mem_file_path\": \"m\"}",
	       400,
	       "The requested operation is not supported: Diff snapshots are not allowed on uVMs with dirty page "
	       "tracking disabled.");
	EXPECT(&a, HTTP_PUT, "/snapshot/create", CREATE, 400,
	       "Create snapshot error: Cannot save the microVM state: Operation not allowed: save/restore unavailable "
	       "while running");
	EXPECT(&a, HTTP_PUT, "/snapshot/load", LOAD, 400, NOT_AFTER);
	/* The Diff check comes first, as in Firecracker, even when paused. */
	EXPECT(&a, HTTP_PATCH, "/vm", "{\"state\": \"Paused\"}", 204, "");
	EXPECT(&a, HTTP_PUT, "/snapshot/create", "{\"snapshot_type\": \"Diff\", \"snapshot_path\": \"s\", \"mem_file_path\": \"m\"}",
	       400,
	       "The requested operation is not supported: Diff snapshots are not allowed on uVMs with dirty page "
	       "tracking disabled.");
	CHECK(fake.creates == 0);
	/* The VMM's failure, in Firecracker's wrapping. */
	EXPECT(&a, HTTP_PUT, "/snapshot/create", "{\"snapshot_path\": \"/nonexistent/state\", \"mem_file_path\": \"m\"}", 400,
	       "Create snapshot error: Cannot perform open on the snapshot backing file: No such file");
	CHECK(fake.creates == 1 && fake.state == VMM_PAUSED);
	api_free(&a);

	/* With tracking, Diff reaches the VMM. */
	fresh(&a);
	EXPECT(&a, HTTP_PUT, "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 128, \"track_dirty_pages\": true}", 204, "");
	EXPECT(&a, HTTP_PUT, "/boot-source", "{\"kernel_image_path\": \"/etc/hostname\"}", 204, "");
	EXPECT(&a, HTTP_PUT, "/actions", "{\"action_type\": \"InstanceStart\"}", 204, "");
	EXPECT(&a, HTTP_PATCH, "/vm", "{\"state\": \"Paused\"}", 204, "");
	EXPECT(&a, HTTP_PUT, "/snapshot/create", "{\"snapshot_type\": \"Diff\", \"snapshot_path\": \"s\", \"mem_file_path\": \"m\"}",
	       204, "");
	CHECK(fake.creates == 1 && fake.create.type == SNAPSHOT_DIFF);
	api_free(&a);
}

TEST(snapshot_load_resume_and_deprecation)
{
	struct api a;

	fresh(&a);
	EXPECT(&a, HTTP_PUT, "/snapshot/load",
	       "{\"snapshot_path\": \"s\", \"mem_file_path\": \"m\", \"resume_vm\": true, \"track_dirty_pages\": false}", 204, "");
	CHECK(deprecated && fake.load.resume && !fake.load.track_dirty_pages && fake.load.backend == SNAPSHOT_MEM_FILE);
	CHECK(!strcmp(fake.paths[1], "m") && fake.state == VMM_RUNNING);
	EXPECT(&a, HTTP_PATCH, "/vm", "{\"state\": \"Frozen\"}", 400, BODY "unknown variant `Frozen`, expected `Paused` or `Resumed`.");
	EXPECT(&a, HTTP_PATCH, "/vm", "{\"state\": \"Paused\"}", 204, "");
	api_free(&a);
}
