#!/bin/bash
# make demo: packages the sample C function (examples/wordfreq) into a root filesystem and
# runs it twice with `kindling run --snapshot-dir`: a cold start that boots the function and
# snapshots it once ready, then a warm start from that snapshot; each prints its output and
# where its time went. Runs inside the KVM lab when `kindling check` says this host's KVM cannot
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
S=$(mktemp -d)
trap 'rm -rf "$S"' EXIT
echo "demo: input: $(head -c 120 examples/wordfreq/input.txt | tr '\n' ' ')..."
# A deadline, as for every VM the project starts: SIGUSR1 (the VMM prints its vCPU state),
# then SIGKILL 10 s later.
# Twice: the first run boots the function cold and snapshots it once it is ready, the
# second restores that snapshot (a warm start). Each prints its breakdown.
for run in cold warm; do
	echo
	echo "demo: $run run: kindling run --rootfs $IMG --input examples/wordfreq/input.txt --snapshot-dir $S"
	echo "demo: output:"
	timeout -s USR1 -k 10 120 build/kindling run --rootfs "$IMG" --input examples/wordfreq/input.txt \
		--snapshot-dir "$S"
done
