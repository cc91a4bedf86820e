#!/bin/bash
# make demo: packages the sample C function (examples/wordfreq) into a root filesystem and
# runs it once in a fresh microVM with `kindling run`, printing its output and where the
# cold start went. Runs inside the KVM lab when `kindling check` says this host's KVM cannot
# boot Linux (as on the project's development and CI machines).
set -eu
cd "$(dirname "$0")/.."
IMG=build/demo/wordfreq.ext4
if [ -z "${KINDLING_IN_LAB:-}" ]; then
	mkdir -p build/demo
	guest/mkfunction.sh build/examples/wordfreq "$IMG" >/dev/null
	if ! build/kindling check >build/demo/check.txt 2>&1; then
		echo "demo: $(grep verdict build/demo/check.txt)" >&2
		exec env KINDLING_IN_LAB=1 tests/lab/run -- scripts/demo.sh
	fi
fi
echo "demo: kindling run --rootfs $IMG --input examples/wordfreq/input.txt"
echo "demo: input: $(head -c 120 examples/wordfreq/input.txt | tr '\n' ' ')..."
echo "demo: output:"
# A deadline, as for every VM the project starts: SIGUSR1 (the VMM prints its vCPU state),
# then SIGKILL 10 s later.
timeout -s USR1 -k 10 120 build/kindling run --rootfs "$IMG" --input examples/wordfreq/input.txt
