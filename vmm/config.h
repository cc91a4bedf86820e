/* What a microVM is made of, in Firecracker's terms: boot source, machine config, drives,
 * network interfaces. Filled from command-line flags, a config file or the API, then built. */
#ifndef KINDLING_CONFIG_H
#define KINDLING_CONFIG_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "loader.h"

/* Firecracker's limit is 19 devices in all (IRQs 5-23); vm_alloc_device enforces it. */
#define CONFIG_MAX_DEVICES 19
#define CONFIG_MAX_DRIVES 19
#define CONFIG_MAX_NETS 19
#define CONFIG_ID_MAX 64
#define DEFAULT_BOOT_ARGS "console=ttyS0 reboot=k panic=1 pci=off nomodule i8042.noaux i8042.nomux i8042.dumbkbd quiet tsc=reliable no_timer_check"
#define DEFAULT_MEM_MIB 128

struct drive_config {
	char id[CONFIG_ID_MAX + 1];
	char *path;
	bool read_only;
	bool is_root;
	bool cache_writeback; /* cache_type Writeback: the guest may flush (VIRTIO_BLK_F_FLUSH) */
	char *partuuid; /* root=PARTUUID=... instead of /dev/vda */
};

struct net_config {
	char id[CONFIG_ID_MAX + 1];
	char host_dev_name[IFNAMSIZ];
	uint8_t mac[6];
	bool has_mac;
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
};

void config_init(struct vmm_config *c);
void config_free(struct vmm_config *c);

/* Parses "path=FILE[,ro][,root][,id=NAME]" (--drive) and "tap=NAME[,mac=MAC][,id=NAME]" (--net). */
int config_parse_drive(const char *spec, struct drive_config *d, char *err, size_t errlen)
	__attribute__((warn_unused_result));
int config_parse_net(const char *spec, struct net_config *n, char *err, size_t errlen)
	__attribute__((warn_unused_result));
int config_parse_mac(const char *s, uint8_t mac[6]) __attribute__((warn_unused_result));
/* Firecracker's id rule: 1..64 characters of [A-Za-z0-9_]. */
bool config_valid_id(const char *id);

#endif
