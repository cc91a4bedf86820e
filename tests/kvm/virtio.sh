#!/bin/bash
# virtio-mmio on this host's /dev/kvm: a tiny guest (tests/guests/virtio_bad.S) programs two
# virtio-blk devices through their registers and feeds one malformed queues; the VMM must
# survive, flag NEEDS_RESET, and keep the other device working. Plus --drive/--net errors
# and a tap opened inside a private network namespace, a guest flooding its TX ring, and the
# registers read from memory.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
K=build/kindling
G=build/guests
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

if ! kvm_usable; then
	for t in malformed_queues drive_errors register_page net_tap tx_flood; do
		skip "virtio.$t" "no usable /dev/kvm on this host"
	done
	exit 0
fi

printf 'KINDLING-DISK-A' >"$T/a.img"
truncate -s 1M "$T/a.img"
printf 'KINDLING-DISK-B' >"$T/b.img"
truncate -s 1M "$T/b.img"

# Errors before any guest runs: one clear line, non-zero exit.
expect_error virtio.drive_missing_file "No such file" --kernel "$G/hello64.elf" --drive path=/nonexistent/disk.img
expect_error virtio.drive_directory "Is a directory" --kernel "$G/hello64.elf" --drive path=/tmp
# Refused by the drive setter, in the API's words, before any VM exists.
expect_error virtio.two_root_drives "A root block device already exists" --kernel "$G/hello64.elf" \
	--drive path="$T/a.img",root,id=r1 --drive path="$T/b.img",root,id=r2

# The drives reach the kernel command line, root first.
timeout -k 10 "$(scaled 20)" "$K" --kernel "$G/hello64.elf" --drive path="$T/a.img",id=data --drive path="$T/b.img",root,ro,id=rootfs \
	--level debug >"$T/cmd.out" 2>"$T/cmd.err" </dev/null
rc=$?
if [ $rc -eq 0 ] && grep -q 'virtio_mmio.device=4K@0xd0000000:5 root=/dev/vda ro virtio_mmio.device=4K@0xd0001000:6' "$T/cmd.err" &&
	grep -q 'virtio-blk rootfs: virtio-mmio at 0xd0000000' "$T/cmd.err"; then
	pass virtio.cmdline_root_first
else
	fail virtio.cmdline_root_first "rc=$rc $(grep -o 'cmdline.*' "$T/cmd.err" | head -c 400)"
fi

timeout -k 10 "$(scaled 60)" "$K" --kernel "$G/virtio_bad.elf" --drive path="$T/a.img",id=bad --drive path="$T/b.img",id=good \
	>"$T/bad.out" 2>"$T/bad.err" </dev/null
rc=$?
check virtio.vmm_survives_malformed_queues test $rc -eq 0
for round in LOOP OUTSIDE_RAM ADDR_LEN_OVERFLOW AVAIL_JUMP NEXT_RANGE QUEUE_AFTER_DRIVER_OK; do
	check "virtio.needs_reset.$round" grep -q "^$round:NEEDS_RESET" "$T/bad.out"
done
check virtio.other_device_still_reads grep -q '^B:READ-OK' "$T/bad.out"
check virtio.device_recovers_after_reset grep -q '^A:READ-OK' "$T/bad.out"
check virtio.error_logged grep -q 'virtio-blk bad: queue 0: descriptor loop.*needs a reset' "$T/bad.err"
# Guest-triggered messages are rate limited (burst of 5 per device).
n=$(grep -c 'virtio-blk bad:.*needs a reset' "$T/bad.err")
check virtio.errors_rate_limited test "$n" -ge 1 -a "$n" -le 5
if [ $rc -ne 0 ] || ! grep -q '^B:READ-OK' "$T/bad.out"; then
	echo "--- stdout"; cat "$T/bad.out"; echo "--- stderr"; tail -n 20 "$T/bad.err"
fi

# The register page (vm_device_regs; tests/guests/regread.S): the guest reads the registers
# from memory and they say what the device says (features behind their selector, a queue's
# size behind QueueSel, the configuration space, the status, the interrupt status set by a
# completed request and cleared by InterruptACK); 100000 reads of InterruptStatus must not
# come out as MMIO exits (the vCPU's count, asked for with SIGUSR1 once the guest is done; the
# rest is its ~30 register writes).
printf 'KINDLING' >"$T/regs.img"
truncate -s 1M "$T/regs.img"
deadline_bg "$(scaled 30)" "$K" --kernel "$G/regread.elf" --drive path="$T/regs.img",id=d0 >"$T/regs.out" 2>"$T/regs.err" </dev/null
pid=$!
for _ in $(seq "$(scaled 100)"); do grep -q 'REGS-' "$T/regs.out" && break; sleep 0.1; done
kill -USR1 "$(pgrep -P $pid)" 2>/dev/null
for _ in $(seq 50); do grep -q 'diag: vcpu0' "$T/regs.err" && break; sleep 0.1; done
kill "$(pgrep -P $pid)" 2>/dev/null
reap $pid 10 >/dev/null
mmio=$(sed -n 's/.*diag: vcpu0: .* mmio=\([0-9]*\) .*/\1/p' "$T/regs.err" | head -n 1)
check virtio.register_page_values grep -q '^REGS-OK' "$T/regs.out"
check virtio.register_reads_without_exits test "${mmio:-100000}" -lt 1000
grep -q '^REGS-OK' "$T/regs.out" && [ -n "$mmio" ] && [ "$mmio" -lt 1000 ] ||
	{ echo "--- regread: mmio exits ${mmio:-?}"; cat "$T/regs.out"; tail -n 5 "$T/regs.err"; }

# A tap made inside a private network namespace (nothing reaches the host's network).
if [ "$(id -u)" = 0 ] && [ -c /dev/net/tun ] && command -v unshare >/dev/null && command -v ip >/dev/null; then
	unshare -n sh -c "ip tuntap add dev ktap0 mode tap vnet_hdr && ip link set ktap0 up &&
		timeout 20 $K --kernel $G/hello64.elf --net tap=ktap0,mac=02:00:00:00:00:01 --level debug" \
		>"$T/tap.out" 2>"$T/tap.err" </dev/null
	rc=$?
	if [ $rc -eq 0 ] && grep -q 'virtio-net net0: virtio-mmio at' "$T/tap.err" &&
		grep -q KINDLING-HELLO64-OK "$T/tap.out"; then
		pass virtio.net_tap_opened
	else
		fail virtio.net_tap_opened "rc=$rc $(head -c 300 "$T/tap.err")"
	fi
	# An existing interface that is not a tap is refused with the reason.
	unshare -n timeout -k 10 "$(scaled 20)" "$K" --kernel "$G/hello64.elf" --net tap=lo >"$T/lo.out" 2>"$T/lo.err" </dev/null
	rc=$?
	check virtio.net_not_a_tap_refused test $rc -ne 0 -a $rc -lt 128 -a "$(grep -c 'tap lo:' "$T/lo.err")" = 1
else
	skip virtio.net_tap_opened "needs root, /dev/net/tun, unshare and ip"
	skip virtio.net_not_a_tap_refused "needs root, /dev/net/tun, unshare and ip"
fi

# Fairness (issue 15): a guest that keeps its TX ring full for good (tests/guests/txflood.S,
# in a private network namespace, its tap up with no address: the frames go nowhere). The
# TX callback yields after VIRTIO_QUEUE_BUDGET frames, so the event loop still answers the
# API: the VMM's part of each of 20 GET / (request sent to the answer's first byte) within
# 100 ms (scaled), where a callback draining the ring for as long as it is refilled would
# never answer. The metrics show the flood was real (budget yields).
if [ "$(id -u)" = 0 ] && [ -c /dev/net/tun ] && command -v unshare >/dev/null && command -v ip >/dev/null &&
	command -v curl >/dev/null; then
	S=$T/flood.sock
	printf '{"boot-source": {"kernel_image_path": "%s"}, "machine-config": {"vcpu_count": 1, "mem_size_mib": 64},
 "network-interfaces": [{"iface_id": "net0", "host_dev_name": "ktap1", "guest_mac": "02:4b:4e:00:00:0f"}]}\n' \
		"$PWD/$G/txflood.elf" >"$T/flood.json"
	: >"$T/flood.metrics"
	# unshare, sh and timeout are one process (each execs the next); kindling is its child.
	unshare -n sh -c "ip tuntap add dev ktap1 mode tap vnet_hdr && ip link set ktap1 up &&
		exec timeout -k 5 $(scaled 60) $K --api-sock $S --config-file $T/flood.json --metrics-path $T/flood.metrics" \
		>"$T/flood.out" 2>"$T/flood.err" </dev/null &
	fpid=$!
	for _ in $(seq "$(scaled 100)"); do grep -q FLOODING "$T/flood.out" 2>/dev/null && break; kill -0 $fpid 2>/dev/null || break; sleep 0.1; done
	bound_ms=$(scaled 100)
	api_get_worst "$S" 5 20 0.05
	curl -s -m 5 -o /dev/null --unix-socket "$S" -X PUT http://localhost/actions -d '{"action_type": "FlushMetrics"}'
	yields=$(grep -o '"tx_budget_yields": *[0-9]*' "$T/flood.metrics" | tail -n 1 | grep -o '[0-9]*$')
	frames=$(grep -o '"tx_packets_count": *[0-9]*' "$T/flood.metrics" | tail -n 1 | grep -o '[0-9]*$')
	echo "  tx flood: the VMM's part of each GET / (ms):$all; bound $bound_ms ms; TX frames ${frames:-?}," \
		"budget yields ${yields:-?}"
	check virtio.tx_flood_guest_ran grep -q FLOODING "$T/flood.out"
	check virtio.tx_flood_api_answers test "$worst" -le "$bound_ms"
	check virtio.tx_flood_callback_yields test "${yields:-0}" -ge 1
	kill -TERM $fpid 2>/dev/null
	reap $fpid "$(scaled 20)" >/dev/null 2>&1 || true
else
	for t in tx_flood_guest_ran tx_flood_api_answers tx_flood_callback_yields; do
		skip "virtio.$t" "needs root, /dev/net/tun, unshare, ip and curl"
	done
fi
exit 0
