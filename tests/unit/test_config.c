/* vmm/config.c: the setters and config_validate() that the flags, the config file and the
 * API share. The same bad input through a flag (config_parse_* + config_set_*), through the
 * API (api_handle) and through a config file (api_apply_config) must be refused with the
 * same message, and leave the config as it was. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "routes.h"
#include "test.h"

static enum vmm_state stub_state;

static enum vmm_state get_state(void *o)
{
	(void)o;
	return stub_state;
}

static int ok_start(void *o, const struct vmm_config *c, char *e, size_t n)
{
	(void)o, (void)c, (void)e, (void)n;
	stub_state = VMM_RUNNING;
	return 0;
}

static const struct api_ops ops = { .state = get_state, .start = ok_start };

/* A scratch file for drives and kernels; removed at exit. */
static char file_path[64];

static void remove_file(void)
{
	unlink(file_path);
}

static const char *a_file(void)
{
	if (!file_path[0]) {
		int fd;

		snprintf(file_path, sizeof(file_path), "/tmp/kindling-unit-cfg-XXXXXX");
		fd = mkstemp(file_path);
		if (fd >= 0)
			close(fd);
		atexit(remove_file);
	}
	return file_path;
}

/* The API's fault message for one request (or "" when accepted). */
static const char *api_msg(struct api *a, enum http_method m, const char *path, const char *body)
{
	static char msg[1024];
	struct api_response r;
	cJSON *o;

	api_handle(a, m, m == HTTP_PUT ? "PUT" : "PATCH", path, body, strlen(body), &r);
	o = r.body ? cJSON_Parse(r.body) : NULL;
	snprintf(msg, sizeof(msg), "%s",
		 cJSON_IsString(cJSON_GetObjectItem(o, "fault_message")) ? cJSON_GetObjectItem(o, "fault_message")->valuestring
									 : "");
	cJSON_Delete(o);
	free(r.body);
	return msg;
}

static const char *flag_net(struct vmm_config *c, const char *spec)
{
	static char err[1024];
	struct net_config n;

	err[0] = 0;
	if (!config_parse_net(spec, &n, err, sizeof(err)) && !config_set_net(c, &n, err, sizeof(err)))
		err[0] = 0;
	return err;
}

static const char *flag_drive(struct vmm_config *c, const char *spec)
{
	static char err[1024];
	struct drive_config d;

	err[0] = 0;
	if (!config_parse_drive(spec, &d, err, sizeof(err)) && !config_set_drive(c, &d, err, sizeof(err)))
		err[0] = 0;
	free(d.path);
	return err;
}

TEST(config_duplicate_tap_and_mac_same_message_flags_and_api)
{
	struct vmm_config flags;
	struct api a;
	char api_err[1024];

	stub_state = VMM_NOT_STARTED;
	config_init(&flags);
	api_init(&a, "t", &ops, NULL);
	CHECK(!strcmp(flag_net(&flags, "tap=tap0,mac=06:00:00:00:00:01,id=a"), ""));
	CHECK(!strcmp(api_msg(&a, HTTP_PUT, "/network-interfaces/a",
			      "{\"iface_id\":\"a\",\"host_dev_name\":\"tap0\",\"guest_mac\":\"06:00:00:00:00:01\"}"),
		      ""));

	/* The same tap again, under another id. */
	snprintf(api_err, sizeof(api_err), "%s",
		 api_msg(&a, HTTP_PUT, "/network-interfaces/b", "{\"iface_id\":\"b\",\"host_dev_name\":\"tap0\"}"));
	CHECK(strstr(api_err, "the tap tap0 is already used by interface 'a'"));
	CHECK(!strcmp(flag_net(&flags, "tap=tap0,id=b"), api_err));

	/* The same MAC again, on another tap. */
	snprintf(api_err, sizeof(api_err), "%s",
		 api_msg(&a, HTTP_PUT, "/network-interfaces/b",
			 "{\"iface_id\":\"b\",\"host_dev_name\":\"tap1\",\"guest_mac\":\"06:00:00:00:00:01\"}"));
	CHECK(!strcmp(api_err, "Network config error: The MAC address is already in use: 06:00:00:00:00:01"));
	CHECK(!strcmp(flag_net(&flags, "tap=tap1,mac=06:00:00:00:00:01,id=b"), api_err));

	/* Refusals changed nothing. */
	CHECK(flags.nr_nets == 1 && a.cfg.nr_nets == 1);
	/* Replacing an interface by its own id is no duplicate. */
	CHECK(!strcmp(flag_net(&flags, "tap=tap0,mac=06:00:00:00:00:02,id=a"), ""));
	CHECK(flags.nr_nets == 1 && flags.nets[0].mac[5] == 2);
	config_free(&flags);
	api_free(&a);
}

TEST(config_tap_name_same_message_flags_and_api)
{
	struct vmm_config flags;
	struct api a;
	char api_err[1024];

	stub_state = VMM_NOT_STARTED;
	config_init(&flags);
	api_init(&a, "t", &ops, NULL);
	snprintf(api_err, sizeof(api_err), "%s",
		 api_msg(&a, HTTP_PUT, "/network-interfaces/a",
			 "{\"iface_id\":\"a\",\"host_dev_name\":\"a_tap_name_far_too_long\"}"));
	CHECK(strstr(api_err, "Invalid TUN/TAP Backend provided by a_tap_name_far_too_long"));
	CHECK(!strcmp(flag_net(&flags, "tap=a_tap_name_far_too_long"), api_err));
	snprintf(api_err, sizeof(api_err), "%s",
		 api_msg(&a, HTTP_PUT, "/network-interfaces/a", "{\"iface_id\":\"a\",\"host_dev_name\":\"x/y\"}"));
	CHECK(strstr(api_err, "without '/'"));
	CHECK(!strcmp(flag_net(&flags, "tap=x/y"), api_err));
	CHECK(flags.nr_nets == 0 && a.cfg.nr_nets == 0);
	config_free(&flags);
	api_free(&a);
}

TEST(config_drive_checks_same_message_flags_and_api)
{
	struct vmm_config flags;
	struct api a;
	char api_err[1024], spec[256], body[512];

	stub_state = VMM_NOT_STARTED;
	config_init(&flags);
	api_init(&a, "t", &ops, NULL);

	/* A backing file that does not exist. */
	snprintf(api_err, sizeof(api_err), "%s",
		 api_msg(&a, HTTP_PUT, "/drives/d",
			 "{\"drive_id\":\"d\",\"path_on_host\":\"/nonexistent/disk.img\",\"is_root_device\":false}"));
	CHECK(strstr(api_err, "BackingFile(Os { code: 2, message: \"No such file or directory\" }"));
	CHECK(!strcmp(flag_drive(&flags, "path=/nonexistent/disk.img,id=d"), api_err));

	/* An id outside Firecracker's rule. */
	snprintf(api_err, sizeof(api_err), "%s",
		 api_msg(&a, HTTP_PUT, "/drives/bad-id",
			 "{\"drive_id\":\"bad-id\",\"path_on_host\":\"/x\",\"is_root_device\":false}"));
	CHECK(!strcmp(api_err, "API Resource IDs can only contain alphanumeric characters and underscores."));
	snprintf(spec, sizeof(spec), "path=%s,id=bad-id", a_file());
	CHECK(!strcmp(flag_drive(&flags, spec), api_err));

	/* A second root device. */
	snprintf(spec, sizeof(spec), "path=%s,root,id=r1", a_file());
	CHECK(!strcmp(flag_drive(&flags, spec), ""));
	snprintf(body, sizeof(body), "{\"drive_id\":\"r1\",\"path_on_host\":\"%s\",\"is_root_device\":true}", a_file());
	CHECK(!strcmp(api_msg(&a, HTTP_PUT, "/drives/r1", body), ""));
	snprintf(body, sizeof(body), "{\"drive_id\":\"r2\",\"path_on_host\":\"%s\",\"is_root_device\":true}", a_file());
	snprintf(api_err, sizeof(api_err), "%s", api_msg(&a, HTTP_PUT, "/drives/r2", body));
	CHECK(!strcmp(api_err, "Drive config error: A root block device already exists!"));
	snprintf(spec, sizeof(spec), "path=%s,root,id=r2", a_file());
	CHECK(!strcmp(flag_drive(&flags, spec), api_err));
	CHECK(flags.nr_drives == 1 && a.cfg.nr_drives == 1);
	config_free(&flags);
	api_free(&a);
}

TEST(config_machine_same_message_flags_and_api)
{
	struct vmm_config flags;
	struct api a;
	struct machine_update u = { .has_vcpu_count = true, .vcpu_count = 33 };
	char err[1024], api_err[1024];

	stub_state = VMM_NOT_STARTED;
	config_init(&flags);
	api_init(&a, "t", &ops, NULL);
	snprintf(api_err, sizeof(api_err), "%s",
		 api_msg(&a, HTTP_PUT, "/machine-config", "{\"vcpu_count\":33,\"mem_size_mib\":128}"));
	CHECK(config_set_machine(&flags, &u, err, sizeof(err)) == -EINVAL);
	CHECK(!strcmp(err, api_err));
	u = (struct machine_update){ .has_mem_size_mib = true, .mem_size_mib = 4 };
	snprintf(api_err, sizeof(api_err), "%s",
		 api_msg(&a, HTTP_PUT, "/machine-config", "{\"vcpu_count\":1,\"mem_size_mib\":4}"));
	CHECK(config_set_machine(&flags, &u, err, sizeof(err)) == -EINVAL);
	CHECK(!strcmp(err, api_err));
	CHECK(!strcmp(err, "Invalid mem_size_mib 4: must be between 8 and 1048576."));
	/* The host's memory bounds both. */
	flags.host_mem_mib = a.cfg.host_mem_mib = 512;
	u.mem_size_mib = 1024;
	snprintf(api_err, sizeof(api_err), "%s",
		 api_msg(&a, HTTP_PATCH, "/machine-config", "{\"mem_size_mib\":1024}"));
	CHECK(config_set_machine(&flags, &u, err, sizeof(err)) == -EINVAL);
	CHECK(!strcmp(err, api_err));
	CHECK(strstr(err, "more than the host's 512 MiB"));
	/* Nothing changed. */
	CHECK(flags.vcpu_count == 1 && flags.mem_size_mib == DEFAULT_MEM_MIB);
	CHECK(a.cfg.vcpu_count == 1 && a.cfg.mem_size_mib == DEFAULT_MEM_MIB);
	config_free(&flags);
	api_free(&a);
}

TEST(config_boot_source_same_message_flags_and_api)
{
	struct vmm_config flags;
	struct api a;
	char err[1024], api_err[1024];

	stub_state = VMM_NOT_STARTED;
	config_init(&flags);
	api_init(&a, "t", &ops, NULL);
	snprintf(api_err, sizeof(api_err), "%s",
		 api_msg(&a, HTTP_PUT, "/boot-source", "{\"kernel_image_path\":\"/nonexistent/vmlinux\"}"));
	CHECK(config_set_boot_source(&flags, "/nonexistent/vmlinux", NULL, NULL, err, sizeof(err)) == -EINVAL);
	CHECK(!strcmp(err, api_err));
	CHECK(!strcmp(err, "Boot source error: The kernel file cannot be opened: No such file or directory (os error 2)"));
	CHECK(!flags.kernel_path && !a.cfg.kernel_path);
	CHECK(config_set_boot_source(&flags, a_file(), NULL, "console=ttyS0", err, sizeof(err)) == 0);
	CHECK(!strcmp(flags.kernel_path, a_file()) && !strcmp(flags.boot_args, "console=ttyS0"));
	config_free(&flags);
	api_free(&a);
}

TEST(config_validate_before_start)
{
	struct vmm_config c;
	char err[256];

	config_init(&c);
	CHECK(config_validate(&c, err, sizeof(err)) == -EINVAL);
	CHECK(!strcmp(err, "Cannot start microvm without kernel configuration."));
	c.kernel_path = strdup(a_file());
	CHECK(config_validate(&c, err, sizeof(err)) == 0);
	/* More devices than IRQ lines. */
	c.nr_drives = CONFIG_MAX_DRIVES;
	c.nr_nets = 1;
	for (int i = 0; i < c.nr_drives; i++)
		snprintf(c.drives[i].id, sizeof(c.drives[i].id), "d%d", i);
	snprintf(c.nets[0].host_dev_name, sizeof(c.nets[0].host_dev_name), "tap0");
	CHECK(config_validate(&c, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "(20 devices; at most 19, one per IRQ line 5-23)"));
	/* A config assembled by hand, past the setters, is still checked as a whole. */
	c.nr_drives = 0;
	c.nr_nets = 2;
	snprintf(c.nets[1].host_dev_name, sizeof(c.nets[1].host_dev_name), "tap0");
	CHECK(config_validate(&c, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "already used by interface"));
	c.nr_nets = 0;
	c.mem_size_mib = 0;
	CHECK(config_validate(&c, err, sizeof(err)) == -EINVAL);
	config_free(&c);
}

TEST(config_file_same_message_as_api)
{
	struct api a;
	char json[1024], err[1024], api_err[1024];

	stub_state = VMM_NOT_STARTED;
	api_init(&a, "t", &ops, NULL);
	CHECK(!strcmp(api_msg(&a, HTTP_PUT, "/network-interfaces/a", "{\"iface_id\":\"a\",\"host_dev_name\":\"tap0\"}"),
		      ""));
	snprintf(api_err, sizeof(api_err), "%s",
		 api_msg(&a, HTTP_PUT, "/network-interfaces/b", "{\"iface_id\":\"b\",\"host_dev_name\":\"tap0\"}"));
	api_free(&a);

	api_init(&a, "t", &ops, NULL);
	snprintf(json, sizeof(json),
		 "{\"boot-source\": {\"kernel_image_path\": \"%s\"},\n"
		 " \"network-interfaces\": [{\"iface_id\": \"a\", \"host_dev_name\": \"tap0\"},\n"
		 "                          {\"iface_id\": \"b\", \"host_dev_name\": \"tap0\"}]}",
		 a_file());
	CHECK(api_apply_config(&a, json, strlen(json), err, sizeof(err)) == -EINVAL);
	CHECK(!strncmp(err, "/network-interfaces/b: ", 23));
	CHECK(!strcmp(err + 23, api_err));
	api_free(&a);

	/* A section is checked as the API checks a body: serde's words. */
	api_init(&a, "t", &ops, NULL);
	snprintf(json, sizeof(json),
		 "{\"boot-source\": {\"kernel_image_path\": \"%s\"}, \"machine-config\": {\"vcpu_count\": 1.5, "
		 "\"mem_size_mib\": 128}}",
		 a_file());
	CHECK(api_apply_config(&a, json, strlen(json), err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "/machine-config: An error occurred when deserializing the json body of a request: "
			  "invalid type: floating point `1.5`, expected u8."));
	api_free(&a);

	/* And a good file sets everything. */
	api_init(&a, "t", &ops, NULL);
	snprintf(json, sizeof(json),
		 "{\"boot-source\": {\"kernel_image_path\": \"%s\", \"boot_args\": \"quiet\"},\n"
		 " \"drives\": [{\"drive_id\": \"root\", \"path_on_host\": \"%s\", \"is_root_device\": true}],\n"
		 " \"machine-config\": {\"vcpu_count\": 2, \"mem_size_mib\": 256},\n"
		 " \"network-interfaces\": [], \"balloon\": null}",
		 a_file(), a_file());
	CHECK(api_apply_config(&a, json, strlen(json), err, sizeof(err)) == 0);
	CHECK(a.cfg.vcpu_count == 2 && a.cfg.mem_size_mib == 256 && a.cfg.nr_drives == 1 && a.cfg.drives[0].is_root);
	CHECK(!strcmp(a.cfg.boot_args, "quiet"));
	CHECK(api_instance_start(&a, err, sizeof(err)) == 0 && stub_state == VMM_RUNNING);
	CHECK(api_instance_start(&a, err, sizeof(err)) == -EBUSY);
	api_free(&a);
}

TEST(log_level_names_one_table)
{
	enum log_level l;

	CHECK(log_parse_level("Off", &l) == 0 && l == LOG_OFF);
	CHECK(log_parse_level("off", &l) == 0 && l == LOG_OFF);
	CHECK(log_parse_level("WARNING", &l) == 0 && l == LOG_WARN);
	CHECK(log_parse_level("warn", &l) == 0 && l == LOG_WARN);
	CHECK(log_parse_level("Trace", &l) == 0 && l == LOG_DEBUG);
	CHECK(log_parse_level("error", &l) == 0 && l == LOG_ERROR);
	CHECK(log_parse_level("verbose", &l) != 0);
	CHECK(!strcmp(log_level_name(LOG_WARN), "Warning"));
	CHECK(!strcmp(log_level_name(LOG_OFF), "Off"));
}
