#!/bin/bash
# API benchmarks on this host:
#   kindling.api_ready_ms   process start (fork) until the API socket accepts; median of 30
#   kindling.api_put_us     median round trip of PUT /machine-config on one keep-alive
#                           connection, 2000 requests, measured by a C client
#   kindling.overhead_kib   RSS of the VMM minus the resident part of guest RAM, with a guest
#                           booted and running (a tiny guest that stays up, on this host's
#                           KVM, or inside the KVM lab when this host has no /dev/kvm)
# A figure that cannot be measured is not printed: the bench says why and exits non-zero.
#   benches/api.sh [--overhead-only]
set -eu
cd "$(dirname "$0")/.."
K=$PWD/build/kindling
C=$PWD/build/apiclient
for f in "$K" "$C" build/guests/spin.elf; do
	[ -x "$f" ] || [ -f "$f" ] || { echo "api.sh: $f is missing (make bench builds it)" >&2; exit 1; }
done
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
# The median of numbers, one a line; fails on no input or a line that is not a number.
median() {
	sort -n | awk '!/^[0-9]+(\.[0-9]+)?$/ { bad = 1 } { a[NR] = $1 }
		END { if (bad || !NR) exit 1; print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'
}

overhead() {
	local mem_mib=128 pid
	rm -f "$T/o"
	timeout -s USR1 -k 10 120 "$K" --api-sock "$T/o" </dev/null >/dev/null 2>"$T/o.err" &
	pid=$!
	"$C" "$T/o" ready 5000 >/dev/null
	curl -sf --unix-socket "$T/o" -X PUT http://l/boot-source -d "{\"kernel_image_path\": \"$PWD/build/guests/spin.elf\"}"
	curl -sf --unix-socket "$T/o" -X PUT http://l/machine-config -d "{\"vcpu_count\": 1, \"mem_size_mib\": $mem_mib}"
	curl -sf --unix-socket "$T/o" -X PUT http://l/actions -d '{"action_type": "InstanceStart"}'
	sleep 0.5
	# The VMM is timeout's child.
	awk -v want=$((mem_mib * 1024)) '
		/^[0-9a-f]+-[0-9a-f]+ / { guest = 0 }
		/^Size:/ { guest = ($2 == want) }
		/^Rss:/ { total += $2; if (guest) g += $2 }
		END { if (!total || !g) exit 1; printf "kindling.overhead_kib %d KiB\n", total - g }' \
		"/proc/$(pgrep -P $pid)/smaps" || { echo "api.sh: no guest RAM mapping found in the VMM" >&2; kill $pid; exit 1; }
	kill $pid
	wait $pid 2>/dev/null || true
}
if [ "${1:-}" = --overhead-only ]; then
	overhead
	exit 0
fi

for i in $(seq 30); do
	rm -f "$T/s"
	out=$("$C" "$T/s" startup "$K" --api-sock "$T/s")
	kill "$(echo "$out" | sed -n 2p)"
	wait 2>/dev/null || true
	echo "$out" | head -1
done >"$T/ready"
ms=$(median <"$T/ready") || { echo "api.sh: no API-ready times measured: $(head -3 "$T/ready")" >&2; exit 1; }
printf 'kindling.api_ready_ms %.3f ms\n' "$ms"

rm -f "$T/s"
timeout -k 10 120 "$K" --api-sock "$T/s" </dev/null >/dev/null 2>&1 &
pid=$!
"$C" "$T/s" ready 5000 >/dev/null
us=$("$C" "$T/s" bench 2000 | median) || { echo "api.sh: the PUT round trip was not measured" >&2; exit 1; }
printf 'kindling.api_put_us %.1f us\n' "$us"
kill "$pid"
wait "$pid" 2>/dev/null || true

# Overhead: a guest that stays up; on this host's KVM if it has one, else in the lab.
if [ -w /dev/kvm ]; then
	overhead
elif [ -z "${KINDLING_IN_LAB:-}" ]; then
	echo "# api.sh: no /dev/kvm here; measuring kindling.overhead_kib inside the KVM lab" >&2
	KINDLING_IN_LAB=1 tests/lab/run -- benches/api.sh --overhead-only
else
	echo "api.sh: no /dev/kvm, even in the lab" >&2
	exit 1
fi
