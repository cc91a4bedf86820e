#!/bin/bash
# One QEMU microvm instance of a packaged function, for the benches that compare kindling
# run with QEMU (benches/warmstart.sh, benches/clones.sh). Run inside a network namespace of
# its own (unshare -n): it makes the tap kindling run makes, then
#   qemufn.sh T IN snapshot W   boots T/fn.ext4 with T/vmlinux, waits for the function, and
#                               migrates the VM to the file T/qemu.mig
#   qemufn.sh T IN restore W    restores T/qemu.mig, sends the restore message kindling run
#                               sends, invokes the function with IN: the output in W/q.out,
#                               the time it answered (ns) in W/q.at
# W holds this instance's QMP socket and console (one per instance when several run at once).
set -eu
T=$1 IN=$2 mode=$3 W=$4
ip link set lo up
ip tuntap add kt0 mode tap
# The MAC kindling run gives its tap: the restored guest's neighbour entry holds.
ip link set kt0 address 02:4b:4e:00:00:01
ip addr add 172.31.255.1/30 dev kt0
ip link set kt0 up
args=(-M microvm,x-option-roms=off,rtc=off,acpi=off -enable-kvm -cpu host -m 128 -smp 1
	-nodefaults -no-user-config -nographic -serial file:"$W/q.console" -no-reboot
	-kernel "$T/vmlinux" -append "console=ttyS0 reboot=t panic=1 pci=off quiet tsc=reliable no_timer_check root=/dev/vda ro ip=172.31.255.2::172.31.255.1:255.255.255.252:function:eth0:off kindling.port=8080"
	-drive id=rootfs,file="$T/fn.ext4",format=raw,if=none,readonly=on -device virtio-blk-device,drive=rootfs
	-netdev tap,id=n0,ifname=kt0,script=no,downscript=no -device virtio-net-device,netdev=n0
	-qmp unix:"$W/qmp.sock",server=on,wait=off)
if [ "$mode" = snapshot ]; then
	qemu-system-x86_64 "${args[@]}" &
else
	qemu-system-x86_64 "${args[@]}" -incoming "exec:cat $T/qemu.mig" &
fi
qpid=$!
trap 'kill $qpid 2>/dev/null || true' EXIT
python3 "$(dirname "$0")/qemufn.py" "$mode" "$T" "$IN" "$qpid" "$W"
kill $qpid
wait $qpid || true
