/* kindling: a KVM microVM monitor with Firecracker's control API. Start-up is one straight
 * line: parse -> API socket -> config (flags or file) -> build VM -> run the event loop. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "check.h"
#include "config.h"
#include "control.h"
#include "loader.h"
#include "log.h"
#include "runner.h"
#include "vmm.h"

#define MAX_CONFIG_FILE (1u << 20)
/* Firecracker's default; an unjailed instance there also needs /run to be writable. */
#define DEFAULT_API_SOCK "/run/firecracker.socket"

struct cli {
	const char *api_sock;
	const char *id;
	const char *config_file;
	const char *log_path;
	const char *metrics_path;
	bool no_api;
	bool no_seccomp;
	bool show_level, show_log_origin;
	size_t max_payload; /* 0: the default */
	bool version;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kindling check\n"
		"       kindling run --rootfs FS.ext4 [--kernel K] [--input FILE|-] [...] (kindling run --help)\n"
		"       kindling [--api-sock PATH] [--id ID] [--config-file FILE] [--http-api-max-payload-size N]\n"
		"                [common options]     (the API socket is " DEFAULT_API_SOCK " by default)\n"
		"       kindling --no-api --config-file FILE [common options]\n"
		"       kindling --kernel PATH [--initrd PATH] [--cmdline STR] [--vcpus N] [--mem-mib N]\n"
		"                [--drive path=FILE[,ro][,root][,writeback][,id=NAME]]... [--net tap=NAME[,mac=MAC][,id=NAME]]...\n"
		"                [common options]\n"
		"       kindling --version\n"
		"common options: [--boot-timer] [--boot-protocol auto|linux|pvh] [--level LEVEL]\n"
		"                [--log-path FILE [--show-level] [--show-log-origin]] [--metrics-path FILE]\n"
		"                [--no-seccomp]   (log and metrics files must exist, as in Firecracker)\n"
		"\n"
		"Runs one microVM with the serial console on stdin/stdout, configured through\n"
		"Firecracker's HTTP API on a Unix socket, a Firecracker-layout JSON config file, or\n"
		"the flags above (which boot at once). Exits when the guest resets or powers off,\n"
		"with status 0.\n"
		"Default command line: \"" DEFAULT_BOOT_ARGS "\"\n");
}

static int parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int set_str(char **dst, const char *src)
{
	free(*dst);
	*dst = strdup(src);
	return *dst ? 0 : -ENOMEM;
}

static int parse_args(int argc, char **argv, struct vmm_config *c, struct cli *cli)
{
	static const struct option longopts[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "cmdline", required_argument, NULL, 'c' },
		{ "vcpus", required_argument, NULL, 'n' },
		{ "mem-mib", required_argument, NULL, 'm' },
		{ "drive", required_argument, NULL, 'd' },
		{ "net", required_argument, NULL, 'N' },
		{ "boot-timer", no_argument, NULL, 't' },
		{ "boot-protocol", required_argument, NULL, 'p' },
		{ "level", required_argument, NULL, 'l' },
		{ "api-sock", required_argument, NULL, 'A' },
		{ "id", required_argument, NULL, 'I' },
		{ "config-file", required_argument, NULL, 'C' },
		{ "no-api", no_argument, NULL, 'X' },
		{ "log-path", required_argument, NULL, 'L' },
		{ "metrics-path", required_argument, NULL, 'M' },
		{ "no-seccomp", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "show-level", no_argument, NULL, 'a' },
		{ "show-log-origin", no_argument, NULL, 'o' },
		{ "http-api-max-payload-size", required_argument, NULL, 'P' },
		/* Passed by Firecracker's jailer; timing hints only. */
		{ "start-time-us", required_argument, NULL, 'T' },
		{ "start-time-cpu-us", required_argument, NULL, 'T' },
		{ "parent-cpu-time-us", required_argument, NULL, 'T' },
		/* Firecracker features kindling lacks: refused by name, not as unknown. */
		{ "seccomp-filter", required_argument, NULL, 'U' },
		{ "metadata", required_argument, NULL, 'U' },
		{ "mmds-size-limit", required_argument, NULL, 'U' },
		{ "module", required_argument, NULL, 'U' },
		{ "snapshot-version", no_argument, NULL, 'U' },
		{ "describe-snapshot", required_argument, NULL, 'U' },
		{ NULL, 0, NULL, 0 },
	};
	int idx = -1;
	char err[256];
	uint64_t v;
	int opt;

	while ((opt = getopt_long(argc, argv, "h", longopts, &idx)) != -1) {
		switch (opt) {
		case 'V':
			cli->version = true;
			break;
		case 'a':
			cli->show_level = true;
			break;
		case 'o':
			cli->show_log_origin = true;
			break;
		case 'P':
			if (parse_uint(optarg, HTTP_MAX_BODY_LIMIT, &v) || v < 1) {
				log_error("--http-api-max-payload-size must be a number from 1 to %u, not '%s'",
					  HTTP_MAX_BODY_LIMIT, optarg);
				return -EINVAL;
			}
			cli->max_payload = v;
			break;
		case 'T':
			if (parse_uint(optarg, UINT64_MAX, &v)) {
				log_error("--%s must be a number, not '%s'", longopts[idx].name, optarg);
				return -EINVAL;
			}
			break;
		case 'U':
			log_error("--%s is a Firecracker option for a feature kindling does not have", longopts[idx].name);
			return -EINVAL;
		case 'k':
			if (set_str(&c->kernel_path, optarg))
				return -ENOMEM;
			break;
		case 'i':
			if (set_str(&c->initrd_path, optarg))
				return -ENOMEM;
			break;
		case 'c':
			if (set_str(&c->boot_args, optarg))
				return -ENOMEM;
			break;
		case 'n':
			if (parse_uint(optarg, VM_MAX_VCPUS, &v) || v < 1) {
				log_error("--vcpus must be a number from 1 to %d, not '%s'", VM_MAX_VCPUS, optarg);
				return -EINVAL;
			}
			c->vcpu_count = (int)v;
			break;
		case 'm':
			/* Bounded so that MiB -> bytes cannot overflow and the mapping is plausible. */
			if (parse_uint(optarg, 1u << 20, &v) || v < 8) {
				log_error("--mem-mib must be a number from 8 to %u, not '%s'", 1u << 20, optarg);
				return -EINVAL;
			}
			c->mem_size_mib = v;
			break;
		case 'd':
			if (c->nr_drives == CONFIG_MAX_DRIVES) {
				log_error("at most %d drives", CONFIG_MAX_DRIVES);
				return -EINVAL;
			}
			if (config_parse_drive(optarg, &c->drives[c->nr_drives], err, sizeof(err))) {
				log_error("--drive %s: %s", optarg, err);
				return -EINVAL;
			}
			if (!c->drives[c->nr_drives].id[0])
				snprintf(c->drives[c->nr_drives].id, sizeof(c->drives[0].id), "drive%d", c->nr_drives);
			c->nr_drives++;
			break;
		case 'N':
			if (c->nr_nets == CONFIG_MAX_NETS) {
				log_error("at most %d network interfaces", CONFIG_MAX_NETS);
				return -EINVAL;
			}
			if (config_parse_net(optarg, &c->nets[c->nr_nets], err, sizeof(err))) {
				log_error("--net %s: %s", optarg, err);
				return -EINVAL;
			}
			if (!c->nets[c->nr_nets].id[0])
				snprintf(c->nets[c->nr_nets].id, sizeof(c->nets[0].id), "net%d", c->nr_nets);
			c->nr_nets++;
			break;
		case 't':
			c->boot_timer = true;
			break;
		case 'p':
			if (!strcmp(optarg, "auto"))
				c->protocol = BOOT_AUTO;
			else if (!strcmp(optarg, "linux"))
				c->protocol = BOOT_LINUX64;
			else if (!strcmp(optarg, "pvh"))
				c->protocol = BOOT_PVH;
			else {
				log_error("--boot-protocol must be auto, linux or pvh, not '%s'", optarg);
				return -EINVAL;
			}
			break;
		case 'l': {
			enum log_level lvl;

			if (!strcasecmp(optarg, "off")) {
				log_set_off(true);
				break;
			}
			if (log_parse_level(optarg, &lvl)) {
				log_error("--level must be Error, Warning, Info, Debug, Trace or Off, not '%s'", optarg);
				return -EINVAL;
			}
			log_set_level(lvl);
			break;
		}
		case 'A':
			cli->api_sock = optarg;
			break;
		case 'I':
			if (!*optarg || strlen(optarg) > CONFIG_ID_MAX) {
				log_error("--id must be 1-%d characters", CONFIG_ID_MAX);
				return -EINVAL;
			}
			cli->id = optarg;
			break;
		case 'C':
			cli->config_file = optarg;
			break;
		case 'X':
			cli->no_api = true;
			break;
		case 'L':
			cli->log_path = optarg;
			break;
		case 'M':
			cli->metrics_path = optarg;
			break;
		case 'S':
			cli->no_seccomp = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	if (cli->version)
		return 0;
	if (cli->no_api && !cli->config_file) {
		log_error("--no-api needs --config-file");
		return -EINVAL;
	}
	if (cli->no_api && cli->api_sock) {
		log_error("--no-api and --api-sock exclude each other");
		return -EINVAL;
	}
	if (cli->config_file && c->kernel_path) {
		log_error("--kernel and --config-file exclude each other");
		return -EINVAL;
	}
	if ((cli->show_level || cli->show_log_origin) && !cli->log_path)
		log_configure(-1, cli->show_level, cli->show_log_origin);
	/* Firecracker serves its default socket unless told not to; --kernel is ours and boots
	 * without an API. */
	if (!cli->api_sock && !cli->no_api && !c->kernel_path)
		cli->api_sock = DEFAULT_API_SOCK;
	return 0;
}

/* Sends one request through the same routes the API uses, so the config file and the flags
 * get exactly the API's validation. */
static int start_instance(struct control *ctl, char *err, size_t errlen)
{
	static const char body[] = "{\"action_type\":\"InstanceStart\"}";
	struct api_response r;
	int rc = 0;

	api_handle(&ctl->api, HTTP_PUT, "PUT", "/actions", body, sizeof(body) - 1, &r);
	if (r.status >= 400) {
		cJSON *e = cJSON_ParseWithLength(r.body, r.body_len);
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "fault_message");

		snprintf(err, errlen, "%s", cJSON_IsString(m) ? m->valuestring : "cannot start the microVM");
		cJSON_Delete(e);
		rc = -EINVAL;
	}
	free(r.body);
	return rc;
}

static int load_config_file(struct control *ctl, const char *path, char *err, size_t errlen)
{
	uint8_t *buf;
	size_t len;
	char why[400];
	int r;

	r = loader_read_file(path, MAX_CONFIG_FILE, &buf, &len, err, errlen);
	if (r)
		return r;
	r = api_apply_config(&ctl->api, (const char *)buf, len, why, sizeof(why));
	if (r)
		snprintf(err, errlen, "%s: %s", path, why);
	free(buf);
	return r;
}

int main(int argc, char **argv)
{
	/* Large (VM context, console buffer, API connections): keep off the stack. */
	static struct vmm vmm;
	static struct control ctl;
	struct vmm_config flags;
	struct cli cli = { 0 };
	char err[600];
	uint64_t t_main = now_ns();
	int status = 1;

	/* Threads share one malloc arena: none allocates on a hot path, and each extra arena
	 * would cost resident memory (the VMM's overhead target is 2 MiB). */
	mallopt(M_ARENA_MAX, 1);
	if (argc >= 2 && !strcmp(argv[1], "check"))
		return check_host();
	if (argc >= 2 && !strcmp(argv[1], "run"))
		return runner_main(argc - 1, argv + 1);
	config_init(&flags);
	if (parse_args(argc, argv, &flags, &cli)) {
		config_free(&flags);
		return 2;
	}
	if (cli.version) {
		/* Firecracker's first line, which tools parse; then who we are. */
		printf("Firecracker v%s\n\nkindling %s\n", API_COMPAT_VERSION, KINDLING_VERSION);
		config_free(&flags);
		return 0;
	}
	if (vmm_init(&vmm, err, sizeof(err))) {
		log_error("%s", err);
		goto out_flags;
	}
	vmm.vm.t_main_ns = t_main;
	vmm.seccomp = !cli.no_seccomp;
	if (cli.no_seccomp)
		log_warn("--no-seccomp: the seccomp filters are OFF; a compromised VMM can make any system call. "
			 "For debugging only.");
	control_init(&ctl, &vmm, cli.id);
	if (cli.max_payload)
		ctl.max_body = cli.max_payload;
	if (cli.log_path &&
	    control_set_log_path(&ctl, cli.log_path, cli.show_level, cli.show_log_origin, err, sizeof(err))) {
		log_error("--log-path %s: %s", cli.log_path, err);
		goto out;
	}
	if (cli.log_path)
		log_info("Running Firecracker v%s (kindling %s)", API_COMPAT_VERSION, KINDLING_VERSION);
	if (cli.metrics_path && control_set_metrics_path(&ctl, cli.metrics_path, err, sizeof(err))) {
		log_error("--metrics-path %s: %s", cli.metrics_path, err);
		goto out;
	}
	if (cli.api_sock && control_serve(&ctl, cli.api_sock, err, sizeof(err))) {
		log_error("%s", err);
		goto out;
	}
	if (cli.api_sock)
		log_debug("API listening on %s after %.3f ms", cli.api_sock, (double)(now_ns() - t_main) / 1e6);

	bool boot_timer = flags.boot_timer;
	enum boot_protocol protocol = flags.protocol;

	if (cli.config_file) {
		if (load_config_file(&ctl, cli.config_file, err, sizeof(err))) {
			/* Firecracker's words, in the log; and on stderr, which the log (set up by
			 * the file itself) may not be. */
			log_error("Configuration for VMM from one single json failed: %s", err);
			if (ctl.log_fd >= 0)
				fprintf(stderr, "Configuration for VMM from one single json failed: %s\n", err);
			goto out;
		}
	} else if (flags.kernel_path) {
		/* The flags are a config of their own; move it into the API's pending config. */
		config_free(&ctl.api.cfg);
		ctl.api.cfg = flags;
		config_init(&flags);
	}
	ctl.api.cfg.boot_timer = boot_timer;
	ctl.api.cfg.protocol = protocol;
	if (ctl.api.cfg.kernel_path && start_instance(&ctl, err, sizeof(err))) {
		log_error("%s", err);
		goto out;
	}
	ctl.serving = true;
	status = vmm_run(&vmm);
out:
	control_destroy(&ctl);
	vmm_destroy(&vmm);
out_flags:
	config_free(&flags);
	return status;
}
