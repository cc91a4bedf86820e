#!/bin/bash
# Warm starts (issue 13), inside one KVM lab run, with the demo's function (examples/wordfreq):
# `kindling run --repeat N --json` booting cold, then restoring from --snapshot-dir without
# and with the recorded working set prefetched, and QEMU microvm restoring the same function
# from a migration file. Prints (p50 of N runs each; every run is a whole run: network
# namespace, tap, VMM, invocation, the VM's end):
#   kindling.coldstart_ms              `kindling run` start -> output and the VM gone, booting
#   kindling.warmstart_ms              the same, restoring the snapshot (working set prefetched)
#   kindling.warm_vs_cold_ratio        target <= 0.1
#   kindling.first_invoke_ms_noprefetch  the invocation after a restore, without prefetch
#   kindling.first_invoke_ms_prefetch    ... with the working set prefetched
#   kindling.first_invoke_prefetch_ratio target <= 0.5
#   kindling.first_invoke_faults_noprefetch / _prefetch  vCPU page faults during it
#   qemu.warmstart_ms                  QEMU -incoming from a migration file -> the same answer
#                                      (it is sent the same restore message) and QEMU gone
#   kindling_vs_qemu.warmstart_ratio   target <= 0.2
# Lab figures are inflated by emulation: compare them with each other, not with targets.
set -eu -o pipefail
cd "$(dirname "$0")/.."
. tests/lib.sh
N=${KINDLING_WARMSTART_RUNS:-5}
if [ -z "${KINDLING_IN_LAB:-}" ]; then
	exec env KINDLING_IN_LAB=1 KINDLING_WARMSTART_RUNS="$N" tests/lab/run -- benches/warmstart.sh
fi
kvm_usable || { echo "warmstart.sh: no usable /dev/kvm" >&2; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
IN=examples/wordfreq/input.txt
guest/mkfunction.sh build/examples/wordfreq "$T/fn.ext4" >/dev/null
cp build/guest/vmlinux "$T/"

# krun NAME ARGS...: kindling run --repeat ... --json; the JSON in $T/NAME.json.
krun() {
	local name=$1
	shift
	if ! deadline 1800 build/kindling run --kernel "$T/vmlinux" --rootfs "$T/fn.ext4" --input "$IN" --json "$@" \
		>"$T/$name.json" 2>"$T/$name.err" </dev/null; then
		echo "warmstart.sh: kindling run $*: failed" >&2
		grep -v 'diag:' "$T/$name.err" | tail -n 20 >&2
		exit 1
	fi
	grep -E '^(cold|warm) ' "$T/$name.err" | sed 's/^/  /' >&2
}
# fig NAME KIND PHASE: that phase's p50 in NAME's JSON.
fig() {
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
v = d["phases"][sys.argv[2]][sys.argv[3]]["p50"]
assert v is not None, sys.argv
print(v)' "$T/$1.json" "$2" "$3"
}

krun cold --repeat "$N"
# The first run boots and stores the snapshot, the second restores it and records the
# working set; N more restore without prefetching it, then N with.
krun noprefetch --repeat $((N + 2)) --snapshot-dir "$T/snaps" --no-prefetch
krun prefetch --repeat "$N" --snapshot-dir "$T/snaps"
python3 - "$T/noprefetch.json" "$T/prefetch.json" "$N" <<'EOF'
import json, sys
n = int(sys.argv[3])
for f, cold, warm in ((sys.argv[1], 1, n + 1), (sys.argv[2], 0, n)):
    r = json.load(open(f))["runs"]
    assert (r["cold"], r["warm"], r["failed"], r["differing"]) == (cold, warm, 0, 0), (f, r)
EOF

# QEMU: boot the function once, migrate it to a file once ready (benches/qemufn.sh); then
# restore it N times, in a network namespace of its own each time, as kindling run does.
deadline 600 unshare -n bash benches/qemufn.sh "$T" "$IN" snapshot "$T"
[ -s "$T/qemu.mig" ] || { echo "warmstart.sh: no QEMU migration file" >&2; exit 1; }
: >"$T/q.ms"
for i in $(seq "$N"); do
	t0=$(date +%s%N)
	deadline 300 unshare -n bash benches/qemufn.sh "$T" "$IN" restore "$T"
	echo "$((($(date +%s%N) - t0) / 1000))" | awk '{ print $1 / 1000 }' >>"$T/q.ms"
	cmp -s "$T/q.out" examples/wordfreq/expected.txt || { echo "warmstart.sh: qemu restore $i: wrong output" >&2; exit 1; }
	echo "  qemu restore $i: $(tail -n 1 "$T/q.ms") ms" >&2
done
# The median, as the kindling figures' p50 is for odd N (nearest rank).
q=$(sort -n "$T/q.ms" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')

cold=$(fig cold cold total_ms) warm=$(fig prefetch warm total_ms)
inv_n=$(fig noprefetch warm invocation_ms) inv_p=$(fig prefetch warm invocation_ms)
flt_n=$(fig noprefetch warm invocation_faults) flt_p=$(fig prefetch warm invocation_faults)
awk -v c="$cold" -v w="$warm" -v n="$inv_n" -v p="$inv_p" -v fn="$flt_n" -v fp="$flt_p" -v q="$q" 'BEGIN {
	printf "kindling.coldstart_ms %.1f ms\n", c
	printf "kindling.warmstart_ms %.1f ms\n", w
	printf "kindling.warm_vs_cold_ratio %.3f ratio\n", w / c
	printf "kindling.first_invoke_ms_noprefetch %.1f ms\n", n
	printf "kindling.first_invoke_ms_prefetch %.1f ms\n", p
	printf "kindling.first_invoke_prefetch_ratio %.3f ratio\n", p / n
	printf "kindling.first_invoke_faults_noprefetch %d pages\n", fn
	printf "kindling.first_invoke_faults_prefetch %d pages\n", fp
	printf "qemu.warmstart_ms %.1f ms\n", q
	printf "kindling_vs_qemu.warmstart_ratio %.3f ratio\n", w / q }'
