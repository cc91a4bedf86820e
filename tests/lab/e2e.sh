#!/bin/bash
# End-to-end tests run inside the KVM lab (tests/lab/run): the real guest kernel booted by
# build/kindling on the lab's /dev/kvm.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
K=build/kindling
INITRD=build/guest/test-initramfs.cpio.gz
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

if ! kvm_usable; then
	skip lab.all "no /dev/kvm inside the lab"
	exit 0
fi
l1_tsc_check

# boot NAME KERNEL ARGS...: boots with the test initramfs; output in $T/NAME.{out,err}.
boot() {
	name=$1 kernel=$2; shift 2
	start=$(date +%s%N)
	deadline "${LIMIT:-120}" "$K" --kernel "$kernel" --initrd "$INITRD" --boot-timer "$@" \
		>"$T/$name.out" 2>"$T/$name.err" </dev/null
	rc=$?
	ms=$((($(date +%s%N) - start) / 1000000))
	echo "  $name: exit $rc in ${ms} ms; $(grep -o 'boot_to_init_ms [0-9.]*' "$T/$name.err")"
}

# expect_boot NAME CPUS: the marker with the CPU count, exit 0, boot time logged.
expect_boot() {
	name=$1 cpus=$2
	if [ "$rc" -eq 0 ] && grep -q "^KINDLING-BOOT-OK cpus=$cpus" "$T/$name.out" &&
		grep -q 'boot_to_init_ms [0-9.]*' "$T/$name.err"; then
		pass "lab.$name"
	else
		fail "lab.$name" "rc=$rc"
		show_oops "$T/$name.out"
		echo "--- stdout (tail)"; tail -n 30 "$T/$name.out"
		echo "--- stderr (tail)"; grep -v 'kindling: diag:' "$T/$name.err" | tail -n 10
		show_deadline "$name" "$rc" "$T/$name.err"
	fi
}

boot vmlinux build/guest/vmlinux
expect_boot vmlinux 1
boot vmlinux_pvh build/guest/vmlinux --boot-protocol pvh
expect_boot vmlinux_pvh 1
boot vmlinux_linux64 build/guest/vmlinux --boot-protocol linux
expect_boot vmlinux_linux64 1
boot bzimage build/guest/bzImage
expect_boot bzimage 1
boot smp2 build/guest/vmlinux --vcpus 2
expect_boot smp2 2
boot smp2_bzimage build/guest/bzImage --vcpus 2 --mem-mib 256
expect_boot smp2_bzimage 2

# No silent second-long waits (issue 16 part 5). Without kvmclock, Linux takes the time of
# day from the CMOS RTC (mach_get_cmos_time -> mc146818_get_time, which polls register A for
# up to 1000 ms while it shows an update in progress). With no RTC answering, port 0x71 read
# all-ones, UIP set: the boot waited that whole second, said "Unable to read current time from
# RTC" (an error: printed despite quiet) and ran in 1970. Now: no such line, the guest's clock
# (`clock:`, tests/guests/boot-init.c) is the host's, with kvmclock and without, and a boot
# without kvmclock takes less than a second longer than one with it (best of up to three
# pairs of boots: emulation makes single boots noisy, a real one-second wait stays).
default_args=$("$K" --help 2>&1 | sed -n 's/^Default command line: "\(.*\)"$/\1/p')
guest_clock() { sed -n 's/^clock: \([0-9]*\).*/\1/p' "$T/$1.out" | head -n 1; }
# clock_ok NAME T0 T1: the guest's clock within the host's T0..T1 (seconds; the RTC has whole
# seconds, and its reading is truncated).
clock_ok() {
	c=$(guest_clock "$1")
	echo "  $1: guest clock ${c:-none}, host $2..$3"
	[ -n "$c" ] && [ "$c" -ge $(($2 - 2)) ] && [ "$c" -le $(($3 + 2)) ]
}
bt_ms() { sed -n 's/.*boot_to_init_ms \([0-9]*\).*/\1/p' "$T/$1.err" | head -n 1; }
ref_ms= nok_ms=
for try in 1 2 3; do
	sfx=${try#1}
	c0=$(date +%s)
	boot "clockref$sfx" build/guest/vmlinux
	c1=$(date +%s)
	[ "$try" = 1 ] && { ref_rc=$rc ref_t0=$c0 ref_t1=$c1; }
	c0=$(date +%s)
	boot "nokvmclock$sfx" build/guest/vmlinux --cmdline "$default_args no-kvmclock"
	c1=$(date +%s)
	if [ "$try" = 1 ]; then
		expect_boot nokvmclock 1
		nok_t0=$c0 nok_t1=$c1
	fi
	r=$(bt_ms "clockref$sfx") n=$(bt_ms "nokvmclock$sfx")
	[ -n "$r" ] && { [ -z "$ref_ms" ] || [ "$r" -lt "$ref_ms" ]; } && ref_ms=$r
	[ -n "$n" ] && { [ -z "$nok_ms" ] || [ "$n" -lt "$nok_ms" ]; } && nok_ms=$n
	[ -n "$ref_ms" ] && [ -n "$nok_ms" ] && [ "$nok_ms" -lt $((ref_ms + 1000)) ] && break
done
echo "  boot_to_init_ms (best of $try): $ref_ms with kvmclock, $nok_ms without"
check lab.nokvmclock_boot_not_a_second_longer test -n "$ref_ms" -a -n "$nok_ms" -a "${nok_ms:-0}" -lt $((${ref_ms:-0} + 1000))
if grep -aq "Unable to read current time from RTC" "$T/nokvmclock.out"; then
	fail lab.nokvmclock_rtc_read "the guest could not read the RTC"
else
	pass lab.nokvmclock_rtc_read
fi
check lab.nokvmclock_clock clock_ok nokvmclock "$nok_t0" "$nok_t1"
# l1_kvmclock_broken: whether this L1's KVM gives every guest a wrong kvmclock, kindling's or
# not: the same kernel and initramfs under QEMU (microvm, no RTC: its clock is kvmclock's) must
# then be off too. Seen once (2026-12-07, tests/lab/README.md "Open too"): kindling's kvmclock
# guest 9 s ahead of L1, the RTC guest right, and from then on most L2 guests' timers dead, so
# that ~20 tests ran into their deadlines. Says why on stderr in the words lab_infra_failure
# (tests/lib.sh) knows.
l1_kvmclock_broken() {
	local c0 c1 c
	command -v qemu-system-x86_64 >/dev/null || return 1
	c0=$(date +%s)
	deadline 120 qemu-system-x86_64 -M microvm,x-option-roms=off,rtc=off,isa-serial=on,acpi=off -enable-kvm \
		-cpu host -m 256 -smp 1 -nodefaults -no-user-config -nographic -serial stdio -no-reboot \
		-kernel build/guest/vmlinux -initrd "$INITRD" -append "console=ttyS0 reboot=t panic=1 pci=off quiet" \
		>"$T/qclock.out" 2>&1 </dev/null
	c1=$(date +%s)
	c=$(guest_clock qclock)
	echo "  qclock (QEMU, kvmclock): guest clock ${c:-none}, host $c0..$c1"
	[ -n "$c" ] && { [ "$c" -lt $((c0 - 2)) ] || [ "$c" -gt $((c1 + 2)) ]; } || return 1
	echo "lab: L1's KVM gives L2 guests a wrong clock (kindling's guest $(guest_clock clockref)" \
		"at host $ref_t0..$ref_t1, QEMU's $c at $c0..$c1; the RTC guest's is right): not kindling's fault" >&2
	l1_clock_lines >&2
	return 0
}
if [ "$ref_rc" = 0 ] && clock_ok clockref "$ref_t0" "$ref_t1"; then
	pass lab.kvmclock_clock
elif [ "$ref_rc" = 0 ] && clock_ok nokvmclock "$nok_t0" "$nok_t1" && l1_kvmclock_broken; then
	# An L1 failure: tests/run.sh runs the lab suite again in a fresh L1.
	exit 125
else
	fail lab.kvmclock_clock "exit $ref_rc"
fi

# The command line reaches the guest.
boot cmdline build/guest/vmlinux --cmdline "console=ttyS0 reboot=k panic=1 pci=off quiet kindling.marker=xyzzy"
check lab.cmdline_passed grep -q "kindling.marker=xyzzy" "$T/cmdline.out"

# Stdin a pipe carrying typed-ahead input, and a terminal, as people run it: Linux's 8250
# driver drains the receive FIFO, every thread under its seccomp filter (issue 10 item 1:
# the vCPU thread used to re-arm stdin itself and die of SIGSYS, exit 159).
deadline 120 "$K" --kernel build/guest/vmlinux --initrd "$INITRD" --boot-timer \
	>"$T/pipe.out" 2>"$T/pipe.err" < <(printf 'typed ahead\n'; sleep 30)
rc=$?
check lab.linux_stdin_pipe test $rc = 0 -a "$(grep -c '^KINDLING-BOOT-OK cpus=1' "$T/pipe.out")" = 1
[ $rc = 0 ] || { tail -n 5 "$T/pipe.err"; show_deadline linux_stdin_pipe $rc "$T/pipe.err"; }
python3 tests/kvm/drive.py --stdin pty --deadline 120 --expect 'cmdline:' --send $'typed on a tty\n' -- \
	"$K" --kernel build/guest/vmlinux --initrd "$INITRD" --boot-timer >"$T/pty.out" 2>"$T/pty.err"
rc=$?
check lab.linux_stdin_pty test $rc = 0 -a "$(grep -c 'KINDLING-BOOT-OK cpus=1' "$T/pty.out")" = 1
[ $rc = 0 ] || tail -n 5 "$T/pty.err"

# Deadlines: a guest that spins with interrupts off never finishes. The test around it must
# fail by name at its deadline (15 s here), with the vCPU diagnostics, and the suite go on.
t0=$(date +%s)
(LIMIT=15; boot hung build/guests/busy.elf; expect_boot hung 1) >"$T/hung.report" 2>&1
took=$(($(date +%s) - t0))
sed 's/^/  | /' "$T/hung.report"
spin=$(nm build/guests/busy.elf | awk '$3 == "spin_here" { print $1 }' | sed 's/^0*/0x/')
if grep -q '^FAIL: lab.hung (rc=137)' "$T/hung.report" && grep -q "kindling: diag: vcpu0: rip=$spin " "$T/hung.report" &&
	[ "$took" -le 40 ]; then
	pass lab.deadline_hung_guest_fails_by_name
else
	fail lab.deadline_hung_guest_fails_by_name "took ${took} s; report above"
fi

# The host suites that need a /dev/kvm able to run their tiny guests, which the development
# machines' own KVM may not be: here on the lab's real one, under the same names with lab.
# Their time bounds are for real hardware: scaled by 5 here, under TCG.
# fc_compat.sh's cases after InstanceStart need a KVM too (~4 min here: it starts ~150 VMMs).
for suite in tests/kvm/host.sh tests/kvm/virtio.sh tests/kvm/filters.sh tests/api/fc_compat.sh; do
	l1_tsc_check
	KINDLING_TIME_SCALE=5 "$suite" 2>&1 | sed -E 's/^(PASS|FAIL|SKIP): /\1: lab./'
done

# Firecracker's getting-started sequence over the API socket with curl, on the real kernel.
l1_tsc_check
S=$T/api.sock
deadline_bg 120 "$K" --api-sock "$S" --boot-timer >"$T/gs.out" 2>"$T/gs.err" </dev/null
vpid=$!
for _ in $(seq 500); do [ -S "$S" ] && break; sleep 0.01; done
api() { curl -s -o "$T/gs.body" -w '%{http_code}' --unix-socket "$S" -X "$1" "http://localhost$2" ${3:+-d "$3"}; }
touch "$T/gs.log" # as in Firecracker, the log file must exist
codes="$(api PUT /logger "{\"log_path\": \"$T/gs.log\", \"level\": \"Info\", \"show_level\": true}")"
# kindling.test=hold: the guest stays up 10 s after booting, so that the PUT after
# InstanceStart below reaches a running VM (without it the guest could finish first).
codes="$codes $(api PUT /boot-source "{\"kernel_image_path\": \"$PWD/build/guest/vmlinux\", \"initrd_path\": \"$PWD/$INITRD\", \"boot_args\": \"console=ttyS0 reboot=k panic=1 pci=off quiet kindling.test=hold\"}")"
codes="$codes $(api PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 128}')"
codes="$codes $(api PUT /actions '{"action_type": "InstanceStart"}')"
codes="$codes $(api GET /)"
grep -q '"state":"Running"' "$T/gs.body" && running=yes || running=no
codes="$codes $(api PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 128}')"
wait $vpid   # bounded: deadline ends it
rc=$?
echo "  getting-started: http codes $codes, running=$running, exit $rc"
if [ "$codes" = "204 204 204 204 200 400" ] && [ $running = yes ] && [ $rc = 0 ] &&
	grep -q "^KINDLING-BOOT-OK cpus=2" "$T/gs.out" && grep -q "boot_to_init_ms" "$T/gs.log"; then
	pass lab.api_getting_started
else
	fail lab.api_getting_started "codes=$codes running=$running rc=$rc"
	tail -20 "$T/gs.out"; grep -v 'kindling: diag:' "$T/gs.err" | tail -5; tail -5 "$T/gs.log" 2>/dev/null
	show_deadline api_getting_started "$rc" "$T/gs.err"
fi
# The jailer on a pure cgroup v2 hierarchy, and a guest booted through a jail.
l1_tsc_check
tests/lab/jailer.sh

# virtio-blk and virtio-net end to end (ext4 root, drives, tap network).
l1_tsc_check
tests/lab/virtio.sh

# Rate limiters on a Linux guest's drive and tap: ops and bandwidth rates, bursts, PATCH,
# the VMM's CPU under an RX flood.
l1_tsc_check
tests/lab/ratelimit.sh

# Snapshots of a Linux guest with a disk and a TCP connection: Full, Diff, merge, restore.
l1_tsc_check
tests/lab/snapshot.sh

# kindling run: functions end to end (needs virtio-blk and virtio-net).
l1_tsc_check
tests/lab/runner.sh

# kindling run --snapshot-dir: warm starts from function snapshots, fresh identity, rebuilds.
l1_tsc_check
tests/lab/warm.sh
exit 0
