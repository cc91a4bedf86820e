#!/bin/bash
# Tests of build/kindling on this host's /dev/kvm with tiny freestanding guests (the host's
# KVM emulates CPL 0, so guests stay a few instructions long), plus command-line errors.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
K=build/kindling
G=build/guests
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

# The link put the functions the VMM runs first (Makefile, "Text order"): every one listed in
# scripts/kindling.order lies in the first 60% of the text (in the default order they
# spread to its end; the list is ~40% of it, counting the cold code sharing their sections).
if command -v ld.lld >/dev/null; then
	read -r tstart tsize < <(readelf -SW "$K" | awk '$2 == ".text" { print "0x" $4, "0x" $6 }')
	# nm's addresses are 16 hex digits: compared as strings, those inside .text (not .init's).
	tend=$(printf %016x $((tstart + tsize)))
	last=$(grep -v '^#' scripts/kindling.order | sort -u | join -1 1 -2 2 - <(nm --defined-only "$K" | awk '$2 ~ /^[tTW]$/ { print $1, $3 }' | sort -k2) |
		awk -v end="$tend" '$2 < end { print $2 }' | sort | tail -n 1)
	if [ -n "$last" ] && [ $((0x$last - tstart)) -lt $((tsize * 6 / 10)) ]; then
		pass build.text_order_applied
	else
		fail build.text_order_applied "last listed function at 0x${last:-?}, text 0x$(printf %x $tstart) + 0x$(printf %x $tsize)"
	fi
else
	skip build.text_order_applied "ld.lld is not installed (make deps installs lld)"
fi

# Errors that need no KVM: bad files give one clear line and a non-zero exit.
expect_error cli.not_a_kernel "not a kernel" --kernel /etc/hostname
expect_error cli.missing_kernel "No such file" --kernel /nonexistent/vmlinux
# The flags get the API's checks and words (PUT /boot-source: "... cannot be opened: Is a directory").
expect_error cli.directory_kernel "Is a directory" --kernel /
head -c 100 "$G/hello64.elf" >"$T/trunc.elf"
expect_error cli.truncated_elf "truncated" --kernel "$T/trunc.elf"
head -c 700 "$G/hello64.bzImage" >"$T/trunc.bz"
expect_error cli.truncated_bzimage "truncated" --kernel "$T/trunc.bz"
expect_error cli.unreadable_initrd "No such file" --kernel "$G/hello64.elf" --initrd /nonexistent/initrd
expect_error cli.bad_vcpus "vcpus" --kernel "$G/hello64.elf" --vcpus 33
expect_error cli.bad_mem "mem-mib" --kernel "$G/hello64.elf" --mem-mib 99999999999999999999
# The flags get the API's checks, refused before any VM exists (issue 11).
expect_error cli.duplicate_tap "the tap ktap0 is already used by interface 'net0'" --kernel "$G/hello64.elf" \
	--net tap=ktap0 --net tap=ktap0
expect_error cli.duplicate_mac "The MAC address is already in use: 06:00:00:00:00:01" --kernel "$G/hello64.elf" \
	--net tap=ktap0,mac=06:00:00:00:00:01 --net tap=ktap1,mac=06:00:00:00:00:01
expect_error cli.bad_tap_name "Invalid TUN/TAP Backend" --kernel "$G/hello64.elf" --net tap=a_tap_name_far_too_long
expect_error cli.drive_missing_file "No such file" --kernel "$G/hello64.elf" --drive path=/nonexistent/disk.img
: >"$T/d1.img"
: >"$T/d2.img"
expect_error cli.second_root_drive "A root block device already exists" --kernel "$G/hello64.elf" \
	--drive path="$T/d1.img",root --drive path="$T/d2.img",root
expect_error cli.bad_drive_id "API Resource IDs can only contain" --kernel "$G/hello64.elf" --drive path="$T/d1.img",id=a-b
# (no parameters at all serve Firecracker's /run/firecracker.socket: tests/api/fc_compat.sh)
expect_error cli.no_api_nothing_to_run "needs --config-file" --no-api

if ! kvm_usable; then
	for t in hello64 pvh bzimage smp2 boot_timer_off rtc flood_stalled_stdout sigterm sigusr1_diagnostics triple_fault \
		internal_error_says_where \
		vmm_create_no_boot state_roundtrip state_roundtrip_smp2 restore_run restore_run_smp2 \
		snapshot_counting snapshot_counting_smp2 snapshot_load_paused snapshot_same_three_times \
		snapshot_mem_of_another snapshot_mem_missing snapshot_diff_merged snapshot_diff_alone_refused \
		snapshot_base_gone_after_merge; do
		skip "kvm.$t" "no usable /dev/kvm on this host"
	done
	tests/kvm/snapshot.sh # its cases, skipped with the same reason
	exit 0
fi

# run NAME ARGS...: runs the VMM with a timeout; output in $T/NAME.out/.err, status in $rc.
run() {
	name=$1; shift
	timeout -k 10 "$(scaled 20)" "$K" "$@" >"$T/$name.out" 2>"$T/$name.err" </dev/null
	rc=$?
}

run hello64 --kernel "$G/hello64.elf" --boot-timer
check kvm.hello64 test $rc -eq 0 -a "$(cat "$T/hello64.out")" = KINDLING-HELLO64-OK
check kvm.boot_timer_logged grep -q "boot_to_init_ms [0-9.]* (cpu [0-9.]* ms)" "$T/hello64.err"
check kvm.i8042_reset_clean_exit grep -q "guest reset via the i8042" "$T/hello64.err"

run pvh --kernel "$G/hellopvh.elf" --boot-timer
check kvm.pvh test $rc -eq 0 -a "$(cat "$T/pvh.out")" = KINDLING-PVH-OK
run pvh_forced_linux --kernel "$G/hellopvh.elf" --boot-protocol linux
check kvm.pvh_kernel_via_64bit_entry test $rc -eq 0 -a "$(cat "$T/pvh_forced_linux.out")" = KINDLING-PVH-ENTERED-64
run pvh_missing --kernel "$G/hello64.elf" --boot-protocol pvh
check kvm.pvh_missing_note_refused test $rc -ne 0 -a $rc -lt 128

run bzimage --kernel "$G/hello64.bzImage" --boot-timer
check kvm.bzimage test $rc -eq 0 -a "$(cat "$T/bzimage.out")" = KINDLING-HELLO64-OK

run smp2 --kernel "$G/hello64.elf" --vcpus 2 --mem-mib 256
check kvm.smp2 test $rc -eq 0 -a "$(cat "$T/smp2.out")" = KINDLING-HELLO64-OK

# 3200 MiB: RAM past the 3 GiB MMIO gap goes above 4 GiB. (Not 4096: the setters refuse
# more than the host has, and the lab has 4 GiB.)
run bigmem --kernel "$G/hello64.elf" --mem-mib 3200
check kvm.mem_split_above_4g test $rc -eq 0 -a "$(cat "$T/bigmem.out")" = KINDLING-HELLO64-OK

run notimer --kernel "$G/hello64.elf"
check kvm.boot_timer_off test $rc -eq 0 -a "$(grep -c boot_to_init_ms "$T/notimer.err")" = 0

# The CMOS RTC (issue 16): tests/guests/rtc.S prints what it read: the host's UTC time, a
# status that never shows an update in progress (A ORed over 1000 reads), and A and B as
# they were after the guest wrote them (writes are ignored).
t0=$(date -u +%s)
run rtc --kernel "$G/rtc.elf"
t1=$(date -u +%s)
line=$(grep -a '^KINDLING-RTC ' "$T/rtc.out")
rtc_t=$(date -u -d "$(echo "$line" | cut -d' ' -f2,3)" +%s 2>/dev/null)
if [ $rc -eq 0 ] && [ -n "$rtc_t" ] && [ "$rtc_t" -ge $((t0 - 1)) ] && [ "$rtc_t" -le $((t1 + 1)) ] &&
	[ "$(echo "$line" | cut -d' ' -f4-)" = "A=26 B=02 C=00 D=80 WA=26 WB=02" ]; then
	pass kvm.rtc
else
	fail kvm.rtc "rc=$rc line='$line' host time $t0..$t1 $(head -c 300 "$T/rtc.err")"
fi

# 256 KiB of console output into a pipe nobody reads: the VM must still finish promptly.
start=$(date +%s%N)
( timeout -k 10 "$(scaled 20)" "$K" --kernel "$G/flood.elf" 2>"$T/flood.err" </dev/null; echo $? >"$T/flood.rc" ) | sleep 8
# The pipeline waits for sleep; what matters is how long the VMM itself took (logged below).
frc=$(cat "$T/flood.rc")
if [ "$frc" = 0 ] && grep -q "bytes dropped" "$T/flood.err"; then
	pass kvm.flood_stalled_stdout
else
	fail kvm.flood_stalled_stdout "rc=$frc $(head -c 300 "$T/flood.err")"
fi
# And with a reader, nothing is lost.
timeout -k 10 "$(scaled 20)" "$K" --kernel "$G/flood.elf" </dev/null 2>"$T/flood2.err" | wc -c >"$T/flood2.count"
check kvm.flood_all_delivered test "$(cat "$T/flood2.count")" = 262144

"$K" --kernel "$G/spin.elf" >"$T/spin.out" 2>"$T/spin.err" </dev/null &
pid=$!
for _ in $(seq 50); do grep -q SPIN "$T/spin.out" && break; sleep 0.1; done
# Its threads' stacks are 1 MiB (cli/main.c, set_thread_stacks), not RLIMIT_STACK's size (8
# MiB here), where transparent huge pages could back each with a 2 MiB page: no anonymous
# mapping of RLIMIT_STACK's size, and one of 1 MiB per thread (vCPU, console writer).
lim=$(ulimit -s)
n_lim=0 n_1m=0
while read -r range perms _ _ inode path; do
	[ "$perms" = rw-p ] && [ "$inode" = 0 ] && [ -z "$path" ] || continue
	kib=$(((16#${range#*-} - 16#${range%-*}) / 1024))
	[ "$lim" != unlimited ] && [ $kib = "$lim" ] && n_lim=$((n_lim + 1))
	[ $kib = 1024 ] && n_1m=$((n_1m + 1))
done <"/proc/$pid/maps"
if [ "$lim" = 1024 ] || [ "$lim" = unlimited ]; then
	skip kvm.thread_stacks_1mib "RLIMIT_STACK is $lim KiB here: a default stack would look the same"
else
	check kvm.thread_stacks_1mib test $n_lim = 0 -a $n_1m -ge 1
fi
kill -TERM $pid
for _ in $(seq 100); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
kill -KILL $pid 2>/dev/null   # still there after 10 s: the check below fails
wait $pid
rc=$?
check kvm.sigterm test $rc -eq 143 -a "$(grep -c 'stopped by signal 15' "$T/spin.err")" = 1

# SIGUSR1: every vCPU's state on stderr, and the VM goes on. Two vCPUs: vCPU 0 spins in
# guest mode with interrupts off (it must be kicked out of KVM_RUN to answer), vCPU 1 never
# got a SIPI (it answers from inside KVM_RUN's wait for one).
"$K" --kernel "$G/busy.elf" --vcpus 2 >"$T/busy.out" 2>"$T/busy.err" </dev/null &
pid=$!
for _ in $(seq 50); do grep -q BUSY "$T/busy.out" && break; sleep 0.1; done
spin=$(nm "$G/busy.elf" | awk '$3 == "spin_here" { print $1 }' | sed 's/^0*/0x/')
kill -USR1 $pid
for _ in $(seq 50); do [ "$(grep -c 'diag: vcpu' "$T/busy.err")" -ge 2 ] && break; sleep 0.1; done
kill -USR1 $pid
for _ in $(seq 50); do [ "$(grep -c 'diag: vcpu' "$T/busy.err")" -ge 4 ] && break; sleep 0.1; done
kill -0 $pid 2>/dev/null && alive=yes || alive=no
kill -TERM $pid
for _ in $(seq 100); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
kill -KILL $pid 2>/dev/null
wait $pid
rc=$?
if [ $alive = yes ] && [ $rc = 143 ] && [ "$(grep -c "diag: vcpu0: rip=$spin rflags=0x[0-9a-f]* cr0=0x[0-9a-f]*1 .*mp_state=RUNNABLE; exits io=[0-9]* .*last=" "$T/busy.err")" = 2 ] &&
	[ "$(grep -c 'diag: vcpu1: rip=0x[0-9a-f]* .*mp_state=UNINITIALIZED' "$T/busy.err")" = 2 ]; then
	pass kvm.sigusr1_diagnostics
else
	fail kvm.sigusr1_diagnostics "alive=$alive rc=$rc spin_here=$spin $(grep diag "$T/busy.err" | head -c 600)"
fi

# The lifecycle snapshots build on (build/tests/kvm-state, tests/kvm/state.c): a VM created
# and not booted; a booted VM's KVM state saved, restored into a fresh VM and saved again
# unchanged; and a restored VM that runs, from registers it got only by the restore.
# kst OUT ERR ARGS...: build/tests/kvm-state ARGS under its deadline, stdin /dev/null, stdout
# to $T/OUT, stderr to $T/ERR; its exit status.
kst() {
	out=$1 err=$2; shift 2
	timeout -k 10 "$(scaled 20)" build/tests/kvm-state "$@" >"$T/$out" 2>"$T/$err" </dev/null
}
# state NAME WANT ARGS...: runs kvm-state ARGS; PASS on exit 0 with stdout WANT.
state() {
	name=$1 want=$2; shift 2
	kst "$name.out" "$name.err" "$@"
	rc=$?
	if [ $rc -eq 0 ] && [ "$(cat "$T/$name.out")" = "$want" ]; then
		pass "kvm.$name"
	else
		fail "kvm.$name" "rc=$rc $(head -c 300 "$T/$name.out") $(head -c 600 "$T/$name.err")"
	fi
}
state vmm_create_no_boot "" create
state state_roundtrip "" roundtrip "$G/hello64.elf" 1
state state_roundtrip_smp2 "" roundtrip "$G/hello64.elf" 2
state restore_run KINDLING-HELLO64-OK restore-run "$G/hello64.elf" 1
state restore_run_smp2 KINDLING-HELLO64-OK restore-run "$G/hello64.elf" 2

# Snapshots of a guest that counts to 60 in RAM (count.S): the VMM that took the snapshot
# printed COUNT 01..k, the one that loads it must go on from there, the two outputs together
# exactly the whole count (a line cut by the pause goes on where it stopped).
seq -f 'COUNT %02g' 1 60 >"$T/count.want"
# snapshot NAME VCPUS: snap-create after 300 ms; $T/NAME.{state,mem,a.out}
snapshot() {
	kst "$1.a.out" "$1.a.err" snap-create "$G/count.elf" "$2" 300 "$T/$1.state" "$T/$1.mem"
}
# counted NAME RC: PASS if the load exited 0 and a.out + b.out are the whole count.
counted() {
	if [ "$2" -eq 0 ] && cat "$T/$1.a.out" "$T/$1.b.out" | cmp -s - "$T/count.want" &&
		[ -s "$T/$1.a.out" ] && [ "$(wc -l <"$T/$1.a.out")" -lt 60 ]; then
		pass "kvm.$1"
	else
		fail "kvm.$1" "rc=$2 a=$(tail -c 40 "$T/$1.a.out" | tr '\n' ' ') b=$(head -c 40 "$T/$1.b.out" | tr '\n' ' ') $(head -c 400 "$T/$1.a.err" "$T/$1.b.err")"
	fi
}
for n in 1 2; do
	name=snapshot_counting; [ $n = 2 ] && name=snapshot_counting_smp2
	snapshot $name $n
	kst "$name.b.out" "$name.b.err" snap-load "$T/$name.state" "$T/$name.mem"
	counted $name $?
done
cp "$T/snapshot_counting.a.out" "$T/snapshot_load_paused.a.out"
kst "snapshot_load_paused.b.out" "snapshot_load_paused.b.err" snap-load "$T/snapshot_counting.state" "$T/snapshot_counting.mem" paused
counted snapshot_load_paused $?
# The same snapshot, three times in a row: the files are not changed by a restore.
ok=0
for i in 1 2 3; do
	kst "again.out" "again.err" snap-load "$T/snapshot_counting.state" "$T/snapshot_counting.mem" &&
		cat "$T/snapshot_counting.a.out" "$T/again.out" | cmp -s - "$T/count.want" && ok=$((ok + 1))
done
check kvm.snapshot_same_three_times test $ok = 3
# A memory file from another snapshot, and none at all: refused, nothing runs.
kst "other.out" "other.err" snap-load "$T/snapshot_counting.state" "$T/snapshot_counting_smp2.mem"
rc=$?
check kvm.snapshot_mem_of_another test $rc = 1 -a ! -s "$T/other.out" -a "$(grep -c 'another snapshot' "$T/other.err")" = 1
kst "none.out" "none.err" snap-load "$T/snapshot_counting.state" "$T/nonexistent.mem"
rc=$?
check kvm.snapshot_mem_missing test $rc = 1 -a ! -s "$T/none.out" -a "$(grep -c 'No such file' "$T/none.err")" = 1

# Full -> Diff -> merge -> restore: the chain goes on from the Diff's point.
kst "snapshot_diff_merged.a.out" "chain.err" snap-chain "$G/count.elf" 2 150 "$T/c1.state" "$T/c1.mem" "$T/c2.state" \
	"$T/c2.mem"
crc=$?
kst "alone.out" "alone.err" snap-load "$T/c2.state" "$T/c2.mem"
rc=$?
check kvm.snapshot_diff_alone_refused test $crc = 0 -a $rc = 1 -a ! -s "$T/alone.out" -a "$(grep -c 'is a diff' "$T/alone.err")" = 1
"$K" snapshot merge "$T/c1.mem" "$T/c2.mem" 2>>"$T/chain.err"
kst "snapshot_diff_merged.b.out" "snapshot_diff_merged.b.err" snap-load "$T/c2.state" "$T/c1.mem"
counted snapshot_diff_merged $?
kst "gone.out" "gone.err" snap-load "$T/c1.state" "$T/c1.mem"
rc=$?
check kvm.snapshot_base_gone_after_merge test $rc = 1 -a "$(grep -c 'another snapshot' "$T/gone.err")" = 1

run triple --kernel "$G/triple.elf"
if [ $rc -ne 0 ] && [ $rc -lt 124 ] && grep -q "triple fault\|internal error" "$T/triple.err"; then
	pass kvm.triple_fault
else
	fail kvm.triple_fault "rc=$rc $(head -c 300 "$T/triple.err")"
fi
# A jump into guest-physical memory nothing backs: KVM cannot emulate the fetch. The VMM
# stops with status 1 and says which error, KVM's data and where the vCPU was.
run nomem_jump --kernel "$G/nomem_jump.elf"
if [ $rc = 1 ] && grep -q "KVM internal error, suberror 1 (emulation failure), data \[.*\]; rip=0xe0000000 " \
	"$T/nomem_jump.err"; then
	pass kvm.internal_error_says_where
else
	fail kvm.internal_error_says_where "rc=$rc $(grep -m1 'VM stopped' "$T/nomem_jump.err" | head -c 400)"
fi
# Snapshots through the API and --restore, on the same tiny guests.
tests/kvm/snapshot.sh
exit 0
