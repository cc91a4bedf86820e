#!/bin/bash
# The lab's own safety nets, checked from the host with one short L1 boot
# (tests/lab/README.md, "The L1 lockup" and "Watchdog"): the keeper holds its idle VM in L1,
# a command that goes silent is stopped by the watchdog with L1's CPU state (twice, 3 s
# apart) and its blocked tasks (SysRq-w), exit 125, after the watchdog's NMI did not wake
# it; one that writes again after that NMI goes on, the stall reported; and an L1 that no
# longer keeps time with its TSC is an L1 failure (l1_tsc_check).
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
# lab NAME VAR=VALUE... -- CMD...: one lab run of CMD with those settings, at most 300 s;
# its stdout and stderr in $T/NAME.out and .err, its status in rc, its seconds in took.
# These tests judge the lab's nets over a command that ran: an L1 that locked up while
# booting, before the command started (the L1 lockup, seen here too), is run once more,
# visibly, as tests/run.sh does for the lab suite; not for the test that asks for exactly that.
lab() {
	local name=$1 t0 vars=() attempt why
	shift
	while [ "$1" != -- ]; do
		vars+=("$1")
		shift
	done
	for attempt in 1 2; do
		t0=$SECONDS
		env "${vars[@]}" timeout -k 10 300 tests/lab/run "$@" >"$T/$name.out" 2>"$T/$name.err" </dev/null
		rc=$?
		took=$((SECONDS - t0))
		[ $attempt = 1 ] && [ $rc = 125 ] && [[ " ${vars[*]} " != *" KINDLING_LAB_TEST_NEVER_START=1 "* ]] &&
			grep -qE '^lab: (ERROR: )?the command never started' "$T/$name.err" || break
		why=$(lab_infra_failure "$T/$name.err")
		echo "RETRY: lab.infra $name (${why:-L1 failed} before the command started, after $took s; the first attempt's lines:)"
		grep '^lab: ' "$T/$name.err" | head -5 | sed 's/^/  | /'
	done
}
# Inside: the keeper's fds, then silence until the watchdog (20 s) ends it.
lab silent KINDLING_LAB_STALL=20 -- bash -c \
	'p=$(pgrep -x kvm-keeper); echo "keeper pids: $p"; ls -l /proc/$p/fd | grep -o "anon_inode:kvm-[a-z]*" | sort | tr "\n" " "; echo; sleep 600'
sed 's/^/  | /' "$T/silent.out"
sed 's/^/  | /' "$T/silent.err"
check lab.infra.keeper_holds_a_vm grep -q 'anon_inode:kvm-vcpu anon_inode:kvm-vm' "$T/silent.out"
E=$T/silent.err
if [ $rc = 125 ] && grep -q '^lab: L1 made no progress for 20 s' "$E" &&
	grep -q -- '--- info registers -a' "$E" && grep -q 'RIP=' "$E" && grep -q '^  | 3 s later:' "$E" &&
	grep -q 'sysrq: Show Blocked State' "$E" && grep -q 'no output within 30 s of the SysRq key and the NMI' "$E" &&
	[ $took -lt 180 ]; then
	pass lab.infra.watchdog_stops_a_silent_lab
else
	fail lab.infra.watchdog_stops_a_silent_lab "rc=$rc after ${took} s"
fi
# Silent until L1 has taken the watchdog's NMI (its kernel logs an NMI of unknown reason),
# then writing again: the run goes on to the command's own end, and the stall is reported.
lab woken KINDLING_LAB_STALL=20 -- sh -c \
	'echo silent; for i in $(seq 200); do dmesg | grep -q "NMI received for unknown reason" && { echo NMI-TAKEN; exit 0; }; sleep 1; done; echo NO-NMI; exit 1'
if [ $rc = 0 ] && grep -q '^NMI-TAKEN' "$T/woken.out" &&
	grep -q '^lab: L1 went silent 1 time(s) and the watchdog woke it' "$T/woken.err" && grep -q 'RIP=' "$T/woken.err" &&
	! grep -q 'made no progress' "$T/woken.err"; then
	pass lab.infra.watchdog_wakes_a_silent_lab
else
	fail lab.infra.watchdog_wakes_a_silent_lab "rc=$rc after ${took} s"
	sed 's/^/  | /' "$T/woken.out" "$T/woken.err" | grep -v '^  | *|' | head -20
fi
# An L1 that never starts the command (init told so by KINDLING_LAB_TEST_NEVER_START) is
# stopped at the boot limit too, even were its console growing: a lockup during L1's boot
# prints reports there.
lab nostart KINDLING_LAB_TEST_NEVER_START=1 KINDLING_LAB_BOOT_LIMIT=30 -- true
sed 's/^/  | /' "$T/nostart.err" | grep -v '^  | *|' | head -5
if [ $rc = 125 ] && grep -q '^lab: L1 made no progress for [0-9]* s (it did not start the command within 30 s' "$T/nostart.err" &&
	[ $took -ge 30 ] && [ $took -lt 120 ]; then
	pass lab.infra.watchdog_stops_a_boot_that_never_starts_the_command
else
	fail lab.infra.watchdog_stops_a_boot_that_never_starts_the_command "rc=$rc after ${took} s"
fi
# An L1 that no longer keeps time with its TSC (here: switched to HPET by hand, as L1 would
# after marking its TSC unstable) is an L1 failure: l1_tsc_check (tests/lib.sh, run between
# tests/lab/e2e.sh's suites) says so in words lab_infra_failure knows, and ends the run 125;
# in a healthy L1 it says nothing.
lab tsc -- bash -c '. tests/lib.sh; l1_tsc_check; echo HEALTHY; echo hpet >/sys/devices/system/clocksource/clocksource0/current_clocksource; l1_tsc_check; echo SURVIVED'
cat "$T/tsc.out" "$T/tsc.err" >"$T/tsc.all" # the command's stderr comes out on run's stdout
if [ $rc = 125 ] && grep -q '^HEALTHY' "$T/tsc.out" && ! grep -q SURVIVED "$T/tsc.out" &&
	grep -q '^lab: L1 marked its TSC unstable (clocksource now hpet; ' "$T/tsc.all" &&
	[ "$(lab_infra_failure "$T/tsc.all")" = "L1 marked its TSC unstable" ]; then
	pass lab.infra.l1_without_its_tsc_is_an_l1_failure
else
	fail lab.infra.l1_without_its_tsc_is_an_l1_failure "rc=$rc after ${took} s"
	sed 's/^/  | /' "$T/tsc.out" "$T/tsc.err" | head -20
fi
