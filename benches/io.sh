#!/bin/bash
# I/O benchmark, inside one KVM lab run: the same kernel, root image and data image under
# kindling and under QEMU -M microvm -enable-kvm (virtio-mmio devices, userspace virtio-net
# on a tap, no vhost), same memory and vCPUs. The guest runs benches/iotool:
#   *.blk_seq_read_mbps    1 MiB O_DIRECT sequential reads of the data disk   (MB/s)
#   *.blk_randread_iops    4 KiB O_DIRECT random reads, queue depth 1          (IOPS)
#   *.net_tx_mbps          TCP guest -> host, measured by the host's receiver (Mbit/s)
#   *.net_rx_mbps          TCP host -> guest, measured by the guest's receiver (Mbit/s)
# Each figure is the median over KINDLING_IO_RUNS (default 5: one boot's figures spread by
# about +-25% in the lab) boots per VMM, in ABBA order after one unmeasured warm-up boot of
# each (the lab's first VM pays for translating the L1 kernel's KVM paths). Lab figures are
# inflated by emulation and shared with whatever else runs on the host: only the ratio of
# the two VMMs means something.
set -eu
cd "$(dirname "$0")/.."
. tests/lib.sh # median
export LC_ALL=C # printf %f must not meet a decimal comma
# Settings are KINDLING_* variables: tests/lab/run carries only those into the lab.
N=${KINDLING_IO_RUNS:-5}
if [ -z "${KINDLING_IN_LAB:-}" ]; then
	exec env KINDLING_IN_LAB=1 KINDLING_IO_RUNS="$N" tests/lab/run -- benches/io.sh
fi
[ -w /dev/kvm ] || { echo "io.sh: no /dev/kvm" >&2; exit 1; }
PATH=$PATH:/sbin:/usr/sbin
T=$(mktemp -d)
TAP=kvb0
SEQ_MIB=${KINDLING_IO_SEQ_MIB:-128}
RAND_OPS=${KINDLING_IO_RAND_OPS:-2000}
# 1 GiB each way: 128 MiB took ~0.5 s in the lab, where one stall of L1 moved a boot's
# figure by a third; at 1 GiB one boot's TX spread by about +-15% (2026-12-07).
NET_MIB=${KINDLING_IO_NET_MIB:-1024}
trap 'ip link del $TAP 2>/dev/null; rm -rf "$T"' EXIT

# Everything from tmpfs, not from the lab's 9p share.
cp build/guest/vmlinux "$T/"
gcc -static -O2 -o "$T/iotool" benches/iotool.c
mkdir -p "$T/root/t" "$T/root/bin"
cp "$T/iotool" "$T/root/bin/iotool"
# Sizes come from the kernel command line (kb_seq=, kb_rand=, kb_net=), which the
# kernel hands to init as environment variables.
cat >"$T/root/t/bench.sh" <<'EOF'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
ip link set lo up
for d in /sys/block/vd*; do [ "$(cat $d/serial)" = data ] && dev=/dev/${d##*/}; done
for i in 1 2 3; do echo "KB-SEQ $(iotool seqread $dev $kb_seq)"; done
for i in 1 2 3; do echo "KB-RAND $(iotool randread $dev $kb_rand)"; done
iotool source 10.78.0.1 7101 $kb_net >/dev/null
echo "KB-RX $(iotool sink 7102)"
echo KB-DONE
reboot -f
EOF
chmod 755 "$T/root/t/bench.sh"
guest/mkrootfs.sh -s 64 "$T/root.img" "$T/root"
# Data disk: incompressible, bigger than the sequential read.
dd if=/dev/urandom of="$T/data.img" bs=1M count=$((SEQ_MIB + 64)) 2>/dev/null
ip tuntap add dev $TAP mode tap vnet_hdr
ip addr add 10.78.0.1/24 dev $TAP
ip link set $TAP up

MAC=02:4b:4e:00:00:09
ARGS="console=ttyS0 reboot=k panic=1 pci=off nomodule i8042.noaux i8042.nomux i8042.dumbkbd quiet tsc=reliable no_timer_check"
GUEST="init=/t/bench.sh ip=10.78.0.2::10.78.0.1:255.255.255.0::eth0:off"
SIZES="kb_seq=$SEQ_MIB kb_rand=$RAND_OPS kb_net=$NET_MIB"

# One boot's deadline: it moves KINDLING_IO_* data through TCG (~60 s at the defaults).
BOOT_S=300

# run VMM I [SIZES]: one boot; the host side sinks the guest's upload and sends the
# download. Results are kept unless I is "warmup".
run() {
	vmm=$1 i=$2 sizes=${3:-$SIZES}
	net=$(echo "$sizes" | sed 's/.*kb_net=\([0-9]*\).*/\1/')
	"$T/iotool" sink 7101 >"$T/$vmm.tx.$i" &
	sinkpid=$!
	"$T/iotool" source 10.78.0.2 7102 "$net" >/dev/null &
	srcpid=$!
	if [ "$vmm" = kindling ]; then
		timeout -s USR1 -k 10 $BOOT_S build/kindling --kernel "$T/vmlinux" --cmdline "$ARGS $GUEST $sizes" --mem-mib 512 --vcpus 1 \
			--drive path="$T/root.img",root,ro,id=root --drive path="$T/data.img",ro,id=data \
			--net tap=$TAP,mac=$MAC </dev/null >"$T/$vmm.out.$i" 2>"$T/$vmm.err.$i" &
	else
		# microvm has no i8042: the guest reboots by triple fault, which -no-reboot ends.
		timeout -k 10 $BOOT_S qemu-system-x86_64 -M microvm,x-option-roms=off,rtc=off,pit=on,pic=on,isa-serial=on,acpi=off \
			-enable-kvm -cpu host -m 512 -smp 1 -nodefaults -no-user-config -nographic -serial stdio \
			-kernel "$T/vmlinux" -append "${ARGS/reboot=k/reboot=t} root=/dev/vda ro $GUEST $sizes" -no-reboot \
			-drive id=root,file="$T/root.img",format=raw,if=none,readonly=on \
			-device virtio-blk-device,drive=root,serial=root \
			-drive id=data,file="$T/data.img",format=raw,if=none,readonly=on \
			-device virtio-blk-device,drive=data,serial=data \
			-netdev tap,id=n0,ifname=$TAP,script=no,downscript=no,vhost=off \
			-device virtio-net-device,netdev=n0,mac=$MAC </dev/null >"$T/$vmm.out.$i" 2>"$T/$vmm.err.$i" &
	fi
	# A guest that stops (seen in the lab: a kindling boot's upload, its vCPU not answering
	# SIGUSR1): the VMM's threads in L1 just before the deadline, to tell L1 from the VMM.
	threads_at $((BOOT_S - 5)) $! "$T/$vmm.threads.$i" || true
	wait $! || true
	kill $sinkpid $srcpid 2>/dev/null || true
	wait $sinkpid $srcpid 2>/dev/null || true
	if ! grep -q '^KB-DONE' "$T/$vmm.out.$i"; then
		echo "io.sh: $vmm run $i did not finish" >&2
		tail -n 20 "$T/$vmm.out.$i" "$T/$vmm.err.$i" >&2
		[ -s "$T/$vmm.threads.$i" ] && cat "$T/$vmm.threads.$i" >&2
		exit 1
	fi
	[ "$i" = warmup ] && return
	sed -n 's/^KB-SEQ //p' "$T/$vmm.out.$i" >>"$T/$vmm.seq"
	sed -n 's/^KB-RAND //p' "$T/$vmm.out.$i" >>"$T/$vmm.rand"
	sed -n 's/^KB-RX //p' "$T/$vmm.out.$i" >>"$T/$vmm.rx"
	cat "$T/$vmm.tx.$i" >>"$T/$vmm.tx"
	echo "io.sh: $vmm run $i: seq $(sed -n 's/^KB-SEQ //p' "$T/$vmm.out.$i" | tr '\n' ' ')rand" \
		"$(sed -n 's/^KB-RAND //p' "$T/$vmm.out.$i" | tr '\n' ' ')tx $(cat "$T/$vmm.tx.$i") rx" \
		"$(sed -n 's/^KB-RX //p' "$T/$vmm.out.$i")" >&2
}

run kindling warmup "kb_seq=8 kb_rand=100 kb_net=8"
run qemu warmup "kb_seq=8 kb_rand=100 kb_net=8"
for i in $(seq "$N"); do
	if [ $((i % 2)) = 1 ]; then
		run qemu "$i"
		run kindling "$i"
	else
		run kindling "$i"
		run qemu "$i"
	fi
done
for vmm in kindling qemu; do
	printf '%s.blk_seq_read_mbps %.1f MB/s\n' $vmm "$(median <"$T/$vmm.seq")"
	printf '%s.blk_randread_iops %.0f IOPS\n' $vmm "$(median <"$T/$vmm.rand")"
	printf '%s.net_tx_mbps %.1f Mbit/s\n' $vmm "$(median <"$T/$vmm.tx")"
	printf '%s.net_rx_mbps %.1f Mbit/s\n' $vmm "$(median <"$T/$vmm.rx")"
done
