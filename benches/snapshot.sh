#!/bin/bash
# Snapshot figures (issue 12): on this host, without KVM, what the hole table costs a restore
# (benches/holemap); then with a tiny guest on a real /dev/kvm: restore latency p50/p99
# over 100 restores (from the load call to every vCPU inside KVM_RUN) at 128 MiB/1 vCPU and
# 1 GiB/2 vCPUs, the same from a fresh `kindling --restore` process and through the API
# (`PUT /snapshot/load`, timed from the request), and the time to create a
# Full and a 1%-dirty Diff snapshot; then, with a Linux guest, restore-to-ready against QEMU
# microvm and the post-restore fault test (benches/snaplab.py). The tiny-guest figures on
# this host's /dev/kvm when it is usable, else inside the KVM lab (whose KVM is nested under
# TCG: its figures are inflated; compare them with each other, not with targets). The Linux
# guest's always inside the lab: a host's /dev/kvm may not run Linux (this project's host is
# a nested PVM: a Linux guest stops there with a KVM internal error while booting).
set -u -o pipefail
cd "$(dirname "$0")/.."
. tests/lib.sh
# --snaplab: the Linux-guest part alone, inside the lab.
snaplab() {
	if command -v qemu-system-x86_64 >/dev/null && command -v python3 >/dev/null && command -v curl >/dev/null; then
		deadline 1800 python3 benches/snaplab.py "${KINDLING_SNAPLAB_RUNS:-5}" || exit 1
	else
		echo "snapshot: QEMU, python3 or curl is missing in the lab: no Linux-guest figures" >&2
	fi
}
if [ "${1:-}" = --snaplab ]; then
	snaplab
	exit 0
fi
# Host-only, no KVM (so before the lab): what mapping the hole table costs a restore, the
# table's 32 holes against 64 and 128, and the writer with and without it (benches/holemap.c).
if [ "${1:-}" != --here ]; then
	[ -x build/benches/holemap ] || { echo "snapshot: build/benches/holemap is missing (make bench builds it)" >&2; exit 1; }
	hd=$(mktemp -d)
	deadline 300 build/benches/holemap 128 200 "$hd" || { rm -rf "$hd"; exit 1; }
	rm -rf "$hd"
fi
if [ "${1:-}" != --here ] && ! kvm_usable; then
	echo "snapshot: no usable /dev/kvm here; measuring in the KVM lab" >&2
	exec tests/lab/run -- benches/snapshot.sh --here
fi
[ -x build/benches/snapbench ] || { echo "snapshot: build/benches/snapbench is missing (make bench builds it)" >&2; exit 1; }
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
# Both Full snapshots are kept for the restores below (the 1 GiB one in a directory of its
# own).
mkdir "$d/1g"
deadline 600 build/benches/snapbench 128 1 100 "$d" --keep || exit 1
deadline 600 build/benches/snapbench 1024 2 100 "$d/1g" --keep || exit 1
# restore_ms_of PID ERR STEP: waits (200 times STEP seconds at most) for the restore_ms line
# of VMM PID in its stderr ERR, stops and reaps PID (so the next restore does not share the
# host with its end), and puts the figure in $ms (empty if none came). Not in a subshell:
# PID is this shell's child.
restore_ms_of() {
	for _ in $(seq 200); do grep -q 'restore_ms' "$2" && break; sleep "$3"; done
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	ms=$(grep -o 'restore_ms [0-9.]*' "$2" | cut -d' ' -f2)
}
# From a fresh process: `kindling --restore --resume` started, to every vCPU in KVM_RUN (its
# own restore_ms log line, timed from main()), p50 and max of 20, at 128 MiB/1 vCPU.
: >"$d/exec.ms"
for i in $(seq 20); do
	deadline_bg 30 build/kindling --restore "$d/bench.state" --mem "$d/bench.mem" --resume --no-api --level Info \
		</dev/null >/dev/null 2>"$d/exec.err"
	restore_ms_of $! "$d/exec.err" 0.05
	[ -n "$ms" ] || { echo "snapshot: restore $i from a fresh process: no restore_ms: $(head -c 300 "$d/exec.err")" >&2; exit 1; }
	echo "$ms" >>"$d/exec.ms"
done
sort -n "$d/exec.ms" | awk '{ v[NR] = $1 } END {
	printf "kindling.restore_from_exec_ms_p50_128m_1vcpu %.3f ms\n", v[int(NR / 2) + 1]
	printf "kindling.restore_from_exec_ms_max_128m_1vcpu %.3f ms\n", v[NR] }'
# Through the API, as Firecracker's users restore: a VMM serving its socket, then
# `PUT /snapshot/load` with resume_vm; its restore_ms line is timed from the request's
# arrival (the VM made ahead at start, as every process does). p50 and p99 of 100, at
# 128 MiB/1 vCPU and 1 GiB/2 vCPUs (snapbench's Full snapshots).
# api_restores DIR NAME: the figures of DIR/bench.{state,mem}, as kindling.restore_api_ms_*_NAME
api_restores() {
	local dir=$1 name=$2 i pid code ms
	: >"$d/api.ms"
	for i in $(seq 100); do
		rm -f "$d/api.sock"
		deadline_bg 30 build/kindling --api-sock "$d/api.sock" --level Info </dev/null >/dev/null 2>"$d/api.err"
		pid=$!
		timeout 10 build/apiclient "$d/api.sock" ready 5000 >/dev/null
		code=$(curl -s -m 10 -o "$d/api.body" -w '%{http_code}' --unix-socket "$d/api.sock" -X PUT \
			http://localhost/snapshot/load -H 'Content-Type: application/json' \
			-d "{\"snapshot_path\": \"$dir/bench.state\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$dir/bench.mem\"}, \"resume_vm\": true}")
		restore_ms_of "$pid" "$d/api.err" 0.01
		[ -n "$ms" ] || { echo "snapshot: restore $i through the API: load answered $code, no restore_ms: $(head -c 300 "$d/api.body") $(head -c 300 "$d/api.err")" >&2; return 1; }
		echo "$ms" >>"$d/api.ms"
	done
	sort -n "$d/api.ms" | awk -v name="$name" '{ v[NR] = $1 } END {
		printf "kindling.restore_api_ms_p50_%s %.3f ms\n", name, v[int(NR / 2) + 1]
		printf "kindling.restore_api_ms_p99_%s %.3f ms\n", name, v[int(NR * 99 / 100)] }'
}
api_restores "$d" 128m_1vcpu || exit 1
api_restores "$d/1g" 1024m_2vcpu || exit 1
# A Linux guest against QEMU microvm (benches/snaplab.py), in the lab: restore to ready, and
# the post-restore fault test.
if [ "${1:-}" = --here ]; then
	snaplab
else
	# Its status as it is: make bench retries a lab bench that tests/lab/run ended with 125.
	tests/lab/run -- benches/snapshot.sh --snaplab || exit $?
fi
