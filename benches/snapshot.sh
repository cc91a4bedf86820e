#!/bin/bash
# Snapshot figures (issue 12) with a tiny guest on a real /dev/kvm: restore latency p50/p99
# over 100 restores (from the load call to every vCPU inside KVM_RUN) at 128 MiB/1 vCPU and
# 1 GiB/2 vCPUs, and the time to create a Full and a 1%-dirty Diff snapshot. On this host's
# /dev/kvm when it is usable, else inside the KVM lab (whose KVM is nested under TCG: its
# figures are inflated; compare them with each other, not with targets).
set -u -o pipefail
cd "$(dirname "$0")/.."
. tests/lib.sh
if [ "${1:-}" != --here ] && ! kvm_usable; then
	echo "snapshot: no usable /dev/kvm here; measuring in the KVM lab" >&2
	exec tests/lab/run -- benches/snapshot.sh --here
fi
[ -x build/benches/snapbench ] || { echo "snapshot: build/benches/snapbench is missing (make bench builds it)" >&2; exit 1; }
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
deadline 600 build/benches/snapbench 128 1 100 "$d" || exit 1
deadline 600 build/benches/snapbench 1024 2 100 "$d" || exit 1
