#!/bin/bash
# Snapshots of a Linux guest, inside the KVM lab (issue 12): 2 vCPUs, an ext4 root (read-only)
# and an ext4 data drive, a tap made here. The guest counts: each tick is a line on the
# console, a line appended to a file on the data drive, and a line on one TCP connection to
# a peer on the host. Booted through the API, paused, Full snapshot; resumed, paused, Diff
# snapshot; the VMM killed with SIGKILL. The Diff merged into the Full, a new VMM restores it
# (`kindling --restore`): the count goes on from the Diff's tick on the console, on the disk
# and on the same TCP connection; the data drive is clean. Then the same snapshot restored 10
# times in a row (the data drive put back each time), each counting on.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
K=$PWD/build/kindling
KERNEL=$PWD/build/guest/vmlinux
T=$(mktemp -d)
TAP=kvs0
PIDS=()
cleanup() {
	stop_pids
	ip link del "$TAP" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
CASES="linux_full_diff_merge_restore linux_memory_state linux_disk_state linux_tcp_state linux_data_fs_clean
	linux_restore_10_times linux_load_disk_missing linux_load_disk_missing_still_serving
	linux_load_tap_missing linux_load_tap_missing_still_serving"
if ! kvm_usable; then
	for t in $CASES; do skip "lab.snapshot.$t" "no /dev/kvm inside the lab"; done
	exit 0
fi
PATH=$PATH:/sbin:/usr/sbin
for tool in mkfs.ext4 e2fsck debugfs busybox curl python3; do
	if ! command -v $tool >/dev/null; then
		for t in $CASES; do skip "lab.snapshot.$t" "$tool is not installed"; done
		exit 0
	fi
done
LAST=60 # ticks

# --- the guest: init on the root filesystem ---------------------------------------
mkdir -p "$T/root/t" "$T/root/data"
cat >"$T/root/t/count.sh" <<EOF
#!/bin/sh
echo GUEST-START
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /tmp
mount -t ext4 /dev/vdb /data
ip link set lo up
# A connection that breaks (a restored copy whose peer is gone) must not end the count.
trap '' PIPE
mkfifo /tmp/net
nc 10.78.0.1 7100 </tmp/net >/dev/null &
# Read-write: an open that never waits for the reader (nc may not have opened it yet).
exec 3<>/tmp/net
echo "GUEST-READY \$(cat /sys/class/net/eth0/operstate) \$(grep -c /data /proc/mounts)"
i=0
while [ \$i -lt $LAST ]; do
	i=\$((i + 1))
	echo "TICK \$i"
	echo "DISK \$i" >>/data/log
	echo "NET \$i" >&3 2>/dev/null
	usleep 200000
done
exec 3>&-
sync
echo "LAST-ON-DISK \$(tail -n 1 /data/log)"
umount /data
echo KS-DONE
reboot -f
EOF
chmod 755 "$T/root/t/count.sh"
guest/mkrootfs.sh -s 64 "$T/root.img" "$T/root" >"$T/mkrootfs.log" 2>&1 || { cat "$T/mkrootfs.log"; exit 1; }
truncate -s 16M "$T/data.img"
mkfs.ext4 -q -F "$T/data.img"

# --- the host: a tap and a peer that keeps what arrives on one TCP connection ---------
if ! ip tuntap add dev "$TAP" mode tap vnet_hdr 2>"$T/tap.err" || ! ip addr add 10.78.0.1/24 dev "$TAP" ||
	! ip link set "$TAP" up; then
	for t in $CASES; do skip "lab.snapshot.$t" "cannot make a tap: $(cat "$T/tap.err")"; done
	exit 0
fi
cat >"$T/peer.py" <<'EOF'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.78.0.1", 7100))
s.listen(1)
open(sys.argv[1] + ".ready", "w").close()
c, _ = s.accept()
with open(sys.argv[1], "ab", buffering=0) as f:
    while True:
        b = c.recv(4096)
        if not b:
            break
        f.write(b)
EOF
python3 "$T/peer.py" "$T/net.log" &
PIDS+=($!)
for _ in $(seq 50); do [ -e "$T/net.log.ready" ] && break; sleep 0.1; done

# --- boot through the API, Full then Diff snapshot, SIGKILL -----------------------------
S=$T/api.sock
api() { curl -s -m 30 -o "$T/body" -w '%{http_code}' --unix-socket "$S" -X "$1" "http://localhost$2" \
	-H 'Content-Type: application/json' -d "$3"; }
# wait_tick FILE N: until FILE shows TICK N (at most 60 s: the lab's watchdog gives up on
# 300 s of silence)
# (The guest's console ends lines with CR LF: the tty's onlcr.)
wait_tick() {
	for _ in $(seq 600); do tr -d '\r' <"$1" 2>/dev/null | grep -q "^TICK $2\$" && return 0; sleep 0.1; done
	return 1
}
# first_tick FILE: the number of the first TICK line in FILE
first_tick() { tr -d '\r' <"$1" | grep -m1 '^TICK ' | cut -d' ' -f2; }
# give_up WHY: every case fails, with the first VMM's output
give_up() {
	for t in $CASES; do fail "lab.snapshot.$t" "$1"; done
	echo "--- first VMM stdout (tail)"; tail -n 30 "$T/a.out"
	echo "--- first VMM stderr (tail)"; grep -v 'kindling: diag:' "$T/a.err" | tail -n 15
	exit 0
}
BASE="console=ttyS0 reboot=k panic=1 pci=off nomodule i8042.noaux i8042.nomux i8042.dumbkbd tsc=reliable no_timer_check quiet"
deadline_bg 120 "$K" --api-sock "$S" >"$T/a.out" 2>"$T/a.err" </dev/null
vpid=$!
PIDS+=("$vpid")
for _ in $(seq 100); do [ -S "$S" ] && break; sleep 0.1; done
codes="$(api PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 256, "track_dirty_pages": true}')"
codes="$codes $(api PUT /boot-source "{\"kernel_image_path\": \"$KERNEL\", \"boot_args\": \"$BASE init=/t/count.sh ip=10.78.0.2::10.78.0.1:255.255.255.0::eth0:off\"}")"
codes="$codes $(api PUT /drives/rootfs "{\"drive_id\": \"rootfs\", \"path_on_host\": \"$T/root.img\", \"is_root_device\": true, \"is_read_only\": true}")"
codes="$codes $(api PUT /drives/data "{\"drive_id\": \"data\", \"path_on_host\": \"$T/data.img\", \"is_root_device\": false, \"is_read_only\": false}")"
codes="$codes $(api PUT /network-interfaces/eth0 "{\"iface_id\": \"eth0\", \"host_dev_name\": \"$TAP\", \"guest_mac\": \"02:4b:53:00:00:02\"}")"
codes="$codes $(api PUT /actions '{"action_type": "InstanceStart"}')"
echo "  boot: API codes $codes"
wait_tick "$T/a.out" 10 || give_up "no TICK 10 within 60 s of the boot (API codes $codes)"
codes="$codes $(api PATCH /vm '{"state": "Paused"}')"
codes="$codes $(api PUT /snapshot/create "{\"snapshot_path\": \"$T/full.state\", \"mem_file_path\": \"$T/full.mem\"}")"
codes="$codes $(api PATCH /vm '{"state": "Resumed"}')"
wait_tick "$T/a.out" 20 || give_up "no TICK 20 after the Full snapshot (API codes $codes)"
codes="$codes $(api PATCH /vm '{"state": "Paused"}')"
codes="$codes $(api PUT /snapshot/create "{\"snapshot_type\": \"Diff\", \"snapshot_path\": \"$T/diff.state\", \"mem_file_path\": \"$T/diff.mem\"}")"
kill -KILL "$(pgrep -P "$vpid")" 2>/dev/null
reap "$vpid" 10 2>/dev/null
at=$(grep -c '^TICK ' "$T/a.out")
echo "  snapshot: API codes $codes; the first VMM printed $at ticks"
cp "$T/data.img" "$T/data-at-snapshot.img"

# --- merge, restore in a new process: the count goes on -------------------------------
"$K" snapshot merge "$T/full.mem" "$T/diff.mem" 2>"$T/merge.err"
mrc=$?
deadline 90 "$K" --restore "$T/diff.state" --mem "$T/full.mem" --resume --no-api >"$T/b.out" 2>"$T/b.err" </dev/null
rc=$?
echo "  restore: merge exit $mrc, VMM exit $rc; $(grep -c '^TICK ' "$T/b.out") ticks after it"
first=$(first_tick "$T/b.out")
if [ "$codes" = "204 204 204 204 204 204 204 204 204 204 204" ] && [ $mrc = 0 ] && [ $rc = 0 ] &&
	grep -q '^KS-DONE' "$T/b.out"; then
	pass lab.snapshot.linux_full_diff_merge_restore
else
	fail lab.snapshot.linux_full_diff_merge_restore "codes=$codes merge=$mrc rc=$rc $(cat "$T/merge.err")"
	tail -5 "$T/a.out"; tail -5 "$T/a.err"; tail -10 "$T/b.out"; grep -v 'diag:' "$T/b.err" | tail -5
	show_deadline restore "$rc" "$T/b.err"
fi
# Memory: the shell's counter goes on from the snapshot's tick, with no tick lost or repeated
# (the two outputs joined: a line the pause cut goes on in the second).
cat "$T/a.out" "$T/b.out" | tr -d '\r' | grep -o '^TICK [0-9]*' | awk '{ print $2 }' >"$T/ticks"
check lab.snapshot.linux_memory_state test -n "$first" -a "$(tail -n 1 "$T/ticks")" = $LAST \
	-a "$(sort -n "$T/ticks" | uniq | wc -l)" = $LAST -a "$(wc -l <"$T/ticks")" = $LAST
# Disk: the file the guest appended to holds every tick once, in order.
debugfs -R "cat /log" "$T/data.img" 2>/dev/null >"$T/disk.log"
check lab.snapshot.linux_disk_state test "$(seq -f 'DISK %g' 1 $LAST | cmp -s - "$T/disk.log" && echo ok)" = ok \
	-a "$(grep -c "^LAST-ON-DISK DISK $LAST" "$T/b.out")" = 1
# TCP: one connection, before and after: the peer has every tick once, in order.
for _ in $(seq 50); do [ "$(grep -c '^NET ' "$T/net.log")" -ge $LAST ] && break; sleep 0.1; done
check lab.snapshot.linux_tcp_state test "$(seq -f 'NET %g' 1 $LAST | cmp -s - "$T/net.log" && echo ok)" = ok
check lab.snapshot.linux_data_fs_clean e2fsck -n -f "$T/data.img"

# --- the same snapshot 10 times in a row: each one counts on from its tick -------------
# (the data drive put back as it was at the snapshot; the TCP peer is gone, so the guest's
# connection breaks: only the console and the disk are checked)
ok=0
for i in $(seq 10); do
	cp "$T/data-at-snapshot.img" "$T/data.img"
	deadline_bg 120 "$K" --restore "$T/diff.state" --mem "$T/full.mem" --resume --no-api >"$T/r$i.out" 2>"$T/r$i.err" </dev/null
	rpid=$!
	# Each goes on exactly as the first restore did: the same first lines.
	if wait_tick "$T/r$i.out" $((at + 3)) &&
		[ "$(tr -d '\r' <"$T/r$i.out" | head -n 2)" = "$(tr -d '\r' <"$T/b.out" | head -n 2)" ]; then
		ok=$((ok + 1))
	else
		echo "  restore $i: $(head -c 300 "$T/r$i.out") $(grep -v diag: "$T/r$i.err" | tail -3)"
	fi
	kill -KILL "$(pgrep -P "$rpid")" 2>/dev/null
	reap "$rpid" 10 >/dev/null 2>&1
done
echo "  10 restores: $ok counted on"
check lab.snapshot.linux_restore_10_times test $ok = 10

# load_refused NAME WORDS [PREFIX...]: a fresh VMM (run through PREFIX) loading the diff
# snapshot must answer 400 with WORDS in the body, then still serve its API, not started.
load_refused() {
	local name=$1 words=$2 code
	shift 2
	rm -f "$S"
	deadline_bg 60 "$@" "$K" --api-sock "$S" >"$T/m.out" 2>"$T/m.err" </dev/null
	mpid=$!
	PIDS+=("$mpid")
	for _ in $(seq 100); do [ -S "$S" ] && break; sleep 0.1; done
	code=$(api PUT /snapshot/load "{\"snapshot_path\": \"$T/diff.state\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$T/full.mem\"}, \"resume_vm\": true}")
	if [ "$code" = 400 ] && grep -qF "$words" "$T/body"; then
		pass "lab.snapshot.$name"
	else
		fail "lab.snapshot.$name" "got $code: $(head -c 300 "$T/body") $(tail -n 3 "$T/m.err")"
	fi
	code=$(curl -s -m 30 -o "$T/body" -w '%{http_code}' --unix-socket "$S" http://localhost/)
	check "lab.snapshot.${name}_still_serving" test "$code" = 200 -a -n "$(grep -o '"state":"Not started"' "$T/body")"
	kill "$mpid" 2>/dev/null
	reap "$mpid" 10 2>/dev/null
}

# --- a drive of the snapshot gone ---
mv "$T/data.img" "$T/data-away.img"
load_refused linux_load_disk_missing "$T/data.img"
mv "$T/data-away.img" "$T/data.img"
# --- its tap gone: made again by TUNSETIFF when the VMM may (root, as Firecracker); not
# without CAP_NET_ADMIN (as a jailed VMM), and then the open fails with the tap's name ---
ip link del "$TAP" 2>/dev/null
load_refused linux_load_tap_missing "$TAP" setpriv --bounding-set -net_admin --inh-caps -net_admin
exit 0
