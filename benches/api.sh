#!/bin/bash
# API benchmarks on this host:
#   kindling.api_ready_ms   process start (fork) until the API socket accepts; median of 30
#   kindling.api_put_us     median round trip of PUT /machine-config on one keep-alive
#                           connection, 2000 requests, measured by a C client
#   kindling.overhead_kib   RSS of the VMM minus the resident part of guest RAM, with a guest
#                           booted and running (tiny guest on the host's KVM; in the lab the
#                           real kernel, see benches/boot.sh)
set -eu
cd "$(dirname "$0")/.."
K=$PWD/build/kindling
C=$PWD/build/apiclient
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

for i in $(seq 30); do
	rm -f "$T/s"
	out=$("$C" "$T/s" startup "$K" --api-sock "$T/s")
	kill "$(echo "$out" | sed -n 2p)"
	wait 2>/dev/null || true
	echo "$out" | head -1
done | median | awk '{printf "kindling.api_ready_ms %.3f ms\n", $1}'

rm -f "$T/s"
"$K" --api-sock "$T/s" </dev/null >/dev/null 2>&1 &
pid=$!
"$C" "$T/s" ready 5000 >/dev/null
"$C" "$T/s" bench 2000 | awk '{printf "kindling.api_put_us %.1f us\n", $1}'

# Overhead: boot a guest that stays up, then read smaps.
if [ -r /dev/kvm ]; then
	mem_mib=128
	curl -s --unix-socket "$T/s" -X PUT http://l/boot-source -d "{\"kernel_image_path\": \"$PWD/build/guests/spin.elf\"}"
	curl -s --unix-socket "$T/s" -X PUT http://l/machine-config -d "{\"vcpu_count\": 1, \"mem_size_mib\": $mem_mib}"
	curl -s --unix-socket "$T/s" -X PUT http://l/actions -d '{"action_type": "InstanceStart"}'
	sleep 0.5
	awk -v want=$((mem_mib * 1024)) '
		/^[0-9a-f]+-[0-9a-f]+ / { guest = 0 }
		/^Size:/ { guest = ($2 == want) }
		/^Rss:/ { total += $2; if (guest) g += $2 }
		END { printf "kindling.overhead_kib %d KiB\n", total - g }' "/proc/$pid/smaps"
else
	echo "# kindling.overhead_kib skipped: no /dev/kvm" >&2
fi
kill "$pid"
wait "$pid" 2>/dev/null || true
