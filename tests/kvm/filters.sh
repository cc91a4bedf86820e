#!/bin/bash
# Every thread kind's real code paths under its production seccomp filter (never
# --no-seccomp): console input from /dev/null, a pipe and a pty, guest loopback, host input
# read by the guest, API requests after boot, stalled log readers, SIGTERM.
# Part 1 needs no KVM: build/tests/vmm-threads runs the VMM's event loop, devices, API and
# logger with a fake vCPU thread. Part 2 runs build/kindling with tiny guests on /dev/kvm.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
K=$PWD/build/kindling
VT=$PWD/build/tests/vmm-threads
H=$PWD/build/tests/seccomp-harness
C=$PWD/build/apiclient
D=tests/kvm/drive.py
G=build/guests
T=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	sleep 0.2
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do reap "$p" 2 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT

# stdin_cases NAME CMD...: the console's input path with each kind of stdin. CMD runs a
# guest that loops a byte back through the UART, prints READY, echoes input until 'q'.
stdin_cases() {
	local pre=$1; shift
	python3 $D --stdin null --expect READY --signal TERM -- "$@" >"$T/o" 2>"$T/e"
	rc=$?
	if [ $rc = 143 ] && grep -q LOOPBACK-OK "$T/o"; then pass "$pre.stdin_null.loopback"
	else fail "$pre.stdin_null.loopback" "rc=$rc $(head -c 300 "$T/o" "$T/e")"; fi

	# A pipe that sends nothing: the guest's loopback read alone used to kill the VMM.
	python3 $D --stdin pipe --expect READY --signal TERM -- "$@" >"$T/o" 2>"$T/e"
	rc=$?
	if [ $rc = 143 ] && grep -q LOOPBACK-OK "$T/o"; then pass "$pre.stdin_pipe.loopback"
	else fail "$pre.stdin_pipe.loopback" "rc=$rc $(head -c 300 "$T/o" "$T/e")"; fi

	# Host input through a pipe, longer than the 64-byte FIFO, then EOF.
	long=$(printf 'x%.0s' $(seq 300))
	python3 $D --stdin pipe --expect READY --send "hello $long q" --close -- "$@" >"$T/o" 2>"$T/e"
	rc=$?
	if [ $rc = 0 ] && grep -q "^hello $long ECHO-END" "$T/o"; then pass "$pre.stdin_pipe.input_read"
	else fail "$pre.stdin_pipe.input_read" "rc=$rc $(head -c 300 "$T/o" "$T/e")"; fi

	# A terminal: a line typed on it reaches the guest.
	python3 $D --stdin pty --expect READY --send $'typed on a tty\nq\n' -- "$@" >"$T/o" 2>"$T/e"
	rc=$?
	if [ $rc = 0 ] && grep -q "^typed on a tty" "$T/o" && grep -q ECHO-END "$T/o"; then pass "$pre.stdin_pty.input_read"
	else fail "$pre.stdin_pty.input_read" "rc=$rc $(head -c 300 "$T/o" "$T/e")"; fi
}

# req METHOD PATH [BODY]: sets $code and $body (curl gives up after 2 s)
req() {
	local args=(-s -m 2 -o "$T/body" -w '%{http_code}' --unix-socket "$S" -X "$1" "http://localhost$2")
	[ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' -d "$3")
	: >"$T/body"
	code=$(curl "${args[@]}")
	body=$(cat "$T/body")
}
# expect NAME CODE METHOD PATH [BODY]
expect() {
	local name=$1 want=$2; shift 2
	req "$@"
	if [ "$code" = "$want" ]; then pass "$name"; else fail "$name" "got $code: $body"; fi
}
AFTER_BOOT='"fault_message":"The requested operation is not supported after starting the microVM."'

# api_cases NAME: API requests after boot, on the VMM started with the API on $S and
# metrics to $M; then SIGTERM ($VPID).
api_cases() {
	local pre=$1
	expect "$pre.api.flush_metrics" 204 PUT /actions '{"action_type": "FlushMetrics"}'
	check "$pre.api.metrics_written" grep -q '"utc_timestamp_ms"' "$M"
	expect "$pre.api.pause" 204 PATCH /vm '{"state": "Paused"}'
	expect "$pre.api.resume" 204 PATCH /vm '{"state": "Resumed"}'
	expect "$pre.api.ctrl_alt_del" 204 PUT /actions '{"action_type": "SendCtrlAltDel"}'
	# Firecracker v1.7.0 refuses both after boot (OperationNotSupportedPostBoot).
	expect "$pre.api.logger_after_boot_refused" 400 PUT /logger "{\"log_path\": \"$T/late.log\", \"level\": \"Debug\"}"
	check "$pre.api.logger_after_boot_message" grep -qF "$AFTER_BOOT" "$T/body"
	check "$pre.api.logger_after_boot_no_file" test ! -e "$T/late.log"
	expect "$pre.api.metrics_after_boot_refused" 400 PUT /metrics "{\"metrics_path\": \"$T/late.metrics\"}"
	check "$pre.api.metrics_after_boot_message" grep -qF "$AFTER_BOOT" "$T/body"
	expect "$pre.api.still_serving" 200 GET /
	kill -TERM "$VPID"
	reap "$VPID"
	rc=$?
	check "$pre.api.sigterm" test $rc = 143
}

# stall_fifo PATH: makes a FIFO whose reader holds it open, fills it and never reads again.
stall_fifo() {
	mkfifo "$1"
	python3 -c '
import os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_NONBLOCK)  # a reader that never reads
try:
    while True:
        os.write(fd, b"x" * 4096)
except BlockingIOError:
    pass
open(sys.argv[1] + ".full", "w").close()
time.sleep(60)  # its own deadline' "$1" >/dev/null 2>&1 &
	PIDS+=($!)
	for _ in $(seq 50); do [ -e "$1.full" ] && return 0; sleep 0.1; done
	return 1
}

# ms_since T0: milliseconds since T0 (from date +%s%N)
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

# stop_within NAME PID MS: SIGTERM, then PID must be gone within MS (else it is killed).
stop_within() {
	local pre=$1 pid=$2 limit t0 waited=0
	limit=$(scaled "$3")
	t0=$(date +%s%N)
	kill -TERM "$pid"
	while kill -0 "$pid" 2>/dev/null && [ $waited -lt $((limit * 2)) ]; do sleep 0.05; waited=$(ms_since "$t0"); done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid"; wait "$pid" 2>/dev/null
		fail "$pre" "still running $waited ms after SIGTERM"
		return
	fi
	wait "$pid"
	rc=$?
	waited=$(ms_since "$t0")
	echo "  $pre: exited $rc after $waited ms"
	if [ $rc = 143 ] && [ $waited -le "$limit" ]; then pass "$pre"; else fail "$pre" "rc=$rc after $waited ms"; fi
}

# log_stall_case NAME DEST: a log destination (--log-path FIFO, or stderr on a FIFO) whose
# reader has stopped; the guest keeps logging from a device handler. The API must still
# answer promptly, the dropped lines must be counted, and SIGTERM must still end the VMM.
log_stall_case() {
	local pre=$1 dest=$2 t0 ms
	stall_fifo "$T/$pre.fifo" || { fail "$pre.setup" "cannot fill the FIFO"; return; }
	S=$T/$pre.sock
	: >"$T/$pre.metrics" # log and metrics files must exist, as in Firecracker
	if [ "$dest" = log-path ]; then
		timeout -k 10 "$(scaled 60)" "$VT" --api-sock "$S" --log-path "$T/$pre.fifo" --metrics-path "$T/$pre.metrics" logflood \
			>"$T/$pre.out" 2>"$T/$pre.err" </dev/null &
	else
		timeout -k 10 "$(scaled 60)" "$VT" --api-sock "$S" --metrics-path "$T/$pre.metrics" logflood \
			>"$T/$pre.out" 2>"$T/$pre.fifo" </dev/null &
	fi
	VPID=$!
	PIDS+=("$VPID")
	"$C" "$S" ready 5000 >/dev/null
	for _ in $(seq 50); do grep -q FLOOD "$T/$pre.out" && break; sleep 0.1; done
	sleep 0.5
	t0=$(date +%s%N)
	req GET /
	ms=$(ms_since "$t0")
	echo "  $pre: GET / answered $code in $ms ms while the log reader is stalled"
	check "$pre.api_answers" test "$code" = 200 -a "$ms" -lt "$(scaled 1000)"
	expect "$pre.flush_metrics" 204 PUT /actions '{"action_type": "FlushMetrics"}'
	missed=$(grep -o '"missed_log_count":[0-9]*' "$T/$pre.metrics" | tail -1 | cut -d: -f2)
	echo "  $pre: missed_log_count ${missed:-absent}"
	check "$pre.missed_log_counted" test "${missed:-0}" -gt 0
	stop_within "$pre.sigterm_ends_it" "$VPID" 2000
}

# ---------------------------------------------------------------- part 1: no KVM
# No thread opens a file once its filter is on: not a log file (PUT /logger used to open
# one after boot), not /proc/self/mem. tests/seccomp/harness.c, the production filters.
for kind in api vmm vcpu console; do
	timeout -k 10 "$(scaled 10)" "$H" $kind open-after-boot >"$T/h.out" 2>&1
	rc=$?
	if [ $rc = 0 ]; then pass "seccomp.$kind.open_after_boot_refused"
	else fail "seccomp.$kind.open_after_boot_refused" "rc=$rc $(head -c 200 "$T/h.out")"; fi
done
# The VMM thread's block and tap I/O is pinned to the devices' fds: pwritev/writev on any
# other fd kills the process (159 = 128 + SIGSYS).
for call in pwritev writev; do
	(timeout -k 10 "$(scaled 10)" "$H" vmm $call-other-fd; exit $?) >"$T/h.out" 2>&1
	rc=$?
	if [ $rc = 159 ]; then pass "seccomp.vmm.${call}_other_fd_kills"
	else fail "seccomp.vmm.${call}_other_fd_kills" "rc=$rc $(head -c 200 "$T/h.out")"; fi
done

if [ ! -x "$VT" ]; then
	fail threads.built "$VT is missing (make unit)"
else
	stdin_cases threads "$VT" echo

	S=$T/vt.sock M=$T/vt.metrics
	: >"$M"
	timeout -k 10 "$(scaled 30)" "$VT" --api-sock "$S" --metrics-path "$M" spin >"$T/vt.out" 2>"$T/vt.err" </dev/null &
	VPID=$!
	PIDS+=("$VPID")
	"$C" "$S" ready 5000 >/dev/null
	api_cases threads

	log_stall_case threads.log_fifo_stalled log-path
	log_stall_case threads.stderr_fifo_stalled stderr

	# SIGUSR1: the VMM thread collects every vCPU's state (the vCPU answers under its own
	# filter) and prints it; the VM goes on.
	S=$T/usr1.sock
	timeout -k 10 "$(scaled 30)" "$VT" --api-sock "$S" spin >"$T/usr1.out" 2>"$T/usr1.err" </dev/null &
	VPID=$!
	PIDS+=("$VPID")
	"$C" "$S" ready 5000 >/dev/null
	kill -USR1 "$(pgrep -P "$VPID")" # the VMM itself, not timeout(1), which USR1 would end
	for _ in $(seq 30); do grep -q 'kindling: diag: vcpu0' "$T/usr1.err" && break; sleep 0.1; done
	check threads.sigusr1.diag_printed grep -q 'kindling: diag: vcpu0' "$T/usr1.err"
	expect threads.sigusr1.still_serving 200 GET /
	stop_within threads.sigusr1.sigterm "$VPID" 2000

	# ... and with stderr on a FIFO nobody reads, the dump must not stall the event loop.
	stall_fifo "$T/usr1.fifo" || fail threads.sigusr1_stderr_stalled.setup "cannot fill the FIFO"
	timeout -k 10 "$(scaled 30)" "$VT" --api-sock "$S" spin >"$T/usr1.out" 2>"$T/usr1.fifo" </dev/null &
	VPID=$!
	PIDS+=("$VPID")
	"$C" "$S" ready 5000 >/dev/null
	kill -USR1 "$(pgrep -P "$VPID")"
	sleep 0.3
	t0=$(date +%s%N)
	req GET /
	ms=$(ms_since "$t0")
	echo "  threads.sigusr1_stderr_stalled: GET / answered $code in $ms ms after SIGUSR1"
	check threads.sigusr1_stderr_stalled.api_answers test "$code" = 200 -a "$ms" -lt "$(scaled 1000)"
	stop_within threads.sigusr1_stderr_stalled.sigterm "$VPID" 2000
fi

# The Uffd snapshot backend under the production filters: the "vCPU" faults on RAM that
# examples/uffd serves; the uffd monitor thread (its own filter: ppoll, mprotect, UFFDIO_UNREGISTER,
# the vCPU kick) stops the VM with the reason and fences its RAM when the handler is killed, or
# leaves a fault unread past the deadline.
UH=$PWD/build/examples/uffd-handler
if [ ! -x "$VT" ] || [ ! -x "$UH" ]; then
	fail threads.uffd.built "$VT or $UH is missing (make, make unit)"
elif ! python3 -c 'import ctypes, sys; sys.exit(ctypes.CDLL(None).syscall(323, 0o2004000) < 0)'; then
	for t in served handler_killed handler_silent; do skip "threads.uffd.$t" "userfaultfd() unavailable here"; done
else
	python3 -c 'import sys; open(sys.argv[1], "wb").write(b"".join(bytes([i + 1]) * 4096 for i in range(16)) + b"\xee" * 4096)' "$T/uffd.mem"
	# uffd_case NAME HANDLER_ARGS VT_ARGS TEXT: the VMM ends (status 1, no SIGSYS) saying TEXT.
	uffd_case() {
		local case=$1 hargs=$2 vargs=$3 text=$4 hpid rc
		rm -f "$T/uffd.sock"
		# Not under timeout: SIGKILL must reach the handler itself. It exits when the VMM
		# hangs up, and the EXIT trap ends it otherwise.
		"$UH" $hargs "$T/uffd.sock" "$T/uffd.mem" 2>"$T/uh.err" &
		hpid=$!
		PIDS+=("$hpid")
		for _ in $(seq 100); do [ -S "$T/uffd.sock" ] && break; sleep 0.05; done
		timeout -k 10 "$(scaled 30)" "$VT" --uffd "$T/uffd.sock" $vargs uffd >"$T/vu.out" 2>"$T/vu.err" </dev/null &
		VPID=$!
		PIDS+=("$VPID")
		if [ "$case" = handler_killed ]; then
			for _ in $(seq 100); do grep -q UFFD- "$T/vu.out" && break; sleep 0.05; done
			check threads.uffd.served grep -q UFFD-OK "$T/vu.out"
			kill -KILL "$hpid"
		fi
		reap "$VPID" "$(scaled 20)"
		rc=$?
		if [ $rc = 1 ] && grep -qF "$text" "$T/vu.err"; then pass "threads.uffd.$case"
		else fail "threads.uffd.$case" "rc=$rc $(head -c 300 "$T/vu.err")"; fi
		kill "$hpid" 2>/dev/null
		reap "$hpid" 2 2>/dev/null
	}
	uffd_case handler_killed "" "" "the page-fault handler went away"
	uffd_case handler_silent --no-serve "--uffd-deadline-ms 1000" "the page-fault handler left a fault unserved for 1000 ms"
fi

# The restore's working-set prefetch thread under its filter (madvise over a private file
# mapping, one log line, its exit), started before the vCPU as vmm_snapshot_load starts it,
# joined at the end by the VMM thread under its own filter.
if [ ! -x "$VT" ]; then
	fail threads.prefetch.built "$VT is missing (make unit)"
else
	printf 'KINDLING-WSET 2 3\n0 16\n100 1000 w\n4095 1\n' >"$T/p.wset"
	timeout -k 10 "$(scaled 30)" "$VT" --prefetch "$T/p.wset" spin >"$T/p.out" 2>"$T/p.err" </dev/null &
	VPID=$!
	PIDS+=("$VPID")
	for _ in $(seq 100); do grep -q 'prefetch: ' "$T/p.err" && break; sleep 0.05; done
	check threads.prefetch.logged grep -q 'prefetch: 1017 pages in 3 ranges (1000 written) in' "$T/p.err"
	stop_within threads.prefetch.sigterm "$VPID" 2000
fi

# ---------------------------------------------------------------- part 2: tiny guests on KVM
if ! kvm_usable; then
	for t in stdin_null.loopback stdin_pipe.loopback stdin_pipe.input_read stdin_pty.input_read api log_fifo_stalled; do
		skip "kvm.$t" "no usable /dev/kvm on this host"
	done
	exit 0
fi
stdin_cases kvm "$K" --kernel "$G/serial_echo.elf"

S=$T/kvm.sock M=$T/kvm-api.metrics
: >"$M" >"$T/kvm.metrics"
timeout -k 10 "$(scaled 30)" "$K" --api-sock "$S" --metrics-path "$M" --kernel "$G/spin.elf" >"$T/kvm.out" 2>"$T/kvm.err" </dev/null &
VPID=$!
PIDS+=("$VPID")
"$C" "$S" ready 5000 >/dev/null
for _ in $(seq 50); do grep -q SPIN "$T/kvm.out" && break; sleep 0.1; done
api_cases kvm

# virtio_bad.S logs rate-limited warnings from its vCPU with a device lock held; with the
# log FIFO full it must still run to its end (it resets itself), the lines counted.
printf 'KINDLING-DISK-A' >"$T/a.img"
truncate -s 1M "$T/a.img"
printf 'KINDLING-DISK-B' >"$T/b.img"
truncate -s 1M "$T/b.img"
if stall_fifo "$T/kvm.fifo"; then
	t0=$(date +%s%N)
	timeout -k 10 "$(scaled 60)" "$K" --kernel "$G/virtio_bad.elf" --drive path="$T/a.img",id=bad --drive path="$T/b.img",id=good \
		--log-path "$T/kvm.fifo" --metrics-path "$T/kvm.metrics" >"$T/bad.out" 2>"$T/bad.err" </dev/null
	rc=$?
	echo "  kvm.log_fifo_stalled: virtio_bad exited $rc after $(ms_since "$t0") ms"
	check kvm.log_fifo_stalled.guest_runs_to_end test $rc = 0
	check kvm.log_fifo_stalled.device_still_works grep -q '^A:READ-OK' "$T/bad.out"
	missed=$(grep -o '"missed_log_count":[0-9]*' "$T/kvm.metrics" | tail -1 | cut -d: -f2)
	check kvm.log_fifo_stalled.missed_log_counted test "${missed:-0}" -gt 0
else
	fail kvm.log_fifo_stalled.setup "cannot fill the FIFO"
fi
exit 0
