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
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
	wait 2>/dev/null
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
# metrics to $T/metrics; then SIGTERM ($VPID).
api_cases() {
	local pre=$1
	expect "$pre.api.flush_metrics" 204 PUT /actions '{"action_type": "FlushMetrics"}'
	check "$pre.api.metrics_written" grep -q '"utc_timestamp_ms"' "$T/metrics"
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
	wait "$VPID"
	rc=$?
	check "$pre.api.sigterm" test $rc = 143
}

# ---------------------------------------------------------------- part 1: no KVM
# No thread opens a file once its filter is on: not a log file (PUT /logger used to open
# one after boot), not /proc/self/mem. tests/seccomp/harness.c, the production filters.
for kind in api vmm vcpu console; do
	timeout 10 "$H" $kind open-after-boot >"$T/h.out" 2>&1
	rc=$?
	if [ $rc = 0 ]; then pass "seccomp.$kind.open_after_boot_refused"
	else fail "seccomp.$kind.open_after_boot_refused" "rc=$rc $(head -c 200 "$T/h.out")"; fi
done

if [ ! -x "$VT" ]; then
	fail threads.built "$VT is missing (make unit)"
else
	stdin_cases threads "$VT" echo

	S=$T/vt.sock
	timeout 30 "$VT" --api-sock "$S" --metrics-path "$T/metrics" spin >"$T/vt.out" 2>"$T/vt.err" </dev/null &
	VPID=$!
	PIDS+=("$VPID")
	"$C" "$S" ready 5000 >/dev/null
	api_cases threads
fi

# ---------------------------------------------------------------- part 2: tiny guests on KVM
if ! kvm_usable; then
	for t in stdin_null.loopback stdin_pipe.loopback stdin_pipe.input_read stdin_pty.input_read; do
		skip "kvm.$t" "no usable /dev/kvm on this host"
	done
	exit 0
fi
stdin_cases kvm "$K" --kernel "$G/serial_echo.elf"
exit 0
