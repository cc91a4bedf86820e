/* Around the state file's format (snapfile.c): its CRC-64, writing it atomically, reading it
 * without trusting what the path names, the CPU identity record and its check, and the
 * config section to and from a vmm_config. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "snapfile.h"
#include "util.h"
#include "wholefile.h"

/* ---- CRC-64/XZ: reflected ECMA-182 polynomial, one table built on first use. */

#define CRC64_POLY_REFLECTED 0xc96c5795d7870f42ull

static uint64_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (unsigned i = 0; i < 256; i++) {
		uint64_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ CRC64_POLY_REFLECTED : c >> 1;
		crc_table[i] = c;
	}
}

uint64_t snap_crc64(uint64_t crc, const void *p, size_t n)
{
	const uint8_t *b = p;

	pthread_once(&crc_once, crc_init);
	crc = ~crc;
	for (size_t i = 0; i < n; i++)
		crc = crc_table[(crc ^ b[i]) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* ---- Files. */

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (w == 0)
			return -EIO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int snap_fsync_path(const char *path, bool dir)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | (dir ? O_DIRECTORY : 0));
	int e = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		e = -errno;
	close(fd);
	return e;
}

int snapfile_write(const char *path, const struct snapfile *s, bool sync, char *err, size_t errlen)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	uint8_t *buf;
	size_t len;
	int fd, e;

	if (!path[0])
		return errorf(err, errlen, -EINVAL, "empty state file path");
	if (slash && slash[1] == 0)
		return errorf(err, errlen, -EISDIR, "state file path %s names a directory", path);
	if (slash)
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path + (slash == path)), path);
	else
		snprintf(dir, sizeof(dir), ".");
	if (snprintf(tmp, sizeof(tmp), "%s%s.%s.tmp-XXXXXX", slash ? dir : "", slash && slash != path ? "/" : "",
		     slash ? slash + 1 : path) >= (int)sizeof(tmp))
		return errorf(err, errlen, -ENAMETOOLONG, "state file path too long");
	e = snapfile_encode(s, &buf, &len, err, errlen);
	if (e)
		return e;
	/* mkostemp: O_CREAT | O_EXCL, mode 0600. */
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		free(buf);
		return errorf_errno(err, errlen, e, "cannot create a temporary file next to %s", path);
	}
	e = write_all(fd, buf, len);
	free(buf);
	if (e) {
		errorf_errno(err, errlen, -e, "cannot write %s", tmp);
		goto fail;
	}
	if (sync && fsync(fd) < 0) {
		e = -errno;
		errorf_errno(err, errlen, -e, "cannot fsync %s", tmp);
		goto fail;
	}
	if (close(fd) < 0) {
		e = -errno;
		fd = -1;
		errorf_errno(err, errlen, -e, "cannot write %s", tmp);
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		e = -errno;
		errorf_errno(err, errlen, -e, "cannot rename the state file to %s", path);
		goto fail;
	}
	if (sync) {
		e = snap_fsync_path(dir, true);
		if (e) {
			/* The rename may not last: take the file away again, so that a failure
			 * always means no state file under path. */
			errorf_errno(err, errlen, -e, "cannot fsync the directory of %s", path);
			unlink(path);
			return e;
		}
	}
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return e;
}

int snapfile_read(const char *path, const struct snapauth_key *key, struct snapfile *s, char *err, size_t errlen)
{
	void *buf;
	size_t len;
	int e;

	memset(s, 0, sizeof(*s));
	e = wholefile_read(path, "the state file", SNAPFILE_MAX_SIZE, &buf, &len, err, errlen);
	if (e)
		return e;
	e = snapfile_check_auth(buf, len, key, NULL, err, errlen);
	if (!e)
		e = snapfile_decode(buf, len, s, err, errlen);
	free(buf);
	if (e)
		return errwrap(err, errlen, e, "%s", path);
	return 0;
}

/* ---- CPU identity. */

static const struct kvm_cpuid_entry2 *leaf(const struct kvm_cpuid2 *c, uint32_t fn, uint32_t index)
{
	for (uint32_t i = 0; i < c->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function == fn && (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e->index == index))
			return e;
	}
	return NULL;
}

/* Bits that differ between two identical machines: HTT follows the vCPU count, OSXSAVE the
 * guest's CR4. */
#define CPU1_ECX_OSXSAVE (1u << 27)
#define CPU1_EDX_HTT (1u << 28)

int snap_cpu_identity(const struct kvm_cpuid2 *c, struct snap_cpu_id *out)
{
	const struct kvm_cpuid_entry2 *e0 = leaf(c, 0, 0), *e;

	memset(out, 0, sizeof(*out));
	if (!e0)
		return -ENOENT;
	memcpy(out->vendor, &e0->ebx, 4);
	memcpy(out->vendor + 4, &e0->edx, 4);
	memcpy(out->vendor + 8, &e0->ecx, 4);
	if ((e = leaf(c, 1, 0))) {
		uint32_t fam = e->eax >> 8 & 0xf, model = e->eax >> 4 & 0xf;

		if (fam == 0xf)
			fam += e->eax >> 20 & 0xff;
		if (fam == 0x6 || fam >= 0xf)
			model |= (e->eax >> 16 & 0xf) << 4;
		out->family = fam;
		out->model = model;
		out->stepping = e->eax & 0xf;
		out->words[SNAP_CPU_1_ECX] = e->ecx & ~CPU1_ECX_OSXSAVE;
		out->words[SNAP_CPU_1_EDX] = e->edx & ~CPU1_EDX_HTT;
	}
	if ((e = leaf(c, 7, 0))) {
		out->words[SNAP_CPU_7_EBX] = e->ebx;
		out->words[SNAP_CPU_7_ECX] = e->ecx;
		out->words[SNAP_CPU_7_EDX] = e->edx;
	}
	if ((e = leaf(c, 0x80000001, 0))) {
		out->words[SNAP_CPU_81_ECX] = e->ecx;
		out->words[SNAP_CPU_81_EDX] = e->edx;
	}
	if ((e = leaf(c, 0xd, 0))) {
		out->words[SNAP_CPU_D_EAX] = e->eax;
		out->words[SNAP_CPU_D_EDX] = e->edx;
	}
	return 0;
}

static const char *const word_names[SNAP_CPU_WORDS] = {
	[SNAP_CPU_1_ECX] = "1:ECX",	    [SNAP_CPU_1_EDX] = "1:EDX",		[SNAP_CPU_7_EBX] = "7.0:EBX",
	[SNAP_CPU_7_ECX] = "7.0:ECX",	    [SNAP_CPU_7_EDX] = "7.0:EDX",	[SNAP_CPU_81_ECX] = "0x80000001:ECX",
	[SNAP_CPU_81_EDX] = "0x80000001:EDX", [SNAP_CPU_D_EAX] = "0xD.0:EAX", [SNAP_CPU_D_EDX] = "0xD.0:EDX",
};

static void printable(char out[13], const char *in)
{
	for (int i = 0; i < 12; i++)
		out[i] = in[i] >= 0x20 && in[i] < 0x7f ? in[i] : '?';
	out[12] = 0;
}

int snap_cpu_check(const struct snap_cpu_id *saved, const struct snap_cpu_id *here, char *err, size_t errlen)
{
	if (memcmp(saved->vendor, here->vendor, 12)) {
		char a[13], b[13];

		printable(a, saved->vendor);
		printable(b, here->vendor);
		return errorf(err, errlen, -EINVAL, "the snapshot was taken on a %s CPU, this host's is %s", a, b);
	}
	for (int i = 0; i < SNAP_CPU_WORDS; i++) {
		uint32_t missing = saved->words[i] & ~here->words[i];

		if (missing)
			return errorf(err, errlen, -EINVAL,
				      "CPU features the snapshot's guest saw are missing here: CPUID %s bits 0x%08x",
				      word_names[i], missing);
	}
	return 0;
}

/* ---- The config section and a vmm_config. */

/* Copies n drives with their paths, without partuuid: it only shapes a boot's command line,
 * so a snapshot does not carry it. */
static int copy_drives(struct drive_config *to, const struct drive_config *from, int n)
{
	for (int i = 0; i < n; i++) {
		to[i] = from[i];
		to[i].path = from[i].path ? strdup(from[i].path) : NULL;
		to[i].partuuid = NULL;
		if (from[i].path && !to[i].path)
			return -ENOMEM;
	}
	return 0;
}

int snap_config_from_vmm(struct snap_config *out, const struct vmm_config *c)
{
	memset(out, 0, sizeof(*out));
	out->vcpu_count = c->vcpu_count;
	out->mem_size_mib = c->mem_size_mib;
	out->smt = c->smt;
	out->track_dirty_pages = c->track_dirty_pages;
	out->boot_timer = c->boot_timer;
	out->nr_drives = c->nr_drives;
	out->nr_nets = c->nr_nets;
	memcpy(out->nets, c->nets, sizeof(out->nets));
	return copy_drives(out->drives, c->drives, c->nr_drives);
}

int snap_config_to_vmm(const struct snap_config *sc, struct vmm_config *c)
{
	for (int i = 0; i < c->nr_drives; i++) {
		free(c->drives[i].path);
		free(c->drives[i].partuuid);
	}
	memset(c->drives, 0, sizeof(c->drives));
	c->vcpu_count = sc->vcpu_count;
	c->mem_size_mib = sc->mem_size_mib;
	c->smt = sc->smt;
	c->track_dirty_pages = sc->track_dirty_pages;
	c->boot_timer = sc->boot_timer;
	c->nr_drives = sc->nr_drives;
	c->nr_nets = sc->nr_nets;
	memcpy(c->nets, sc->nets, sizeof(c->nets));
	return copy_drives(c->drives, sc->drives, sc->nr_drives);
}
