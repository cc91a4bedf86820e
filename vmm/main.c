/* kindling: boot a Linux kernel in a KVM microVM. Start-up is one straight line:
 * parse -> build VM (kernel, devices, vCPUs) -> run the event loop -> report. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "vmm.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kindling --kernel PATH [--initrd PATH] [--cmdline STR] [--vcpus N] [--mem-mib N]\n"
		"                [--drive path=FILE[,ro][,root][,id=NAME]]... [--net tap=NAME[,mac=MAC][,id=NAME]]...\n"
		"                [--boot-timer] [--boot-protocol auto|linux|pvh] [--level LEVEL]\n"
		"\n"
		"Boots PATH (ELF vmlinux or bzImage) in a KVM microVM with the serial console on\n"
		"stdin/stdout. Exits with 0 when the guest resets or powers off.\n"
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

static int parse_args(int argc, char **argv, struct vmm_config *c)
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
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char err[256];
	uint64_t v;
	int opt;

	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
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

			if (log_parse_level(optarg, &lvl)) {
				log_error("--level must be error, warn, info or debug, not '%s'", optarg);
				return -EINVAL;
			}
			log_set_level(lvl);
			break;
		}
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
	if (!c->kernel_path) {
		log_error("--kernel is required (see kindling --help)");
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct vmm vmm; /* large (VM context, console buffer): keep off the stack */
	struct vmm_config cfg;
	char err[512];
	uint64_t t_main = now_ns();
	int status = 1;

	config_init(&cfg);
	if (parse_args(argc, argv, &cfg)) {
		config_free(&cfg);
		return 2;
	}
	if (vmm_init(&vmm, err, sizeof(err))) {
		log_error("%s", err);
		goto out;
	}
	vmm.vm.t_main_ns = t_main;
	if (vmm_build(&vmm, &cfg, err, sizeof(err))) {
		log_error("%s", err);
		goto out;
	}
	status = vmm_run(&vmm);
out:
	vmm_destroy(&vmm);
	config_free(&cfg);
	return status;
}
