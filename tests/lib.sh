# Shared helpers for shell test suites: one PASS/FAIL/SKIP line per case, which
# tests/run.sh counts.
pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1${2:+ ($2)}"; }
skip() { echo "SKIP: $1 ($2)"; }

# median: the median of the numbers on stdin, one a line ("nan" for none; CRs, as a guest's
# console leaves them, ignored). For the benches.
median() { tr -d '\r' | sort -n | awk '{a[NR]=$1} END {if (NR) print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2); else print "nan"}'; }

# lab_infra_failure LOG: the reason, if the lab's L1 itself failed (tests/lab/run exit 125:
# no progress, L1 died, its KVM gives every L2 guest a wrong clock (tests/lab/e2e.sh), or it
# marked its TSC unstable (l1_tsc_check)), not a test or bench inside it. tests/run.sh and
# benches/run.sh retry a lab run once for these reasons only.
lab_infra_failure() {
	grep -m1 -oE "L1 made no progress for [0-9]+ (min|s)|the L1 VM stopped while the command was running|the command never started|L1's KVM gives L2 guests a wrong clock|L1 marked its TSC unstable" "$1"
}

# l1_clock_lines: what L1 said about its clocks and KVM (its TSC's calibration, its
# clocksource, KVM's module), for whoever finds out why its clocks went wrong.
l1_clock_lines() {
	echo "  L1 clocksource: $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource 2>/dev/null)"
	dmesg | grep -iE 'tsc|clocksource|kvm' | tail -n 30 | sed 's/^/  | /'
}
# l1_tsc_check: exits 125 (an L1 failure, which tests/run.sh retries) once L1 no longer keeps
# time with its TSC. L1 has no constant_tsc (a TCG CPU), so its KVM may mark the TSC unstable
# ("KVM discovered backwards TSC") whatever tsc=reliable says; L1 then runs on HPET and its
# KVM gives guests a clock without a stable TSC under it. Not seen yet: tests/lab/e2e.sh checks
# it between its suites because a broken guest clock was (tests/lab/README.md, "Open too"),
# and this would be one cause of that.
l1_tsc_check() {
	local cs why
	cs=$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource 2>/dev/null)
	why=$(dmesg | grep -m1 -iE 'Marking TSC unstable|clocksource .tsc. as unstable')
	[ "${cs:-tsc}" = tsc ] && [ -z "$why" ] && return 0
	echo "lab: L1 marked its TSC unstable (clocksource now ${cs:-unknown}; ${why:-no reason in dmesg}):" \
		"its guests' clocks and timers are not to be trusted; not kindling's fault" >&2
	l1_clock_lines >&2
	exit 125
}

# check NAME COMMAND...: PASS if the command succeeds.
check() {
	name=$1; shift
	if "$@"; then pass "$name"; else fail "$name"; fi
}

kvm_usable() {
	[ -r /dev/kvm ] && [ -w /dev/kvm ]
}

# expect_error NAME PATTERN ARGS...: runs $K ARGS (stdin /dev/null, output in $T/out and
# $T/err); PASS if it exits non-zero without a signal, with a short stderr (at most 3 lines)
# that matches PATTERN.
expect_error() {
	name=$1 pattern=$2; shift 2
	"$K" "$@" >"$T/out" 2>"$T/err" </dev/null
	rc=$?
	if [ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q -- "$pattern" "$T/err" && [ "$(wc -l <"$T/err")" -le 3 ]; then
		pass "$name"
	else
		fail "$name" "rc=$rc stderr=$(head -c 300 "$T/err")"
	fi
}

# show_oops FILE: a guest kernel's first oops or panic in a console log, from a few lines
# before it (a failure's tail alone shows only the end of a long stack dump).
show_oops() {
	local n
	n=$(grep -n -m1 -E 'BUG:|Oops|general protection|double fault|Kernel panic|unable to handle|soft lockup|RCU stall|WARNING: CPU' "$1" 2>/dev/null | cut -d: -f1)
	[ -n "$n" ] || return 0
	echo "--- the guest kernel's first oops/panic (from line $n of its console)"
	sed -n "$((n > 5 ? n - 5 : 1)),$((n + 45))p" "$1"
}
# threads PID: every thread of process PID as the kernel sees it, one line each (tid, name,
# state, the CPU it last ran on, wchan) and, where readable (root), its kernel stack: says
# whether a VMM that stopped answering waits in KVM_RUN, on a lock, or in the host kernel.
threads() {
	local t stat
	for t in /proc/"$1"/task/*; do
		stat=$(sed 's/.*) //' "$t/stat" 2>/dev/null) || continue
		echo "thread ${t##*/} $(cat "$t/comm" 2>/dev/null) state=${stat%% *}" \
			"cpu=$(echo "$stat" | cut -d' ' -f37) wchan=$(cat "$t/wchan" 2>/dev/null)"
		sed 's/^/    /' "$t/stack" 2>/dev/null
	done
}
# threads_at SECONDS PID FILE: if process PID (a `timeout` wrapping a VMM, say) still runs
# after SECONDS, the threads (above) of its children into FILE; returns when PID ends or the
# dump is written. Set SECONDS a little before the deadline: the picture before its signals.
threads_at() {
	local c
	timeout "$1" tail --pid="$2" -f /dev/null 2>/dev/null && return 0
	for c in $(pgrep -P "$2"); do
		echo "process $c: $(tr '\0' ' ' <"/proc/$c/cmdline" 2>/dev/null | head -c 100)"
		threads "$c"
	done >"$3" 2>&1
}
# deadline SECONDS CMD...: runs CMD, a VMM (kindling, `kindling run`, or the jailer that
# execs it), with a deadline: at SECONDS it gets SIGUSR1 (kindling then prints every vCPU's
# and virtqueue's state on stderr, the "kindling: diag:" lines, and goes on), 10 s later
# SIGKILL, and the status is 137 (124 if CMD ended at SIGUSR1). Lab tests use 120 s unless
# they say why not. In the background, use deadline_bg.
deadline() {
	local s=$1
	shift
	timeout -s USR1 -k 10 "$s" "$@"
}
# deadline_bg SECONDS CMD... &-less: the same in the background, with $! the pid of the
# timeout process (signals sent to it reach CMD; `pgrep -P $!` is CMD). (A plain
# `deadline ... &` would put a subshell in between.)
deadline_bg() {
	local s=$1
	shift
	timeout -s USR1 -k 10 "$s" "$@" &
}
# scaled N: N times KINDLING_TIME_SCALE (default 1). The host suites' time bounds are for
# real hardware; run inside the KVM lab (an emulated L1), e2e.sh sets a larger scale.
scaled() {
	echo $(($1 * ${KINDLING_TIME_SCALE:-1}))
}
# api_get_ms SOCKET SECONDS: one `GET /` on a VMM's API socket (curl, at most SECONDS):
# "TOTAL VMM" in whole ms, VMM being the wait from the request sent to the answer's first
# byte (time_starttransfer - time_pretransfer: the VMM's part, without curl's own start and
# scheduling); nothing unless it answered 200.
api_get_ms() {
	curl -s -m "$2" -o /dev/null -w '%{http_code} %{time_total} %{time_pretransfer} %{time_starttransfer}' \
		--unix-socket "$1" http://localhost/ | awk '$1 == 200 { printf "%d %d", $2 * 1000, ($4 - $3) * 1000 }'
}
# api_get_worst SOCKET SECONDS N PAUSE: N api_get_ms, PAUSE seconds apart. Sets worst, the
# largest VMM part in ms (99999 for a request that got no answer), and all, each one as
# " VMM(total TOTAL)" or " none".
api_get_worst() {
	local i t vmm
	worst=0 all=
	for i in $(seq "$3"); do
		t=$(api_get_ms "$1" "$2")
		vmm=${t#* }
		[ "${vmm:-99999}" -gt "$worst" ] && worst=${vmm:-99999}
		if [ -n "$t" ]; then all="$all $vmm(total ${t% *})"; else all="$all none"; fi
		sleep "$4"
	done
}
# timed_out STATUS: whether a deadline ended the command.
timed_out() {
	[ "$1" = 124 ] || [ "$1" = 137 ]
}
# show_deadline NAME STATUS STDERR_FILE: after a failure, says whether the deadline ended
# NAME's VMM and shows the diagnostics it printed then.
show_deadline() {
	timed_out "$2" || return 0
	echo "--- $1: the VMM was still running at its deadline; its diagnostics:"
	grep 'kindling: diag:' "$3" | sed 's/^/  /'
}

# running PID: whether PID is still running: it exists and is not a zombie (kill -0 alone
# would count a finished, unreaped child as running).
running() {
	local state
	state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -n "$state" ] && [ "$state" != Z ]
}
# reap PID [SECONDS]: a bounded `wait` for a background PID: waits at most SECONDS (10) for
# it to end, then SIGKILLs it; returns its status.
reap() {
	local pid=$1 n=$((${2:-10} * 20))
	while [ $n -gt 0 ]; do
		running "$pid" || break
		sleep 0.05
		n=$((n - 1))
	done
	[ $n -gt 0 ] || kill -KILL "$pid" 2>/dev/null
	wait "$pid"
}

# stop_pids: for a suite's EXIT trap: SIGTERM to every pid in the array PIDS, then a bounded
# reap of each.
stop_pids() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do reap "$p" 5 2>/dev/null; done
}
