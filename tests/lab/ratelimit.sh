#!/bin/bash
# Rate limiters (issue 15) end to end, run inside the KVM lab (tests/lab/run): one Linux
# guest with a tap and two data drives, steered over a control connection, while the host
# PATCHes its limiters over the API socket. Firecracker's performance tests at v1.7.0 are the
# model (test_rate_limiter.py: TX and RX with and without a one-time burst, a limiter added,
# changed and removed by PATCH, the CPU load under an RX flood; test_drive_rate_limiter.py:
# 100, 200 and 1000 ops per 100 ms). Every figure is printed, for quoting.
#   block: 4 KiB O_DIRECT random reads (benches/iotool randread) of 16 N operations under an
#     ops bucket of N per 100 ms must take (16 N - N) / (10 N/s) = 1.5 s, within 0.7-1.3x (the
#     bucket starts full: its N operations pass at once, Firecracker's dd test does not count
#     them). N = 100, 200, 1000, each divided by the lab's scale (below).
#   net: TCP through the limited direction (guest -> host, then host -> guest), the rate
#     measured by the receiver (iotool meter) once the bucket's size and any burst have
#     passed, within 10% of size / 100 ms; a 50x one-time burst must pass in less than half
#     the time the rate alone would take; after a PATCH halving the size, within 10% of half;
#     the limiter removed by PATCH, at least 1.5x the limited rate (Firecracker's check).
#   flood: UDP from the host as fast as it can for 5 s at an RX limit of 64 KiB per 100 ms:
#     the VMM under 20% of one CPU over the flood (utime + stime of all its threads less the
#     guest_time its vCPUs spent running the guest, /proc/PID/stat), and its event-loop
#     thread (Firecracker's check) too; the guest got no more than the limit lets through.
# Scale: the lab is QEMU TCG with nested KVM, and cannot carry the issue's 10 MiB per 100 ms
# (100 MiB/s) or 10000 ops/s with room to spare. So the host first measures the unlimited
# path (the `free` drive, the interface before any limiter) and divides: the bucket size by
# 2 until the lab carries 6x the limited rate (a 50x burst must visibly beat the rate: at 3x
# a later transfer's capacity, down a third from the one measured here, left the burst at
# exactly half the rate's time in a CI run), the
# ops by 1, 2, 5, 10 or 20 until it carries 2x. The refill time (100 ms), the burst (50x the
# size) and the tolerances stay. The chosen scale is printed; a lab too slow for the smallest
# fails (lab.ratelimit.*_lab_capacity), it is never skipped.
#   tests/lab/run -- tests/lab/ratelimit.sh        (e2e.sh runs it after virtio.sh)
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
export LC_ALL=C # awk and printf with a decimal point
K=build/kindling
KERNEL=build/guest/vmlinux
T=$(mktemp -d)
TAP=kvr0
HOST=10.79.0.1
GUEST=10.79.0.2
VPID=
cleanup() {
	exec 3>&-
	[ -n "$VPID" ] && { kill "$VPID" 2>/dev/null; reap "$VPID" 5 2>/dev/null; }
	ip link del "$TAP" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

if ! kvm_usable; then
	skip lab.ratelimit "no /dev/kvm inside the lab"
	exit 0
fi
PATH=$PATH:/sbin:/usr/sbin
for tool in mkfs.ext4 busybox gcc curl; do
	if ! command -v $tool >/dev/null; then
		skip lab.ratelimit "$tool is not installed"
		exit 0
	fi
done
if ! gcc -static -O2 -o "$T/iotool" benches/iotool.c 2>"$T/gcc.err"; then
	skip lab.ratelimit "cannot build a static iotool: $(head -c 200 "$T/gcc.err")"
	exit 0
fi
if ! ip tuntap add dev "$TAP" mode tap vnet_hdr 2>"$T/tap.err" || ! ip addr add $HOST/24 dev "$TAP" ||
	! ip link set "$TAP" up; then
	skip lab.ratelimit "cannot make a tap: $(cat "$T/tap.err")"
	exit 0
fi
BASE="console=ttyS0 reboot=k panic=1 pci=off nomodule i8042.noaux i8042.nomux i8042.dumbkbd tsc=reliable no_timer_check quiet"

# --- the guest: init listens for one control connection; the worker answers one line per
# command (its stdin and stdout are that connection, busybox nc -e).
mkdir -p "$T/root/t" "$T/root/bin"
cp "$T/iotool" "$T/root/bin/iotool"
cat >"$T/root/t/rl.sh" <<'EOF'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /tmp
ip link set lo up
for d in /sys/block/vd*; do echo "$(cat $d/serial) /dev/${d##*/}"; done >/tmp/disks
echo KR-LISTENING
nc -l -p 7200 -e /t/worker.sh
echo KR-DONE
reboot -f
EOF
cat >"$T/root/t/worker.sh" <<EOF
#!/bin/sh
# tx MIB: send MIB MiB to the host's meter. rx SKIP_KIB: meter what the host sends.
# rand DRIVE COUNT: random reads -> IOPS. rxbytes: eth0's received bytes. end.
while read -r cmd a b; do
	case \$cmd in
	tx) iotool source $HOST 7201 "\$a" >/dev/null 2>&1 && echo ok || echo failed ;;
	rx) echo "\$(iotool meter 7202 "\$a" 2>&1)" ;;
	rand) echo "\$(iotool randread "\$(awk -v id="\$a" '\$1 == id { print \$2 }' /tmp/disks)" "\$b" 2>&1)" ;;
	rxbytes) cat /sys/class/net/eth0/statistics/rx_bytes ;;
	end) exit 0 ;;
	*) echo "unknown command \$cmd" ;;
	esac
done
EOF
chmod 755 "$T"/root/t/*.sh
guest/mkrootfs.sh -s 64 "$T/root.img" "$T/root"
truncate -s 256M "$T/limited.img" "$T/free.img"
touch "$T/metrics.ndjson"

# --- the VMM, configured over its API socket ------------------------------------------------
S=$T/api.sock
# 600 s, not 120: ~20 timed transfers and read runs, each a few seconds at the chosen rates,
# through TCG (the lab's watchdog still sees a line from every phase).
deadline_bg 600 "$K" --api-sock "$S" >"$T/vm.out" 2>"$T/vm.err" </dev/null
VPID=$!
for _ in $(seq 100); do [ -S "$S" ] && break; sleep 0.1; done
# api METHOD PATH [BODY]: the status code; the body in $T/api.body.
api() { curl -s -m 30 -o "$T/api.body" -w '%{http_code}' --unix-socket "$S" -X "$1" "http://localhost$2" ${3:+-d "$3"}; }
# api_patch NAME PATH BODY: a PATCH that must answer 204 (its own case).
api_patch() {
	local code
	code=$(api PATCH "$2" "$3")
	if [ "$code" = 204 ]; then pass "lab.ratelimit.$1"; else fail "lab.ratelimit.$1" "PATCH $2 $3: $code $(head -c 300 "$T/api.body")"; fi
}
MIB=1048576
codes="$(api PUT /boot-source "{\"kernel_image_path\": \"$PWD/$KERNEL\", \"boot_args\": \"$BASE init=/t/rl.sh ip=$GUEST::$HOST:255.255.255.0::eth0:off\"}")"
codes="$codes $(api PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 256}')"
codes="$codes $(api PUT /metrics "{\"metrics_path\": \"$T/metrics.ndjson\"}")"
codes="$codes $(api PUT /drives/rootfs "{\"drive_id\": \"rootfs\", \"path_on_host\": \"$T/root.img\", \"is_root_device\": true, \"is_read_only\": true}")"
# test_patch_drive_limiter's drive: 10 MiB and 100 ops per 100 ms.
codes="$codes $(api PUT /drives/limited "{\"drive_id\": \"limited\", \"path_on_host\": \"$T/limited.img\", \"is_root_device\": false, \"is_read_only\": true, \"rate_limiter\": {\"bandwidth\": {\"size\": $((10 * MIB)), \"refill_time\": 100}, \"ops\": {\"size\": 100, \"refill_time\": 100}}}")"
codes="$codes $(api PUT /drives/free "{\"drive_id\": \"free\", \"path_on_host\": \"$T/free.img\", \"is_root_device\": false, \"is_read_only\": true}")"
codes="$codes $(api PUT /network-interfaces/net0 "{\"iface_id\": \"net0\", \"host_dev_name\": \"$TAP\", \"guest_mac\": \"02:4b:4e:00:00:07\"}")"
codes="$codes $(api PUT /actions '{"action_type": "InstanceStart"}')"
if [ "$codes" != "204 204 204 204 204 204 204 204" ]; then
	fail lab.ratelimit.configured "http codes $codes: $(head -c 300 "$T/api.body")"
	tail -n 10 "$T/vm.err"
	exit 0
fi
pass lab.ratelimit.configured

# The control connection: ctl COMMAND... sends one line and sets $ans to the answer.
for _ in $(seq 600); do
	{ exec 3<>/dev/tcp/$GUEST/7200; } 2>/dev/null && break
	running "$(pgrep -P "$VPID" | head -n 1)" || break
	sleep 0.2
done
if ! { true >&3; } 2>/dev/null; then
	fail lab.ratelimit.control "the guest never took the control connection"
	show_oops "$T/vm.out"; tail -n 20 "$T/vm.out"; tail -n 10 "$T/vm.err"
	exit 0
fi
ctl() {
	ans=
	echo "$*" >&3 && read -r -t 300 ans <&3
}
vmm_pid=$(pgrep -P "$VPID" | head -n 1)
# ratio A B: A / B with 3 decimals. within LO HI A B: LO <= A/B <= HI.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'; }
within() { awk -v lo="$1" -v hi="$2" -v a="$3" -v b="$4" 'BEGIN { r = b > 0 ? a / b : -1; exit !(r >= lo && r <= hi) }'; }

# --- block: test_patch_drive_limiter's 100, 200 and 1000 ops per 100 ms ----------------------
ctl rand free 4000
base_iops=${ans%%.*}
echo "  blk: the unlimited drive did $ans random 4 KiB reads/s"
div=
for d in 1 2 5 10 20; do
	case $base_iops in '' | *[!0-9]*) break ;; esac
	[ "$base_iops" -ge $((2 * 10000 / d)) ] && { div=$d; break; }
done
if [ -z "$div" ]; then
	fail lab.ratelimit.blk_lab_capacity "the unlimited drive did '$ans' reads/s: less than 2x 500 ops/s, the smallest scale"
else
	pass lab.ratelimit.blk_lab_capacity
	echo "  blk: ops limits divided by $div (the lab needs 2x the highest rate, $((10000 / div)) ops/s)"
	# blk_run N: 16 N reads at N ops per 100 ms -> lab.ratelimit.blk_ops_N
	blk_run() {
		local n=$1 count=$(($1 * 16)) secs
		ctl rand limited $count
		secs=$(awk -v c=$count -v i="$ans" 'BEGIN { if (i > 0) printf "%.3f", c / i; else print "none" }')
		echo "  blk: $count reads at $n ops per 100 ms: $secs s ($ans reads/s; expected 1.500 s, 0.7-1.3x)"
		if [ "$secs" != none ] && within 0.7 1.3 "$secs" 1.5; then
			pass "lab.ratelimit.blk_ops_$n"
		else
			fail "lab.ratelimit.blk_ops_$n" "$secs s for $count reads, expected 1.5 s (1.05-1.95); answer '$ans'"
		fi
	}
	# As Firecracker: the limiter given at PUT, then PATCHed with both buckets, then the
	# ops bucket alone (the bandwidth bucket, 100 MiB per 100 ms, stays).
	[ "$div" = 1 ] || api_patch blk_patch_scaled /drives/limited "{\"drive_id\": \"limited\", \"rate_limiter\": {\"bandwidth\": {\"size\": $((10 * MIB)), \"refill_time\": 100}, \"ops\": {\"size\": $((100 / div)), \"refill_time\": 100}}}"
	blk_run $((100 / div))
	api_patch blk_patch_200 /drives/limited "{\"drive_id\": \"limited\", \"rate_limiter\": {\"bandwidth\": {\"size\": $((100 * MIB)), \"refill_time\": 100}, \"ops\": {\"size\": $((200 / div)), \"refill_time\": 100}}}"
	blk_run $((200 / div))
	api_patch blk_patch_1000 /drives/limited "{\"drive_id\": \"limited\", \"rate_limiter\": {\"ops\": {\"size\": $((1000 / div)), \"refill_time\": 100}}}"
	blk_run $((1000 / div))
fi

# --- net: TX (guest -> host) and RX (host -> guest) --------------------------------------------
# stop_helper PID: a host-side iotool under `timeout` gets 30 s to end, then SIGTERM, which
# timeout passes on (reap's SIGKILL would end timeout and leave iotool running).
stop_helper() {
	for _ in $(seq 300); do running "$1" || break; sleep 0.1; done
	kill "$1" 2>/dev/null
	wait "$1"
}
# transfer DIR MIB SKIP_BYTES: MIB MiB through DIR; sets $m_skip (seconds until SKIP_BYTES
# had arrived), $m_bytes and $m_secs (what came after), $m_rate (bytes/s after), as measured
# by the receiving iotool meter.
transfer() {
	local dir=$1 mib=$2 skip_kib=$(($3 / 1024)) src
	m_skip= m_bytes= m_secs= m_rate=0
	if [ "$dir" = tx ]; then
		timeout 300 "$T/iotool" meter 7201 "$skip_kib" >"$T/meter" 2>&1 &
		src=$!
		ctl tx "$mib"
		[ "$ans" = ok ] || echo "  net: the guest's sender said '$ans'"
		stop_helper "$src"
		read -r m_skip m_bytes m_secs <"$T/meter"
	else
		timeout 300 "$T/iotool" source $GUEST 7202 "$mib" >/dev/null 2>"$T/source.err" &
		src=$!
		ctl rx "$skip_kib"
		stop_helper "$src"
		read -r m_skip m_bytes m_secs <<<"$ans"
	fi
	case $m_bytes in '' | *[!0-9]*) echo "  net: $dir transfer failed: '$(cat "$T/meter" 2>/dev/null)' '$ans'"; m_bytes=0 m_secs=0 ;; esac
	m_rate=$(awk -v b="$m_bytes" -v s="$m_secs" 'BEGIN { printf "%.0f", (s > 0 ? b / s : 0) }')
}
mibs() { echo $((($1 + MIB - 1) / MIB)); } # bytes -> whole MiB, rounded up
fmt() { awk -v r="$1" 'BEGIN { printf "%.2f MiB/s", r / 1048576 }'; }
limiter() { # limiter DIR SIZE [BURST]: a PATCH body for net0's DIR limiter
	echo "{\"iface_id\": \"net0\", \"${1}_rate_limiter\": {\"bandwidth\": {\"size\": $2,${3:+ \"one_time_burst\": $3,} \"refill_time\": ${4:-100}}}}"
}

transfer tx 40 $((8 * MIB))
base_tx=$m_rate
transfer rx 40 $((8 * MIB))
base_rx=$m_rate
echo "  net: unlimited, after the first 8 MiB of 40: TX $(fmt "$base_tx"), RX $(fmt "$base_rx")"
base=$((base_tx < base_rx ? base_tx : base_rx))
size=
for k in 0 1 2 3 4 5 6; do
	[ "$base" -ge $((6 * 10 * (10 * MIB >> k))) ] && { size=$((10 * MIB >> k)); break; }
done
if [ -z "$size" ]; then
	fail lab.ratelimit.net_lab_capacity "unlimited TX $(fmt "$base_tx"), RX $(fmt "$base_rx"): less than 6x $(fmt $((10 * (10 * MIB >> 6)))), the smallest scale"
else
	pass lab.ratelimit.net_lab_capacity
	rate=$((size * 10))
	echo "  net: bucket size $size bytes per 100 ms ($(fmt $rate)); the issue's 10485760 divided by $((10 * MIB / size))"
	for dir in tx rx; do
		# 1. A limiter added by PATCH to an interface that had none: 3 s at the rate after
		# the bucket's size (and one more refill) passed.
		api_patch net_${dir}_patch_add /network-interfaces/net0 "$(limiter $dir $size)"
		transfer $dir "$(mibs $((32 * size)))" $((2 * size))
		echo "  net: $dir at $size per 100 ms: $(fmt "$m_rate") after $((2 * size)) bytes ($m_bytes bytes in $m_secs s): $(ratio "$m_rate" $rate)x the rate"
		if within 0.9 1.1 "$m_rate" $rate; then pass lab.ratelimit.net_${dir}_rate; else
			fail lab.ratelimit.net_${dir}_rate "$(fmt "$m_rate"), want $(fmt $rate) +-10%"; fi
		# 2. With a 50x one-time burst: the burst at the lab's speed, then the rate.
		api_patch net_${dir}_patch_burst /network-interfaces/net0 "$(limiter $dir $size $((50 * size)))"
		transfer $dir "$(mibs $((82 * size)))" $((52 * size))
		no_burst=$(awk -v s="$size" -v r="$rate" 'BEGIN { printf "%.3f", 51 * s / r }')
		echo "  net: $dir with a burst of $((50 * size)): the first $((52 * size)) bytes in $m_skip s (${no_burst} s at the rate alone), then $(fmt "$m_rate"): $(ratio "$m_rate" $rate)x the rate"
		if awk -v t="$m_skip" -v n="$no_burst" 'BEGIN { exit !(t != "" && t < n / 2) }'; then
			pass lab.ratelimit.net_${dir}_burst_fast
		else
			fail lab.ratelimit.net_${dir}_burst_fast "the burst took ${m_skip:-?} s, want under half of $no_burst s"
		fi
		if within 0.9 1.1 "$m_rate" $rate; then pass lab.ratelimit.net_${dir}_rate_after_burst; else
			fail lab.ratelimit.net_${dir}_rate_after_burst "$(fmt "$m_rate"), want $(fmt $rate) +-10%"; fi
		# 3. Halved by PATCH.
		api_patch net_${dir}_patch_half /network-interfaces/net0 "$(limiter $dir $((size / 2)))"
		transfer $dir "$(mibs $((16 * size)))" $((size))
		echo "  net: $dir at $((size / 2)) per 100 ms: $(fmt "$m_rate"): $(ratio "$m_rate" $((rate / 2)))x the rate"
		if within 0.9 1.1 "$m_rate" $((rate / 2)); then pass lab.ratelimit.net_${dir}_rate_halved; else
			fail lab.ratelimit.net_${dir}_rate_halved "$(fmt "$m_rate"), want $(fmt $((rate / 2))) +-10%"; fi
		# 4. Removed by PATCH (size 0): at least 1.5x the limited rate (Firecracker's check).
		api_patch net_${dir}_patch_remove /network-interfaces/net0 "$(limiter $dir 0 "" 0)"
		transfer $dir 40 $((8 * MIB))
		echo "  net: $dir with the limiter removed: $(fmt "$m_rate")"
		if within 1.5 1000000 "$m_rate" $rate; then pass lab.ratelimit.net_${dir}_removed; else
			fail lab.ratelimit.net_${dir}_removed "$(fmt "$m_rate"), want over 1.5x $(fmt $rate)"; fi
	done
fi

# --- an RX flood at 64 KiB per 100 ms: no busy polling ------------------------------------------
# cpu_ticks FILE: utime + stime of a /proc stat file (fields 14 and 15; the name may hold
# spaces); guest_ticks FILE: its guest_time (field 43), the part of utime its vCPU threads
# spent running the guest's own code, which is the guest's work, not the VMM's.
cpu_ticks() { sed 's/.*) //' "$1" | awk '{ print $12 + $13 }'; }
guest_ticks() { sed 's/.*) //' "$1" | awk '{ print $41 }'; }
hz=$(getconf CLK_TCK)
# cpu_window SECONDS: CPU use over SECONDS, in % of one CPU: $cpu_proc (the VMM process,
# the guest's time on its vCPUs included), $cpu_guest (that guest time), $cpu_vmm (the
# VMM's own: the process less the guest time), $cpu_main (the main thread, its event loop).
cpu_window() {
	local p0 g0 m0 p1 g1 m1 t0 t1
	p0=$(cpu_ticks /proc/$vmm_pid/stat) g0=$(guest_ticks /proc/$vmm_pid/stat)
	m0=$(cpu_ticks /proc/$vmm_pid/task/$vmm_pid/stat) t0=$(date +%s%N)
	sleep "$1"
	p1=$(cpu_ticks /proc/$vmm_pid/stat) g1=$(guest_ticks /proc/$vmm_pid/stat)
	m1=$(cpu_ticks /proc/$vmm_pid/task/$vmm_pid/stat) t1=$(date +%s%N)
	pct() { awk -v d="$1" -v hz="$hz" -v ns=$((t1 - t0)) 'BEGIN { printf "%.1f", d / hz * 1e9 / ns * 100 }'; }
	cpu_proc=$(pct $((p1 - p0)))
	cpu_guest=$(pct $((g1 - g0)))
	cpu_vmm=$(pct $((p1 - p0 - (g1 - g0))))
	cpu_main=$(pct $((m1 - m0)))
}
flood_limit=65536
api_patch rx_flood_patch /network-interfaces/net0 "$(limiter rx $flood_limit)"
ctl rxbytes
rx0=$ans t_rx0=$(date +%s%N)
cpu_window 3
echo "  flood: idle, the VMM used $cpu_vmm% of a CPU (its event-loop thread $cpu_main%; the guest $cpu_guest%)"
timeout 60 "$T/iotool" flood $GUEST 9 6 >"$T/flood" 2>&1 &
fpid=$!
sleep 0.5
cpu_window 5
stop_helper $fpid
sleep 3 # what the tap still holds drains at the limit
ctl rxbytes
rx1=$ans t_rx1=$(date +%s%N)
pps=$(cat "$T/flood")
api PUT /actions '{"action_type": "FlushMetrics"}' >/dev/null
echo "  flood: $pps datagrams/s of 1400 bytes offered for 6 s; the VMM used $cpu_vmm% of a CPU over 5 s of it" \
	"(its event-loop thread $cpu_main%), and the guest on its vCPU $cpu_guest% more (process $cpu_proc%);" \
	"$(sed -n 's/.*"rx_event_rate_limiter_count":\([0-9]*\).*/\1/p' "$T/metrics.ndjson" | tail -n 1) RX limiter timer events"
# The limit passes ~450 such frames a second: a flood of under 5x that would test little.
check lab.ratelimit.rx_flood_offered awk -v p="$pps" -v l="$flood_limit" 'BEGIN { exit !(p + 0 >= 5 * l * 10 / 1454) }'
# The VMM's own work, all its threads (the guest's time on its vCPUs is the guest's, and
# bounded by the limit), and its event-loop thread alone (Firecracker's check).
check lab.ratelimit.rx_flood_vmm_cpu awk -v c="$cpu_vmm" 'BEGIN { exit !(c < 20) }'
check lab.ratelimit.rx_flood_event_loop_cpu awk -v c="$cpu_main" 'BEGIN { exit !(c < 20) }'
admitted=$(awk -v a="$rx0" -v b="$rx1" 'BEGIN { print b - a }')
allowed=$(awk -v l=$flood_limit -v ns=$((t_rx1 - t_rx0)) 'BEGIN { printf "%.0f", l + l * 10 * ns / 1e9 * 1.1 }')
echo "  flood: the guest received $admitted bytes in $(awk -v ns=$((t_rx1 - t_rx0)) 'BEGIN { printf "%.1f", ns / 1e9 }') s (the limit allows $allowed with 10%)"
if [ "${admitted:-0}" -gt 0 ] && [ "$admitted" -le "$allowed" ]; then pass lab.ratelimit.rx_flood_limited; else
	fail lab.ratelimit.rx_flood_limited "received '$admitted' bytes, allowed $allowed"; fi

ctl end
stop_helper "$VPID"
rc=$?
VPID=
check lab.ratelimit.guest_finished test "$rc" = 0 -a -n "$(grep '^KR-DONE' "$T/vm.out")"
[ "$rc" = 0 ] || { show_oops "$T/vm.out"; tail -n 20 "$T/vm.out"; grep -v 'kindling: diag:' "$T/vm.err" | tail -n 10; show_deadline ratelimit "$rc" "$T/vm.err"; }
exit 0
