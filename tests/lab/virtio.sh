#!/bin/bash
# virtio-blk and virtio-net end to end, run inside the KVM lab (tests/lab/run): the guest
# kernel boots from an ext4 root on /dev/vda made by guest/mkrootfs.sh, writes files,
# syncs and reboots; the host side checks them with e2fsck -n and debugfs. A read-only
# drive refuses writes; two data drives work at once; a flushed write survives kill -9 of
# the VMM. Network: a tap made here (inside the lab only), the guest addressed by ip=,
# then ping, a TCP echo, and 100 MiB each way with matching sha256.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
K=build/kindling
KERNEL=build/guest/vmlinux
T=$(mktemp -d)
TAP=kvt0
peer=
cleanup() {
	[ -n "$peer" ] && kill "$peer" 2>/dev/null
	ip link del "$TAP" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

if ! kvm_usable; then
	skip lab.virtio "no /dev/kvm inside the lab"
	exit 0
fi
for tool in mkfs.ext4 debugfs e2fsck busybox; do
	if ! command -v $tool >/dev/null && [ ! -x /sbin/$tool ]; then
		skip lab.virtio "$tool is not installed"
		exit 0
	fi
done
PATH=$PATH:/sbin:/usr/sbin
BASE="console=ttyS0 reboot=k panic=1 pci=off nomodule i8042.noaux i8042.nomux i8042.dumbkbd tsc=reliable no_timer_check quiet"

# --- the guest side: scripts run as init from the root filesystem -------------------
mkdir -p "$T/root/t"
cat >"$T/root/t/lib.sh" <<'EOF'
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /tmp
finish() {
	sync
	mount -o remount,ro / 2>/dev/null
	echo KV-DONE
	reboot -f
}
EOF
cat >"$T/root/t/blk1.sh" <<'EOF'
#!/bin/sh
. /t/lib.sh
echo "KV-ROOT $(awk '$2 == "/" { print $1, substr($4, 1, 2) }' /proc/mounts)"
echo kindling-was-here >/hello.txt
dd if=/dev/urandom of=/big.bin bs=64k count=64 2>/dev/null
sha256sum /big.bin >/big.sha
echo "KV-SERIAL vdb=$(cat /sys/block/vdb/serial) vdc=$(cat /sys/block/vdc/serial)"
printf KINDLING-VDB-WRITE | dd of=/dev/vdb bs=512 seek=2048 conv=sync,fsync 2>/dev/null && echo KV-VDB-WRITE-OK
echo "KV-VDB-READBACK $(dd if=/dev/vdb bs=512 skip=2048 count=1 2>/dev/null | head -c 18)"
echo "KV-VDC-RO $(cat /sys/block/vdc/ro)"
echo "KV-VDC-READ $(head -c 15 /dev/vdc)"
if printf XXXX | dd of=/dev/vdc bs=512 conv=sync,fsync 2>/tmp/err; then
	echo KV-VDC-WRITE-ACCEPTED
else
	echo "KV-VDC-WRITE-REFUSED $(head -n 1 /tmp/err)"
fi
finish
EOF
cat >"$T/root/t/blk2.sh" <<'EOF'
#!/bin/sh
. /t/lib.sh
[ "$(cat /hello.txt)" = kindling-was-here ] && echo KV-PERSISTED
sha256sum -c /big.sha >/dev/null 2>&1 && echo KV-BIG-OK
# Mounted read-only this time: writes are refused.
if echo x 2>/tmp/err >/newfile; then echo KV-RO-ROOT-WRITABLE; else echo "KV-RO-ROOT-REFUSED $(cat /tmp/err)"; fi
finish
EOF
cat >"$T/root/t/flush.sh" <<'EOF'
#!/bin/sh
. /t/lib.sh
printf KINDLING-FLUSHED | dd of=/dev/vdb bs=512 seek=4096 conv=sync,fsync 2>/dev/null && echo KV-FLUSHED
sleep 1000
EOF
cat >"$T/root/t/net.sh" <<'EOF'
#!/bin/sh
. /t/lib.sh
ip link set lo up
echo "KV-IF $(cat /sys/class/net/eth0/address) $(cat /sys/class/net/eth0/operstate)"
ping -c 3 -W 5 10.77.0.1 >/tmp/ping 2>&1 && echo KV-PING-OK || cat /tmp/ping
echo "KV-ECHO $(echo kindling-echo-test | nc 10.77.0.1 7000)"
dd if=/dev/urandom of=/tmp/up.bin bs=1M count=100 2>/dev/null
echo "KV-UP-SHA $(sha256sum </tmp/up.bin | cut -d' ' -f1)"
nc 10.77.0.1 7001 </tmp/up.bin
rm -f /tmp/up.bin
nc 10.77.0.1 7002 </dev/null >/tmp/down.bin
echo "KV-DOWN-SHA $(sha256sum </tmp/down.bin | cut -d' ' -f1) $(wc -c </tmp/down.bin)"
finish
EOF
cat >"$T/root/t/flood.sh" <<'EOF'
#!/bin/sh
. /t/lib.sh
ip link set lo up
# Three UDP floods to the host's side of the tap, where a socket is bound and never read:
# the TX ring is refilled as fast as the device drains it, for as long as the guest runs.
for i in 1 2 3; do (while :; do nc -u 10.77.0.1 9999 </dev/zero; done) >/dev/null 2>&1 & done
sleep 2
echo KV-FLOOD-STARTED
# Meanwhile the block device keeps serving reads (the cache dropped each time).
i=0
while [ $i -lt 10 ]; do
	echo 3 >/proc/sys/vm/drop_caches
	n=$(dd if=/dev/vdb bs=64k 2>/dev/null | wc -c) && echo "KV-READ $i $n"
	i=$((i + 1))
	sleep 1
done
echo KV-READS-DONE
sleep 30
finish
EOF
chmod 755 "$T"/root/t/*.sh
guest/mkrootfs.sh -s 64 "$T/root.img" "$T/root"
truncate -s 4M "$T/b.img"
printf KINDLING-DISK-C >"$T/c.img"
truncate -s 4M "$T/c.img"

# vm NAME TIMEOUT ARGS...: one microVM; output in $T/NAME.{out,err}, status in $rc.
vm() {
	name=$1 limit=$2; shift 2
	start=$(date +%s%N)
	deadline "$limit" "$K" --kernel "$KERNEL" "$@" >"$T/$name.out" 2>"$T/$name.err" </dev/null
	rc=$?
	echo "  $name: exit $rc in $((($(date +%s%N) - start) / 1000000)) ms"
	show_deadline "$name" "$rc" "$T/$name.err"
}
show() {
	show_oops "$T/$1.out"
	echo "--- $1 stdout (tail)"; tail -n 25 "$T/$1.out"
	echo "--- $1 stderr (tail)"; tail -n 10 "$T/$1.err"
}
has() { grep -q -- "$2" "$T/$1.out"; }

# --- boot 1: ext4 root on /dev/vda (rw), a raw rw drive and a read-only drive -------
vm blk1 120 --mem-mib 256 --cmdline "$BASE init=/t/blk1.sh" \
	--drive path="$T/b.img",id=scratch --drive path="$T/root.img",root,id=rootfs \
	--drive path="$T/c.img",ro,id=readonly
check lab.virtio.root_on_vda has blk1 '^KV-ROOT /dev/root rw'
check lab.virtio.guest_finished has blk1 '^KV-DONE'
check lab.virtio.get_id_serial has blk1 '^KV-SERIAL vdb=scratch vdc=readonly'
check lab.virtio.second_drive_write has blk1 '^KV-VDB-WRITE-OK'
check lab.virtio.second_drive_readback has blk1 '^KV-VDB-READBACK KINDLING-VDB-WRITE'
check lab.virtio.ro_drive_flagged has blk1 '^KV-VDC-RO 1'
check lab.virtio.ro_drive_reads has blk1 '^KV-VDC-READ KINDLING-DISK-C'
check lab.virtio.ro_drive_refuses_writes has blk1 '^KV-VDC-WRITE-REFUSED'
grep '^KV-VDC-WRITE' "$T/blk1.out" | sed 's/^/  guest: /'
has blk1 '^KV-DONE' || show blk1
# The host side of the same files.
e2fsck_clean() { e2fsck -fn "$1" >"$T/fsck.out" 2>&1 || { cat "$T/fsck.out"; return 1; }; }
check lab.virtio.e2fsck_clean e2fsck_clean "$T/root.img"
check lab.virtio.host_sees_file test "$(debugfs -R 'cat /hello.txt' "$T/root.img" 2>/dev/null)" = kindling-was-here
debugfs -R "dump /big.bin $T/big.bin" "$T/root.img" >/dev/null 2>&1
want=$(debugfs -R 'cat /big.sha' "$T/root.img" 2>/dev/null | cut -d' ' -f1)
check lab.virtio.host_sees_big_file test -n "$want" -a "$(sha256sum <"$T/big.bin" | cut -d' ' -f1)" = "$want"
check lab.virtio.raw_drive_on_host test "$(dd if="$T/b.img" bs=512 skip=2048 count=1 2>/dev/null | head -c 18)" = KINDLING-VDB-WRITE
check lab.virtio.ro_drive_unchanged test "$(head -c 15 "$T/c.img")" = KINDLING-DISK-C

# --- boot 2: the same image again, root read-only this time -------------------------
vm blk2 120 --cmdline "$BASE init=/t/blk2.sh" --drive path="$T/root.img",root,ro,id=rootfs
check lab.virtio.files_persist_across_reboot has blk2 '^KV-PERSISTED'
check lab.virtio.big_file_persists has blk2 '^KV-BIG-OK'
check lab.virtio.ro_root_refuses_writes has blk2 '^KV-RO-ROOT-REFUSED'
has blk2 '^KV-DONE' || show blk2

# --- boot 3: a flushed write survives kill -9 of the VMM ----------------------------
deadline_bg 120 "$K" --kernel "$KERNEL" --cmdline "$BASE init=/t/flush.sh" --drive path="$T/root.img",root,ro \
	--drive path="$T/b.img",id=scratch,writeback >"$T/flush.out" 2>"$T/flush.err" </dev/null
kpid=$!
for _ in $(seq 240); do has flush '^KV-FLUSHED' && break; kill -0 $kpid 2>/dev/null || break; sleep 0.5; done
pkill -KILL -P $kpid 2>/dev/null   # kill -9 of the VMM itself, not of deadline's timeout
wait $kpid 2>/dev/null
check lab.virtio.flush_survives_kill test "$(dd if="$T/b.img" bs=512 skip=4096 count=1 2>/dev/null | head -c 16)" = KINDLING-FLUSHED

# --- boot 4: network through a tap made here -----------------------------------------
if ! ip tuntap add dev "$TAP" mode tap vnet_hdr 2>"$T/tap.err" || ! ip addr add 10.77.0.1/24 dev "$TAP" ||
	! ip link set "$TAP" up; then
	skip lab.virtio.net "cannot make a tap: $(cat "$T/tap.err")"
	exit 0
fi
dd if=/dev/urandom of="$T/down.bin" bs=1M count=100 2>/dev/null
down_want=$(sha256sum <"$T/down.bin" | cut -d' ' -f1)
mkdir -p "$T/peer"
python3 tests/lab/netpeer.py 10.77.0.1 7000 "$T/peer" "$T/down.bin" &
peer=$!
for _ in $(seq 50); do [ -e "$T/peer/ready" ] && break; sleep 0.1; done
# 240 s: 100 MiB each way through the TCG-emulated L1 took ~60 s in earlier runs (and the
# lab's watchdog gives up on a command silent for 300 s).
vm net 240 --mem-mib 512 --cmdline "$BASE init=/t/net.sh ip=10.77.0.2::10.77.0.1:255.255.255.0::eth0:off" \
	--drive path="$T/root.img",root,ro --net tap=$TAP,mac=02:4b:4e:00:00:02,id=net0
check lab.virtio.net_mac has net '^KV-IF 02:4b:4e:00:00:02 up'
check lab.virtio.net_ping has net '^KV-PING-OK'
check lab.virtio.net_tcp_echo has net '^KV-ECHO kindling-echo-test'
up_want=$(sed -n 's/^KV-UP-SHA \([0-9a-f]*\).*/\1/p' "$T/net.out")
up_got=$(cut -d' ' -f1 "$T/peer/sink.0" 2>/dev/null)
up_bytes=$(cut -d' ' -f2 "$T/peer/sink.0" 2>/dev/null)
check lab.virtio.net_100mib_guest_to_host test -n "$up_want" -a "$up_want" = "$up_got" -a "$up_bytes" = 104857600
check lab.virtio.net_100mib_host_to_guest has net "^KV-DOWN-SHA $down_want 104857600"
has net '^KV-DONE' || show net
# --- boot 5: fairness (issue 15): the guest floods virtio-net TX while the API answers --
# The host binds the flood's UDP port and never reads it (no ICMP back to stop the guest's
# nc). Bound: the VMM answers each of 20 GET / over the API socket within 100 ms (scaled),
# while the flood runs; the block device keeps serving reads of its 4 MiB drive meanwhile.
# The VMM's part is curl's wait from the request sent to the answer's first byte
# (time_starttransfer - time_pretransfer: the API thread's read, the event loop's turn, the
# answer); time_total, printed beside it, adds curl's own connect and scheduling in L1, which
# under the flood's two busy threads took 10-25 ms and once 115 ms while the VMM's part of
# every answer measured 0-1 ms (the lab's L1, not the loop). A Linux guest in the lab cannot
# refill its TX ring faster than the VMM drains it: this passes with the queue budget off too
# (checked). The test that fails without the budget is the host's virtio.tx_flood_* (a tiny
# guest that keeps its ring full, tests/kvm/virtio.sh); this one checks the same with Linux,
# a real flood and a block device at once.
python3 -c 'import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("10.77.0.1", 9999)); time.sleep(600)' &
sink=$!
S=$T/api.sock
deadline_bg 240 "$K" --api-sock "$S" >"$T/flood.out" 2>"$T/flood.err" </dev/null
kpid=$!
for _ in $(seq 50); do [ -S "$S" ] && break; sleep 0.1; done
api() { curl -s -m 30 -o /dev/null -w '%{http_code}' --unix-socket "$S" -X "$1" "http://localhost$2" ${3:+-d "$3"}; }
codes="$(api PUT /boot-source "{\"kernel_image_path\": \"$PWD/$KERNEL\", \"boot_args\": \"$BASE init=/t/flood.sh ip=10.77.0.2::10.77.0.1:255.255.255.0::eth0:off\"}")"
codes="$codes $(api PUT /drives/rootfs "{\"drive_id\": \"rootfs\", \"path_on_host\": \"$T/root.img\", \"is_root_device\": true, \"is_read_only\": true}")"
codes="$codes $(api PUT /drives/data "{\"drive_id\": \"data\", \"path_on_host\": \"$T/b.img\", \"is_root_device\": false, \"is_read_only\": true}")"
codes="$codes $(api PUT /network-interfaces/net0 "{\"iface_id\": \"net0\", \"host_dev_name\": \"$TAP\", \"guest_mac\": \"02:4b:4e:00:00:02\"}")"
codes="$codes $(api PUT /actions '{"action_type": "InstanceStart"}')"
check lab.virtio.fairness_configured test "$codes" = "204 204 204 204 204"
for _ in $(seq 240); do has flood '^KV-FLOOD-STARTED' && break; kill -0 $kpid 2>/dev/null || break; sleep 0.5; done
bound_ms=$(scaled 100)
api_get_worst "$S" 30 20 0.1
echo "  fairness: worst VMM answer to GET / of 20 under a TX flood: $worst ms (bound $bound_ms ms); each (ms):$all;" \
	"load: $(cut -d' ' -f1-3 /proc/loadavg)"
for _ in $(seq 60); do has flood '^KV-READS-DONE' && break; kill -0 $kpid 2>/dev/null || break; sleep 0.5; done
check lab.virtio.fairness_flood_ran has flood '^KV-FLOOD-STARTED'
check lab.virtio.fairness_api_latency test "$worst" -le "$bound_ms"
check lab.virtio.fairness_blk_reads_served test "$(grep -c '^KV-READ [0-9]* 4194304' "$T/flood.out")" -ge 8
pkill -KILL -P $kpid 2>/dev/null
wait $kpid 2>/dev/null
kill $sink 2>/dev/null
has flood '^KV-READS-DONE' || show flood
exit 0
