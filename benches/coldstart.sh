#!/bin/bash
# Cold-start benchmark, inside one KVM lab run: the wordfreq example packaged once, then run
# N times by `kindling run` and N times by QEMU -M microvm (virtio-mmio block and net, same
# kernel, memory, vCPUs and guest), each invoked the same way: boot, wait for the function to
# be ready, POST the input, read the output, stop the VM. Prints medians:
#   kindling.coldstart_ms     spawn of `kindling run` -> output received and the VM gone
#   qemu.coldstart_ms         the same with QEMU
#   kindling.boot_to_ready_ms VMM start -> the guest's init ready to serve (from the runner)
# Lab figures are inflated by emulation: only the ratio of the two VMMs means something.
set -eu
cd "$(dirname "$0")/.."
. tests/lib.sh # median
N=${KINDLING_COLDSTART_RUNS:-3}
if [ -z "${KINDLING_IN_LAB:-}" ]; then
	exec env KINDLING_IN_LAB=1 KINDLING_COLDSTART_RUNS="$N" tests/lab/run -- benches/coldstart.sh
fi
[ -w /dev/kvm ] || { echo "coldstart.sh: no /dev/kvm" >&2; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cp build/guest/vmlinux "$T/"
guest/mkfunction.sh build/examples/wordfreq "$T/fn.ext4" >/dev/null
IN=examples/wordfreq/input.txt
now() { date +%s%N; }

# QEMU in a network namespace of its own, like the runner: tap, boot, poll, invoke, stop.
# acpi=off: our kernel has no ACPI, so QEMU must announce its virtio-mmio devices on the
# kernel command line, as kindling does.
cat >"$T/qemu-once.sh" <<'QEOF'
set -eu
T=$1 IN=$2
ip link set lo up
ip tuntap add kt0 mode tap
ip addr add 172.31.255.1/30 dev kt0
ip link set kt0 up
qemu-system-x86_64 -M microvm,x-option-roms=off,rtc=off,acpi=off -enable-kvm -cpu host -m 128 -smp 1 \
	-nodefaults -no-user-config -nographic -serial file:"$T/q.console" -no-reboot \
	-kernel "$T/vmlinux" -append "console=ttyS0 reboot=t panic=1 pci=off quiet tsc=reliable no_timer_check root=/dev/vda ro ip=172.31.255.2::172.31.255.1:255.255.255.252:function:eth0:off kindling.port=8080" \
	-drive id=rootfs,file="$T/fn.ext4",format=raw,if=none,readonly=on -device virtio-blk-device,drive=rootfs \
	-netdev tap,id=n0,ifname=kt0,script=no,downscript=no -device virtio-net-device,netdev=n0 &
qpid=$!
until curl -s -m 1 -o /dev/null http://172.31.255.2:8080/health; do
	kill -0 $qpid 2>/dev/null || { echo "qemu exited; console:" >&2; tail -5 "$T/q.console" >&2; exit 1; }
	sleep 0.02
done
curl -s --data-binary @"$IN" http://172.31.255.2:8080/invoke >"$T/q.out"
kill $qpid
wait $qpid || true
QEOF

for i in $(seq "$N"); do
	t0=$(now)
	timeout -s USR1 -k 10 120 build/kindling run --rootfs "$T/fn.ext4" --input "$IN" >"$T/k.out" 2>"$T/k.err"
	echo $((($(now) - t0) / 1000)) >>"$T/k.us"
	cmp -s "$T/k.out" examples/wordfreq/expected.txt || { echo "kindling run $i: wrong output" >&2; cat "$T/k.err" >&2; exit 1; }
	sed -n 's/.*vmm setup \([0-9.]*\) ms, kernel to init ready \([0-9.]*\) ms.*/\1 \2/p' "$T/k.err" |
		awk '{print $1 + $2}' >>"$T/k.ready"
	echo "  run $i: kindling $(grep 'cold start' "$T/k.err")" >&2

	t0=$(now)
	timeout -k 10 120 unshare -n bash "$T/qemu-once.sh" "$T" "$IN"
	echo $((($(now) - t0) / 1000)) >>"$T/q.us"
	cmp -s "$T/q.out" examples/wordfreq/expected.txt || { echo "qemu run $i: wrong output" >&2; tail "$T/q.console" >&2; exit 1; }
	echo "  run $i: qemu $(tail -1 "$T/q.us") us" >&2
done
printf 'kindling.coldstart_ms %.1f ms\n' "$(median <"$T/k.us" | awk '{print $1 / 1000}')"
printf 'qemu.coldstart_ms %.1f ms\n' "$(median <"$T/q.us" | awk '{print $1 / 1000}')"
printf 'kindling.boot_to_ready_ms %.1f ms\n' "$(median <"$T/k.ready")"
