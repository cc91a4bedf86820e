/* kindling: a KVM microVM monitor with Firecracker's control API. Start-up is one straight
 * line: parse -> API socket -> config (flags or file) -> build VM -> run the event loop. */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config.h"
#include "control.h"
#include "loader.h"
#include "log.h"
#include "runner.h"
#include "snapmem.h"
#include "snapauth.h"
#include "snapinfo.h"
#include "snapshot.h"
#include "vmm.h"
#include "wsetfile.h"

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
	const char *restore; /* --restore STATE: a snapshot instead of a boot */
	const char *mem;     /* --mem FILE: its memory file */
	bool resume;
	struct snapshot_drive_path drive_paths[CONFIG_MAX_DRIVES]; /* --restore-drive ID=PATH... */
	int nr_drive_paths;
	const char *prefetch; /* --prefetch FILE: a working set (vmm/wsetfile.h) */
	bool small_pages;     /* --restore-small-pages: free memory in 4 KiB pages (mem.h) */
	const char *snapshot_key; /* --snapshot-key FILE: sign snapshots, load only signed ones */
	const char *snapshot_verify; /* --snapshot-verify full|lazy: how their memory is checked */
	const char *boot_flag; /* the last flag that configures a boot (excluded by --restore) */
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
		"       kindling --restore STATE --mem FILE [--resume] [--restore-drive ID=PATH]...\n"
		"                [--prefetch WSET] [--restore-small-pages] [--api-sock PATH | --no-api]\n"
		"                [common options]\n"
		"       kindling --version\n"
		"common options: [--boot-timer] [--boot-protocol auto|linux|pvh] [--level LEVEL]\n"
		"                [--log-path FILE [--show-level] [--show-log-origin]] [--metrics-path FILE]\n"
		"                [--no-seccomp] [--snapshot-key FILE [--snapshot-verify full|lazy]]\n"
		"                (log and metrics files must exist, as in Firecracker)\n"
		"\n"
		"Runs one microVM with the serial console on stdin/stdout, configured through\n"
		"Firecracker's HTTP API on a Unix socket, a Firecracker-layout JSON config file, or\n"
		"the flags above (which boot at once). Exits when the guest resets or powers off,\n"
		"with status 0.\n"
		"--restore loads a snapshot (PUT /snapshot/load's work: STATE from /snapshot/create's\n"
		"snapshot_path, FILE its mem_file_path) instead of booting; the VM stays paused unless\n"
		"--resume is given, for a client of --api-sock to resume (PATCH /vm). --restore-drive\n"
		"opens the snapshot's drive ID at PATH instead of the path the snapshot records (same\n"
		"size and read-only mode). --prefetch populates the guest pages WSET lists (a working\n"
		"set, \"" WSETFILE_MAGIC " 2 N\" then N lines \"START_PAGE COUNT\", or \"START_PAGE COUNT w\"\n"
		"for pages the guest writes, populated writable) while the vCPUs start.\n"
		"--restore-small-pages maps the guest's free memory (the memory file's zero ranges)\n"
		"with 4 KiB pages even where the host's transparent huge page policy would give 2 MiB\n"
		"ones: for clones, each page the guest writes costs 4 KiB (`kindling run` passes it).\n"
		"--snapshot-key FILE (32-64 secret bytes, mode 0600 or stricter): snapshots this VMM\n"
		"creates are signed (an HMAC-SHA256 of the state file, SHA-256 digests of the memory\n"
		"in 2 MiB chunks), and it loads only snapshots signed with this key, checked in full\n"
		"before any vCPU runs; without it, a signed snapshot is refused.\n"
		"--snapshot-verify full (the default) reads and checks every 2 MiB chunk of the memory\n"
		"file before the VM is built; lazy checks each chunk when it is first touched (guest,\n"
		"KVM or devices) and copies it into anonymous memory: a faster load, but no page cache\n"
		"shared between VMs restored from the same file, and a chunk that fails stops the VM\n"
		"with exit status 1 (README \"Authenticated snapshots\").\n"
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

/* One machine-config flag, through the setter the API uses. */
static int set_machine(struct vmm_config *c, const char *flag, const char *arg, bool mem)
{
	struct machine_update u = { .has_vcpu_count = !mem, .has_mem_size_mib = mem };
	char err[256];
	uint64_t v;

	if (parse_uint(arg, UINT64_MAX, &v)) {
		log_error("--%s must be a number, not '%s'", flag, arg);
		return -EINVAL;
	}
	u.vcpu_count = u.mem_size_mib = v;
	if (config_set_machine(c, &u, err, sizeof(err))) {
		log_error("--%s %s: %s", flag, arg, err);
		return -EINVAL;
	}
	return 0;
}

static int add_drive(struct vmm_config *c, const char *spec)
{
	struct drive_config d;
	char err[600];
	int r = config_parse_drive(spec, &d, err, sizeof(err));

	if (!r && !d.id[0])
		snprintf(d.id, sizeof(d.id), "drive%d", c->nr_drives);
	if (!r)
		r = config_set_drive(c, &d, err, sizeof(err));
	free(d.path);
	if (r)
		log_error("--drive %s: %s", spec, err);
	return r;
}

static int add_net(struct vmm_config *c, const char *spec)
{
	struct net_config n;
	char err[600];
	int r = config_parse_net(spec, &n, err, sizeof(err));

	if (!r && !n.id[0])
		snprintf(n.id, sizeof(n.id), "net%d", c->nr_nets);
	if (!r)
		r = config_set_net(c, &n, err, sizeof(err));
	if (r)
		log_error("--net %s: %s", spec, err);
	return r;
}

/* The flags go through the same setters as the API and the config file: same checks, same
 * messages, prefixed with the flag. */
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
		{ "restore", required_argument, NULL, 'R' },
		{ "mem", required_argument, NULL, 'E' },
		{ "resume", no_argument, NULL, 'r' },
		{ "restore-drive", required_argument, NULL, 'D' },
		{ "prefetch", required_argument, NULL, 'F' },
		{ "restore-small-pages", no_argument, NULL, 'H' },
		{ "snapshot-key", required_argument, NULL, 'K' },
		{ "snapshot-verify", required_argument, NULL, 'Y' },
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
	const char *kernel = NULL, *initrd = NULL, *cmdline = NULL;
	int idx = -1;
	char err[600];
	uint64_t v;
	int opt;

	while ((opt = getopt_long(argc, argv, "h", longopts, &idx)) != -1) {
		if (opt && strchr("kicnmdNtp", opt))
			cli->boot_flag = longopts[idx].name;
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
		case 'R':
			cli->restore = optarg;
			break;
		case 'E':
			cli->mem = optarg;
			break;
		case 'r':
			cli->resume = true;
			break;
		case 'F':
			cli->prefetch = optarg;
			break;
		case 'H':
			cli->small_pages = true;
			break;
		case 'K':
			cli->snapshot_key = optarg;
			break;
		case 'Y':
			if (strcmp(optarg, "full") && strcmp(optarg, "lazy")) {
				log_error("--snapshot-verify must be full or lazy, not '%s'", optarg);
				return -EINVAL;
			}
			cli->snapshot_verify = optarg;
			break;
		case 'D':
			if (snapshot_add_drive_path(cli->drive_paths, &cli->nr_drive_paths, optarg, err, sizeof(err))) {
				/* A path too long to be kept would push the reason out of the line. */
				log_error("--restore-drive %.200s%s: %s", optarg, strlen(optarg) > 200 ? "..." : "", err);
				return -EINVAL;
			}
			break;
		case 'k':
			kernel = optarg;
			break;
		case 'i':
			initrd = optarg;
			break;
		case 'c':
			cmdline = optarg;
			break;
		case 'n':
		case 'm':
			if (set_machine(c, longopts[idx].name, optarg, opt == 'm'))
				return -EINVAL;
			break;
		case 'd':
			if (add_drive(c, optarg))
				return -EINVAL;
			break;
		case 'N':
			if (add_net(c, optarg))
				return -EINVAL;
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
	if (!cli->restore && (cli->mem || cli->resume || cli->nr_drive_paths || cli->prefetch || cli->small_pages)) {
		log_error("--%s needs --restore",
			  cli->mem ? "mem" : cli->resume ? "resume" : cli->nr_drive_paths ? "restore-drive" :
			  cli->prefetch ? "prefetch" : "restore-small-pages");
		return -EINVAL;
	}
	if (cli->snapshot_verify && !cli->snapshot_key) {
		log_error("--snapshot-verify needs --snapshot-key (only signed snapshots are verified)");
		return -EINVAL;
	}
	if (cli->restore) {
		/* The snapshot is the whole VM: nothing else may configure one. */
		if (!cli->mem) {
			log_error("--restore needs --mem (the snapshot's memory file)");
			return -EINVAL;
		}
		if (cli->config_file) {
			log_error("--restore and --config-file exclude each other");
			return -EINVAL;
		}
		if (cli->boot_flag) {
			log_error("--restore and --%s exclude each other (the snapshot is the whole VM)", cli->boot_flag);
			return -EINVAL;
		}
		if (!cli->resume && !cli->api_sock) {
			log_error("--restore without --resume needs --api-sock: the VM stays paused until a client "
				  "resumes it (PATCH /vm)");
			return -EINVAL;
		}
	}
	if (cli->no_api && !cli->config_file && !cli->restore) {
		log_error("--no-api needs --config-file or --restore");
		return -EINVAL;
	}
	if (cli->no_api && cli->api_sock) {
		log_error("--no-api and --api-sock exclude each other");
		return -EINVAL;
	}
	if (cli->config_file && kernel) {
		log_error("--kernel and --config-file exclude each other");
		return -EINVAL;
	}
	/* The boot source is one setting, whatever the order of its flags. */
	if (kernel && config_set_boot_source(c, kernel, initrd, cmdline, err, sizeof(err))) {
		log_error("--kernel %s%s%s: %s", kernel, initrd ? " --initrd " : "", initrd ? initrd : "", err);
		return -EINVAL;
	}
	if ((cli->show_level || cli->show_log_origin) && !cli->log_path)
		log_configure(-1, cli->show_level, cli->show_log_origin);
	/* Firecracker serves its default socket unless told not to; --kernel and --restore are
	 * ours and run without an API unless given --api-sock. */
	if (!cli->api_sock && !cli->no_api && !c->kernel_path && !cli->restore)
		cli->api_sock = DEFAULT_API_SOCK;
	return 0;
}

static int load_config_file(struct control *ctl, const char *path, char *err, size_t errlen)
{
	uint8_t *buf;
	size_t len;
	int r;

	r = loader_read_file(path, CONFIG_FILE_MAX, &buf, &len, err, errlen);
	if (r)
		return r;
	r = api_apply_config(&ctl->api, (const char *)buf, len, err, errlen);
	if (r)
		errwrap(err, errlen, r, "%s", path);
	free(buf);
	return r;
}

/* kindling snapshot merge BASE DIFF: folds a diff snapshot's memory file into its base's.
 * kindling snapshot info STATE [--snapshot-key FILE] [--mem FILE]: what a state file is. */
static int snapshot_tool(int argc, char **argv)
{
	char err[600];

	if (argc >= 3 && !strcmp(argv[1], "info"))
		return snapinfo_main(argc - 1, argv + 1);
	if (argc == 4 && !strcmp(argv[1], "merge")) {
		if (snapmem_merge(argv[2], argv[3], err, sizeof(err))) {
			fprintf(stderr, "kindling snapshot merge: %s\n", err);
			return 1;
		}
		return 0;
	}
	fprintf(stderr, "usage: kindling snapshot info STATE [--snapshot-key FILE] [--mem MEM]\n"
			"  prints a state file's version, id, CPU, sizes, whether it is signed, and the\n"
			"  checks it passes (CRC; the MAC with the key; the memory digests with --mem)\n"
			"       kindling snapshot merge BASE_MEM DIFF_MEM\n"
			"  folds a Diff snapshot's memory file into the memory file of the snapshot it was\n"
			"  taken on top of, in place; BASE_MEM then goes with the Diff's state file\n");
	return 2;
}

/* Every thread (vCPUs, API, log writer, snapshot helpers; the runner's) gets a 1 MiB stack
 * instead of glibc's default, RLIMIT_STACK (8 MiB): with transparent huge pages set to
 * "always" (the lab's L1, many hosts), a thread stack whose top lands in a 2 MiB-aligned
 * block of its mapping is backed by a 2 MiB page at its first touch, which was 2 of a lab
 * clone's 3.2 MiB of VMM memory. No 2 MiB page fits in a 1 MiB mapping. The deepest frames
 * are ~8 KiB (snapshot load) and cJSON's nesting is bounded (1000 levels of ~100 bytes). */
static void set_thread_stacks(void)
{
	pthread_attr_t a;

	if (pthread_attr_init(&a))
		return;
	if (!pthread_attr_setstacksize(&a, 1024 * 1024))
		pthread_setattr_default_np(&a);
	pthread_attr_destroy(&a);
}

int main(int argc, char **argv)
{
	/* Large (VM context, console buffer, API connections): keep off the stack. */
	static struct vmm vmm;
	static struct control ctl;
	static struct snapauth_key snapshot_key;
	struct vmm_config flags;
	struct wsetfile wset = { 0 };
	struct cli cli = { 0 };
	char err[600];
	uint64_t t_main = now_ns();
	int status = 1;

	/* Threads share one malloc arena: none allocates on a hot path, and each extra arena
	 * would cost resident memory (the VMM's overhead target is 1 MiB, README "VMM memory"). */
	mallopt(M_ARENA_MAX, 1);
	set_thread_stacks();
	if (argc >= 2 && !strcmp(argv[1], "check"))
		return check_host();
	if (argc >= 2 && !strcmp(argv[1], "run"))
		return runner_main(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "snapshot"))
		return snapshot_tool(argc - 1, argv + 1);
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
	/* A VMM: the KVM VM is made meanwhile (vm_prepare: its creation mostly waits). */
	vm_prepare();
	/* Read before anything starts: a key that cannot be used is said at once. */
	if (cli.snapshot_key && snapauth_key_read(cli.snapshot_key, &snapshot_key, err, sizeof(err))) {
		log_error("--snapshot-key: %s", err);
		config_free(&flags);
		return 2;
	}
	if (vmm_init(&vmm, err, sizeof(err))) {
		log_error("%s", err);
		goto out_flags;
	}
	vmm.t_main_ns = t_main;
	vmm.snapshot_key = cli.snapshot_key ? &snapshot_key : NULL;
	if (cli.snapshot_verify)
		vmm.snapshot_verify = strcmp(cli.snapshot_verify, "lazy") ? SNAPSHOT_VERIFY_FULL : SNAPSHOT_VERIFY_LAZY;
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
	/* Read and checked in full before the VM exists, so that a bad file is said at once; but
	 * a working set only speeds the restore up: without a usable one, it goes on without. */
	if (cli.prefetch && wsetfile_read(cli.prefetch, &wset, err, sizeof(err)))
		log_warn("--prefetch: %s; restoring without it", err);
	if (cli.restore) {
		/* PUT /snapshot/load's path, so that the API (if any) sees the loaded VM. */
		struct snapshot_load_params p = {
			.state_path = cli.restore,
			.backend = SNAPSHOT_MEM_FILE,
			.backend_path = cli.mem,
			.resume = cli.resume,
			.drive_paths = cli.drive_paths,
			.nr_drive_paths = cli.nr_drive_paths,
			.prefetch = wset.ranges ? &wset : NULL,
			.small_pages = cli.small_pages,
		};

		setuptime_mark(&vmm.setup, SETUP_ARGS);
		if (api_snapshot_load(&ctl.api, &p, err, sizeof(err))) {
			log_error("--restore %s --mem %s: %s", cli.restore, cli.mem, err);
			goto out;
		}
	} else if (ctl.api.cfg.kernel_path) {
		setuptime_mark(&vmm.setup, SETUP_ARGS);
		if (api_instance_start(&ctl.api, err, sizeof(err))) {
			log_error("%s", err);
			goto out;
		}
	}
	ctl.serving = true;
	status = vmm_run(&vmm);
out:
	control_destroy(&ctl);
	vmm_destroy(&vmm); /* joins the prefetch thread: only then can its ranges go */
	wsetfile_free(&wset);
out_flags:
	config_free(&flags);
	return status;
}
