#!/bin/bash
# Clones (issue 14), inside one KVM lab run, with the demo's function (examples/wordfreq):
# `kindling run --snapshot-dir DIR --clones N` for N = 1, 10, 50, against fresh boots and
# against QEMU microvm restoring one migration file N times at once. kindling's figures are
# medians over KINDLING_CLONES_ROUNDS rounds (default 5) of fresh boots and clones. Prints:
#   kindling.clones_N_ms              fan-out start -> the Nth clone answered (N = 1, 10, 50)
#   kindling.clone_start_rate         clones answering per second per core (N = 50)
#   kindling.cold_start_rate          fresh boots answering per second per core (2 per core at
#                                     once, as the clones share the cores)
#   kindling.clone_vs_cold_rate_ratio target >= 10
#   kindling.clone_private_kib        mean guest private dirty per clone after one invocation
#                                     (N = 50), target <= 2048 + the pages the invocation wrote
#   kindling.clone_vmm_rss_kib        mean VMM RSS beyond guest memory per clone (N = 50)
#   kindling.clone_cpu_ms             the lab's busy CPU time (/proc/stat, every task, guest
#                                     time included) from fan-out start to the end of the run,
#                                     per clone (N = 50); teardown and measuring included
#   kindling.cold_cpu_ms              the same per fresh boot (the 2-per-core rounds)
#   kindling.cold_vs_clone_cpu_ratio  their ratio: what the rate ratio would be were the cores
#                                     always busy (the rates depend on scheduling luck too)
#   qemu.clone_start_rate             QEMU restores answering per second per core (N = 50)
#   kindling_vs_qemu.clone_start_rate_ratio  target >= 5
# Lab figures are inflated by emulation: compare them with each other, not with targets.
set -eu -o pipefail
cd "$(dirname "$0")/.."
. tests/lib.sh
NS=${KINDLING_CLONES_NS:-"1 10 50"}
ROUNDS=${KINDLING_CLONES_ROUNDS:-5}
if [ -z "${KINDLING_IN_LAB:-}" ]; then
	exec env KINDLING_IN_LAB=1 KINDLING_CLONES_NS="$NS" KINDLING_CLONES_ROUNDS="$ROUNDS" tests/lab/run -- benches/clones.sh
fi
kvm_usable || { echo "clones.sh: no usable /dev/kvm" >&2; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
IN=examples/wordfreq/input.txt
CORES=$(nproc)
NMAX=$(echo "$NS" | tr ' ' '\n' | sort -n | tail -n 1)
guest/mkfunction.sh build/examples/wordfreq "$T/fn.ext4" >/dev/null
cp build/guest/vmlinux "$T/"
# krun NAME SECONDS ARGS...: kindling run ... --json; the JSON in $T/NAME.json.
krun() {
	local name=$1 secs=$2
	shift 2
	if ! deadline "$secs" build/kindling run --kernel "$T/vmlinux" --rootfs "$T/fn.ext4" --input "$IN" --json "$@" \
		>"$T/$name.json" 2>"$T/$name.err" </dev/null; then
		echo "clones.sh: kindling run $*: failed" >&2
		grep -v 'diag:' "$T/$name.err" | tail -n 20 >&2
		exit 1
	fi
	grep -E '^(cold|warm) |^clones' "$T/$name.err" | sed 's/^/  /' >&2
}
# Fresh boots, measured as the clones are: several at once sharing the cores (2 per core,
# each `kindling run` booting its own one-vCPU VM), from the start to the last answer. A
# run answered at its start plus its total less its teardown (its JSON). (The rate used to
# be one boot at a time, its total divided by the cores; but one boot keeps about one core
# busy, so that halved the cold rate and doubled the ratio to the clones'.)
NCOLD=$((2 * CORES))
# busy_ticks: the lab's CPU time so far, in clock ticks, idle and iowait left out.
busy_ticks() { awk '/^cpu /{ print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
HZ=$(getconf CLK_TCK)
# cold_round R: NCOLD fresh boots at once; the last answer's time (ms) into $T/cold.R.
cold_round() {
	local r=$1 i pids=() t0 c0
	t0=$(date +%s%N)
	c0=$(busy_ticks)
	for i in $(seq "$NCOLD"); do
		echo $((($(date +%s%N) - t0) / 1000000)) >"$T/cold$i.start"
		deadline_bg 900 build/kindling run --kernel "$T/vmlinux" --rootfs "$T/fn.ext4" --input "$IN" --json \
			>"$T/cold$i.json" 2>"$T/cold$i.err" </dev/null
		pids+=($!)
	done
	for i in $(seq "$NCOLD"); do
		if ! reap "${pids[$((i - 1))]}" 920; then
			echo "clones.sh: fresh boot $i of $NCOLD at once: failed" >&2
			grep -v 'diag:' "$T/cold$i.err" | tail -n 20 >&2
			exit 1
		fi
	done
	echo $(($(busy_ticks) - c0)) >"$T/coldcpu.$r"
	python3 - "$T" "$NCOLD" >"$T/cold.$r" <<'PYEOF'
import json, sys
t, n = sys.argv[1], int(sys.argv[2])
last = 0
for i in range(1, n + 1):
    c = json.load(open(f"{t}/cold{i}.json"))["phases"]["cold"]
    start = float(open(f"{t}/cold{i}.start").read())
    last = max(last, start + c["total_ms"]["p50"] - c["teardown_ms"]["p50"])
print(f"{last:.1f}")
PYEOF
	echo "  cold, round $r: $NCOLD fresh boots at once on $CORES cores: the last answered at $(cat "$T/cold.$r") ms" >&2
}
# The snapshot, stored by one cold run (and its working set recorded by one warm run).
krun store 600 --snapshot-dir "$T/snaps"
krun record 600 --snapshot-dir "$T/snaps"
# ROUNDS rounds, each the fresh boots then every N, so that a drift of the lab during the run
# weighs on both sides: one round's figures spread by 10-30% between rounds of one run.
for r in $(seq "$ROUNDS"); do
	cold_round "$r"
	for n in $NS; do
		c0=$(busy_ticks)
		krun "c$n.$r" 1800 --snapshot-dir "$T/snaps" --clones "$n"
		echo $(($(busy_ticks) - c0)) >"$T/c$n.$r.cpu"
		python3 - "$T/c$n.$r.json" "$n" <<'PYEOF'
import json, sys
c = json.load(open(sys.argv[1]))["clones"]
n = int(sys.argv[2])
assert (c["requested"], c["answered"], c["failed"], c["differing"]) == (n, n, 0, 0), c
assert c["mean_guest_private_dirty_kib"] is not None, c
PYEOF
	done
done
cold_ms=$(cat "$T"/cold.[0-9]* | median)
cold_cpu=$(cat "$T"/coldcpu.* | median)
clone_cpu=$(cat "$T/c$NMAX".*.cpu | median)
# fig N FIELD: the median over the rounds of the "clones" object's FIELD in N's JSON.
fig() {
	for r in $(seq "$ROUNDS"); do
		python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["clones"][sys.argv[2]])' "$T/c$1.$r.json" "$2"
	done | median
}

# QEMU: boot the function once, migrate it to a file once ready (benches/qemufn.sh); then
# restore it NMAX times at once, each in a network namespace of its own with its own QMP
# socket, console and output (W), all reading the one migration file.
mkdir -p "$T/q0"
deadline 600 unshare -n bash benches/qemufn.sh "$T" "$IN" snapshot "$T/q0"
[ -s "$T/qemu.mig" ] || { echo "clones.sh: no QEMU migration file" >&2; exit 1; }
pids=()
t0=$(date +%s%N)
for i in $(seq "$NMAX"); do
	mkdir -p "$T/q$i"
	deadline_bg 900 unshare -n bash benches/qemufn.sh "$T" "$IN" restore "$T/q$i" 2>"$T/q$i/err"
	pids+=($!)
done
for p in "${pids[@]}"; do reap "$p" 920 || true; done
last=0
for i in $(seq "$NMAX"); do
	if ! cmp -s "$T/q$i/q.out" examples/wordfreq/expected.txt || [ ! -s "$T/q$i/q.at" ]; then
		echo "clones.sh: qemu restore $i: no or wrong output; $(tail -n 3 "$T/q$i/err" | tr '\n' ' ')" >&2
		exit 1
	fi
	at=$(cat "$T/q$i/q.at")
	[ "$at" -gt "$last" ] && last=$at
done
q_ms=$(awk -v a="$t0" -v b="$last" 'BEGIN { printf "%.1f", (b - a) / 1e6 }')
echo "  qemu: $NMAX restores answered in $q_ms ms" >&2

for n in $NS; do
	printf 'kindling.clones_%s_ms %.1f ms\n' "$n" "$(fig "$n" last_answer_ms)"
done
k_ms=$(fig "$NMAX" last_answer_ms) priv=$(fig "$NMAX" mean_guest_private_dirty_kib) rss=$(fig "$NMAX" mean_vmm_rss_kib)
awk -v n="$NMAX" -v nc="$NCOLD" -v k="$k_ms" -v c="$cold_ms" -v q="$q_ms" -v cores="$CORES" -v p="$priv" -v r="$rss" \
	-v kc="$clone_cpu" -v cc="$cold_cpu" -v hz="$HZ" 'BEGIN {
	kr = n / (k / 1000) / cores; cr = nc / (c / 1000) / cores; qr = n / (q / 1000) / cores
	printf "kindling.clone_start_rate %.3f clones/s/core\n", kr
	printf "kindling.cold_start_rate %.3f boots/s/core\n", cr
	printf "kindling.clone_vs_cold_rate_ratio %.3f ratio\n", kr / cr
	printf "kindling.clone_private_kib %.0f KiB\n", p
	printf "kindling.clone_vmm_rss_kib %.0f KiB\n", r
	kcpu = kc * 1000 / hz / n; ccpu = cc * 1000 / hz / nc
	printf "kindling.clone_cpu_ms %.1f ms\n", kcpu
	printf "kindling.cold_cpu_ms %.1f ms\n", ccpu
	printf "kindling.cold_vs_clone_cpu_ratio %.3f ratio\n", ccpu / kcpu
	printf "qemu.clone_start_rate %.3f restores/s/core\n", qr
	printf "kindling_vs_qemu.clone_start_rate_ratio %.3f ratio\n", kr / qr }'
