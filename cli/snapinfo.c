/* kindling snapshot info (snapinfo.h). The CRC is checked first; the MAC (with a key) before
 * the file is decoded, as a load does; the memory digests (with --mem) over the file. */
#include "snapinfo.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "snapauth.h"
#include "snapfile.h"
#include "snapmem.h"
#include "wholefile.h"

static void hex(FILE *out, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(out, "%02x", p[i]);
}

int snapinfo_run(int argc, char **argv, FILE *out)
{
	static const struct option longopts[] = {
		{ "snapshot-key", required_argument, NULL, 'K' },
		{ "mem", required_argument, NULL, 'E' },
		{ NULL, 0, NULL, 0 },
	};
	const char *key_path = NULL, *mem_path = NULL, *path;
	struct snapauth_key key;
	struct snapfile s = { 0 };
	bool is_signed = false;
	char err[600];
	void *buf = NULL;
	size_t len = 0;
	int opt, fails = 0, e;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (opt == 'K')
			key_path = optarg;
		else if (opt == 'E')
			mem_path = optarg;
		else
			return 2;
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: kindling snapshot info STATE [--snapshot-key FILE] [--mem MEM]\n");
		return 2;
	}
	path = argv[optind];
	if (key_path && snapauth_key_read(key_path, &key, err, sizeof(err))) {
		fprintf(stderr, "kindling snapshot info: --snapshot-key: %s\n", err);
		return 2;
	}
	if (wholefile_read(path, "the state file", SNAPFILE_MAX_SIZE, &buf, &len, err, sizeof(err))) {
		fprintf(stderr, "kindling snapshot info: %s\n", err);
		return 1;
	}
	fprintf(out, "state file: %s (%zu bytes)\n", path, len);
	/* Without a key: the CRC and header only (the rule "signed needs a key" is a load's). */
	e = snapfile_check_auth(buf, len, NULL, &is_signed, err, sizeof(err));
	if (e && e != -EACCES) {
		fprintf(out, "crc: FAILED (%s)\n", err);
		free(buf);
		return 1;
	}
	fprintf(out, "crc: ok\n");
	fprintf(out, "signed: %s\n", is_signed ? "yes (HMAC-SHA256, SHA-256 per 2 MiB of memory)" : "no");
	if (key_path) {
		e = snapfile_check_auth(buf, len, &key, NULL, err, sizeof(err));
		fprintf(out, "mac: %s%s%s\n", e ? "FAILED (" : "ok", e ? err : "", e ? ")" : "");
		fails += !!e;
	} else if (is_signed) {
		fprintf(out, "mac: not checked (no --snapshot-key)\n");
	}
	e = snapfile_decode(buf, len, &s, err, sizeof(err));
	free(buf);
	if (e) {
		fprintf(out, "decode: FAILED (%s)\n", err);
		return 1;
	}
	fprintf(out, "version: %u.%u\n", s.major, s.minor);
	fprintf(out, "id: ");
	hex(out, s.id, sizeof(s.id));
	fprintf(out, "\ncpu: %s family %u model %u stepping %u\n", s.cpu.vendor, s.cpu.family, s.cpu.model,
		s.cpu.stepping);
	fprintf(out, "cpu features:");
	for (int i = 0; i < SNAP_CPU_WORDS; i++)
		fprintf(out, " %08x", s.cpu.words[i]);
	fprintf(out, "\nvcpus: %d\nram: %llu bytes (%llu MiB), %s memory file\n", s.config.vcpu_count,
		(unsigned long long)s.mem.ram_size, (unsigned long long)(s.mem.ram_size >> 20),
		s.mem.diff ? "Diff" : "Full");
	fprintf(out, "drives: %d, network interfaces: %d, device state: %zu bytes\n", s.config.nr_drives,
		s.config.nr_nets, s.devices_len);
	if (s.is_signed)
		fprintf(out, "memory digests: %u chunks of %u bytes\n", s.nr_chunks, SNAPAUTH_CHUNK);
	if (s.nr_holes) {
		uint64_t sum = 0;

		for (uint32_t i = 0; i < s.nr_holes; i++)
			sum += s.holes[i].len;
		fprintf(out, "hole table: %u runs of zero pages, %llu KiB (mapped anonymous on restore)\n", s.nr_holes,
			(unsigned long long)(sum >> 10));
	}
	if (mem_path) {
		struct mem_range zero[SNAPFILE_MAX_HOLES + 1];
		uint64_t zero_from = 0;
		int fd = snapmem_open(mem_path, s.mem.ram_size, s.id, &zero_from, err, sizeof(err));

		if (fd < 0) {
			fprintf(out, "memory file: FAILED (%s)\n", err);
			fails++;
		} else if (!s.is_signed) {
			fprintf(out, "memory file: ok (trailer: this snapshot's, the right size; no digests to check)\n");
			close(fd);
		} else {
			e = snapauth_verify_mem(fd, s.mem.ram_size, zero, snapfile_zero_ranges(&s, zero_from, zero),
						(const uint8_t(*)[SNAPAUTH_DIGEST])s.digests, err, sizeof(err));
			fprintf(out, "memory digests: %s%s%s\n", e ? "FAILED (" : "ok", e ? err : "", e ? ")" : "");
			fails += !!e;
			close(fd);
		}
	}
	snapfile_free(&s);
	if (key_path)
		explicit_bzero(&key, sizeof(key));
	return fails ? 1 : 0;
}

int snapinfo_main(int argc, char **argv)
{
	return snapinfo_run(argc, argv, stdout);
}
