#!/bin/bash
# The lab's own safety nets, checked from the host with one short L1 boot
# (tests/lab/README.md, "The L1 lockup" and "Watchdog"): the keeper holds its idle VM in L1,
# a command that goes silent is stopped by the watchdog with L1's CPU state (twice, 3 s
# apart) and its blocked tasks (SysRq-w), exit 125, after the watchdog's NMI did not wake
# it; and one that writes again after that NMI goes on, the stall reported.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

# The assets first (a fresh cache downloads them), and the lab lock if labs share one: the
# time checked below is the lab's own.
tests/lab/prepare.sh >/dev/null || { fail lab.infra.assets "tests/lab/prepare.sh failed"; exit 0; }
if [ -n "${KINDLING_LAB_LOCK:-}" ]; then
	exec 9>>"$KINDLING_LAB_LOCK"
	flock 9
	unset KINDLING_LAB_LOCK
fi
t0=$SECONDS
# Inside: the keeper's fds, then silence until the watchdog (20 s) ends it.
KINDLING_LAB_STALL=20 timeout -k 10 300 tests/lab/run -- bash -c \
	'p=$(pgrep -x kvm-keeper); echo "keeper pids: $p"; ls -l /proc/$p/fd | grep -o "anon_inode:kvm-[a-z]*" | sort | tr "\n" " "; echo; sleep 600' \
	>"$T/out" 2>"$T/err"
rc=$?
took=$((SECONDS - t0))
sed 's/^/  | /' "$T/out"
sed 's/^/  | /' "$T/err"
check lab.infra.keeper_holds_a_vm grep -q 'anon_inode:kvm-vcpu anon_inode:kvm-vm' "$T/out"
if [ $rc = 125 ] && grep -q '^lab: L1 made no progress for 20 s' "$T/err" &&
	grep -q -- '--- info registers -a' "$T/err" && grep -q 'RIP=' "$T/err" && grep -q '^  | 3 s later:' "$T/err" &&
	grep -q 'sysrq: Show Blocked State' "$T/err" && grep -q 'no output within 30 s of the SysRq key and the NMI' "$T/err" &&
	[ $took -lt 180 ]; then
	pass lab.infra.watchdog_stops_a_silent_lab
else
	fail lab.infra.watchdog_stops_a_silent_lab "rc=$rc after ${took} s"
fi
# Silent until L1 has taken the watchdog's NMI (its kernel logs an NMI of unknown reason),
# then writing again: the run goes on to the command's own end, and the stall is reported.
t0=$SECONDS
KINDLING_LAB_STALL=20 timeout -k 10 300 tests/lab/run -- sh -c \
	'echo silent; for i in $(seq 200); do dmesg | grep -q "NMI received for unknown reason" && { echo NMI-TAKEN; exit 0; }; sleep 1; done; echo NO-NMI; exit 1' \
	>"$T/out3" 2>"$T/err3"
rc=$?
took=$((SECONDS - t0))
if [ $rc = 0 ] && grep -q '^NMI-TAKEN' "$T/out3" &&
	grep -q '^lab: L1 went silent 1 time(s) and the watchdog woke it' "$T/err3" && grep -q 'RIP=' "$T/err3" &&
	! grep -q 'made no progress' "$T/err3"; then
	pass lab.infra.watchdog_wakes_a_silent_lab
else
	fail lab.infra.watchdog_wakes_a_silent_lab "rc=$rc after ${took} s"
	sed 's/^/  | /' "$T/out3" "$T/err3" | grep -v '^  | *|' | head -20
fi
# An L1 that never starts the command (init told so by KINDLING_LAB_TEST_NEVER_START) is
# stopped at the boot limit too, even were its console growing: a lockup during L1's boot
# prints reports there.
t0=$SECONDS
KINDLING_LAB_TEST_NEVER_START=1 KINDLING_LAB_BOOT_LIMIT=30 timeout -k 10 300 tests/lab/run -- true >"$T/out2" 2>"$T/err2"
rc=$?
took=$((SECONDS - t0))
sed 's/^/  | /' "$T/err2" | grep -v '^  | *|' | head -5
if [ $rc = 125 ] && grep -q '^lab: L1 made no progress for [0-9]* s (it did not start the command within 30 s' "$T/err2" &&
	[ $took -ge 30 ] && [ $took -lt 120 ]; then
	pass lab.infra.watchdog_stops_a_boot_that_never_starts_the_command
else
	fail lab.infra.watchdog_stops_a_boot_that_never_starts_the_command "rc=$rc after ${took} s"
fi
