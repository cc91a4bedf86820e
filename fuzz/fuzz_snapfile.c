/* libFuzzer target: the snapshot state file's decoder (vmm/snapfile.c). Each input is
 * decoded twice: as it is (so the CRC check itself is fuzzed), and with its last 8 bytes
 * replaced by the correct CRC, so that mutations reach the header, table and section parsers
 * behind it. Whatever decodes must encode, decode again and encode to the same bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snapfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void roundtrip(const uint8_t *buf, size_t len)
{
	struct snapfile s, s2;
	uint8_t *a, *b;
	size_t na, nb;
	char err[256];

	if (snapfile_decode(buf, len, &s, err, sizeof(err))) {
		if (!err[0] || memchr(err, 0, sizeof(err)) == NULL)
			abort(); /* a refusal always says why */
		return;
	}
	if (snapfile_encode(&s, &a, &na, err, sizeof(err)))
		abort(); /* what decodes is valid, so it encodes */
	snapfile_free(&s);
	if (snapfile_decode(a, na, &s2, err, sizeof(err)))
		abort();
	if (snapfile_encode(&s2, &b, &nb, err, sizeof(err)) || na != nb || memcmp(a, b, na))
		abort();
	snapfile_free(&s2);
	free(a);
	free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy;
	uint64_t crc;

	roundtrip(data, size);
	if (size < SNAPFILE_HDR_SIZE + 8)
		return 0;
	copy = malloc(size);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	crc = snap_crc64(0, copy, size - 8);
	for (int i = 0; i < 8; i++)
		copy[size - 8 + i] = (uint8_t)(crc >> (8 * i));
	roundtrip(copy, size);
	free(copy);
	return 0;
}
