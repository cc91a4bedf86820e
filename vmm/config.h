/* What a microVM is made of, in Firecracker's terms: boot source, machine config, drives,
 * network interfaces; and the one place that decides what a valid one is. The command-line
 * flags, the config file and the API all fill it through the config_set_* setters, which
 * check every value (with Firecracker's fault messages) and change nothing when refusing;
 * config_validate() checks the whole before a start. */
#ifndef KINDLING_CONFIG_H
#define KINDLING_CONFIG_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "loader.h"
#include "ratelimit.h"

/* Firecracker's limit is 19 devices in all (IRQs 5-23); vm_alloc_device enforces it. */
#define CONFIG_MAX_DEVICES 19
#define CONFIG_MAX_DRIVES 19
#define CONFIG_MAX_NETS 19
#define CONFIG_ID_MAX 64
/* Guest RAM bounds in MiB: below 8 nothing boots; the top keeps MiB -> bytes from overflowing. */
#define CONFIG_MEM_MIB_MIN 8
#define CONFIG_MEM_MIB_MAX (1u << 20)
/* boot_args, as Linux's COMMAND_LINE_SIZE allows (with its NUL). */
#define CONFIG_BOOT_ARGS_MAX 4095
/* --config-file: Firecracker reads the whole file; a bound keeps a wrong path (a disk image)
 * from being read into memory. Far above any real config (a few KiB). API request bodies
 * have their own limit (HTTP_MAX_BODY, --http-api-max-payload-size). */
#define CONFIG_FILE_MAX (1u << 20)
#define DEFAULT_BOOT_ARGS "console=ttyS0 reboot=k panic=1 pci=off nomodule i8042.noaux i8042.nomux i8042.dumbkbd quiet tsc=reliable no_timer_check"
#define DEFAULT_MEM_MIB 128

struct drive_config {
	char id[CONFIG_ID_MAX + 1];
	char *path;
	bool read_only;
	bool is_root;
	bool cache_writeback; /* cache_type Writeback: the guest may flush (VIRTIO_BLK_F_FLUSH) */
	char *partuuid; /* root=PARTUUID=... instead of /dev/vda */
	struct rl_config rate_limiter; /* a bucket that is not enabled is all zero */
};

struct net_config {
	char id[CONFIG_ID_MAX + 1];
	char host_dev_name[IFNAMSIZ];
	uint8_t mac[6];
	bool has_mac;
	struct rl_config rx_rate_limiter, tx_rate_limiter; /* as drive_config's */
};

struct vmm_config {
	char *kernel_path;
	char *initrd_path;
	char *boot_args; /* NULL: DEFAULT_BOOT_ARGS */
	int vcpu_count;
	uint64_t mem_size_mib;
	bool smt;
	bool track_dirty_pages;
	bool boot_timer;
	enum boot_protocol protocol;
	struct drive_config drives[CONFIG_MAX_DRIVES];
	int nr_drives;
	struct net_config nets[CONFIG_MAX_NETS];
	int nr_nets;
	uint64_t host_mem_mib; /* upper bound for mem_size_mib; 0: the host's RAM + swap */
};

/* A machine-config change: only the members whose has_* is set. */
struct machine_update {
	bool has_vcpu_count, has_mem_size_mib, has_smt, has_track_dirty_pages;
	uint64_t vcpu_count;
	uint64_t mem_size_mib;
	bool smt;
	bool track_dirty_pages;
};

void config_init(struct vmm_config *c);
void config_free(struct vmm_config *c);

/* The setters. Each returns 0, or -errno with a one-line reason in err (-ENOMEM: out of
 * memory; anything else: the input is refused), leaving c as it was. Strings are copied. */
int config_set_boot_source(struct vmm_config *c, const char *kernel, const char *initrd, const char *boot_args,
			   char *err, size_t errlen) __attribute__((warn_unused_result));
int config_set_machine(struct vmm_config *c, const struct machine_update *u, char *err, size_t errlen)
	__attribute__((warn_unused_result));
/* Adds a drive, or replaces the one with the same id. */
int config_set_drive(struct vmm_config *c, const struct drive_config *d, char *err, size_t errlen)
	__attribute__((warn_unused_result));
/* Adds a network interface, or replaces the one with the same id. */
int config_set_net(struct vmm_config *c, const struct net_config *n, char *err, size_t errlen)
	__attribute__((warn_unused_result));
/* What a start needs on top of the setters' checks: a kernel, and devices within the IRQ
 * lines. Never touches the file system. */
int config_validate(const struct vmm_config *c, char *err, size_t errlen) __attribute__((warn_unused_result));

/* A host file the VMM will open: exists, is a file or block device, is readable, and
 * writable unless read-only. Returns 0 or -errno. */
int config_check_path(const char *path, bool writable) __attribute__((warn_unused_result));
/* A tap name Linux accepts: 1..IFNAMSIZ-1 characters, no '/'. For callers that hold a name
 * longer than net_config's array, before copying it there. */
int config_check_tap_name(const char *name, char *err, size_t errlen) __attribute__((warn_unused_result));
int config_find_drive(const struct vmm_config *c, const char *id);
int config_find_net(const struct vmm_config *c, const char *id);

/* Parses "path=FILE[,ro][,root][,id=NAME]" (--drive) and "tap=NAME[,mac=MAC][,id=NAME]" (--net):
 * the syntax only; config_set_drive/config_set_net check the values. d->path is malloc'd. */
int config_parse_drive(const char *spec, struct drive_config *d, char *err, size_t errlen)
	__attribute__((warn_unused_result));
int config_parse_net(const char *spec, struct net_config *n, char *err, size_t errlen)
	__attribute__((warn_unused_result));
int config_parse_mac(const char *s, uint8_t mac[6]) __attribute__((warn_unused_result));
/* Firecracker's id rule: 1..64 characters of [A-Za-z0-9_]. */
bool config_valid_id(const char *id);

#endif
