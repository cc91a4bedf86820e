#!/bin/bash
# `kindling run` end to end, inside the KVM lab: each example returns its expected output,
# a handler's exit status becomes the runner's, a guest that dies before it is ready makes
# the runner fail clearly, and nothing is left behind (namespaces, taps, processes).
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
K=build/kindling

if ! kvm_usable || [ "$(id -u)" != 0 ]; then
	skip lab.run.all "needs root and /dev/kvm"
	exit 0
fi
# What the runner may leave behind, before and after each run.
leftovers() {
	{ ip netns list; ip -o link show | grep -o 'kt0'; pgrep -f "kindling --kernel" ; } 2>/dev/null | wc -l
}
base=$(leftovers)
nothing_left() { test "$(leftovers)" = "$base"; }

guest/mkfunction.sh build/examples/wordfreq "$T/wordfreq.ext4" >/dev/null
guest/mkfunction.sh --busybox examples/shell-upper "$T/upper.ext4" >/dev/null
mkdir -p "$T/exit3"
printf '#!/bin/sh\necho partial output\nexit 3\n' >"$T/exit3/handler"
chmod +x "$T/exit3/handler"
guest/mkfunction.sh --busybox "$T/exit3" "$T/exit3.ext4" >/dev/null
mkdir -p "$T/slow"
printf '#!/bin/sh\nsleep 600\n' >"$T/slow/handler"
chmod +x "$T/slow/handler"
guest/mkfunction.sh --busybox "$T/slow" "$T/slow.ext4" >/dev/null
# A root filesystem whose init exits at once: the kernel panics before anything is ready.
mkdir -p "$T/panic/sbin" "$T/panic/bin" "$T/panic/dev" "$T/panic/proc"
cp /bin/busybox "$T/panic/bin/busybox"
ln -s busybox "$T/panic/bin/sh"
printf '#!/bin/sh\nexit 7\n' >"$T/panic/sbin/init"
chmod +x "$T/panic/sbin/init"
mkfs.ext4 -q -d "$T/panic" "$T/panic.ext4" 16M

run() { # run NAME IMAGE INPUT [ARGS]: status in $rc, output in $T/NAME.out, breakdown in .err
	name=$1 img=$2 input=$3; shift 3
	deadline 120 "$K" run --rootfs "$img" --input "$input" "$@" >"$T/$name.out" 2>"$T/$name.err"
	rc=$?
	echo "  $name: exit $rc; $(grep 'cold start' "$T/$name.err")"
	show_deadline "$name" "$rc" "$T/$name.err"
}

run wordfreq "$T/wordfreq.ext4" examples/wordfreq/input.txt
check lab.run.wordfreq_output cmp -s "$T/wordfreq.out" examples/wordfreq/expected.txt
check lab.run.wordfreq_status test $rc = 0
check lab.run.breakdown grep -q "cold start: vmm setup [0-9.]* ms, kernel to init ready [0-9.]* ms, invocation [0-9.]* ms, teardown [0-9.]* ms, total [0-9.]* ms" "$T/wordfreq.err"
check lab.run.nothing_left_after_success nothing_left

# Stdin as users have it: a pipe that keeps offering data, then a terminal (the
# controlling tty of a new session, as an interactive shell's). Neither may reach the
# function, stop the runner or its VMM, or change the output.
yes 2>/dev/null | deadline 120 "$K" run --rootfs "$T/wordfreq.ext4" --input examples/wordfreq/input.txt \
	>"$T/pipe.out" 2>"$T/pipe.err"
rc=${PIPESTATUS[1]}
echo "  stdin a pipe: exit $rc; $(grep 'cold start' "$T/pipe.err")"
check lab.run.stdin_pipe test $rc = 0 -a -s "$T/pipe.out"
check lab.run.stdin_pipe_output cmp -s "$T/pipe.out" examples/wordfreq/expected.txt
python3 - "$K" run --rootfs "$T/wordfreq.ext4" --input examples/wordfreq/input.txt \
	>"$T/tty.out" 2>"$T/tty.err" <<'PY'
import fcntl, os, subprocess, sys, termios, threading
master, slave = os.openpty()
def ctty():
	fcntl.ioctl(0, termios.TIOCSCTTY, 0)
p = subprocess.Popen(sys.argv[1:], stdin=slave, start_new_session=True, preexec_fn=ctty)
os.close(slave)
# Keep the terminal's output drained, and type a line now and then.
def drain():
	try:
		while os.read(master, 4096):
			pass
	except OSError:
		pass
threading.Thread(target=drain, daemon=True).start()
try:
	for _ in range(240):
		try:
			p.wait(timeout=0.5)
			break
		except subprocess.TimeoutExpired:
			os.write(master, b"typed\n")
	else:
		p.kill()
		print("stdin a tty: still running after 120 s", file=sys.stderr)
except OSError:
	pass
sys.exit(p.wait())
PY
rc=$?
echo "  stdin a tty: exit $rc; $(grep 'cold start' "$T/tty.err")"
check lab.run.stdin_tty test $rc = 0 -a -s "$T/tty.out"
check lab.run.stdin_tty_output cmp -s "$T/tty.out" examples/wordfreq/expected.txt
check lab.run.nothing_left_after_stdin nothing_left

run upper "$T/upper.ext4" examples/shell-upper/input.txt --vcpus 2 --mem-mib 256
check lab.run.shell_upper_output cmp -s "$T/upper.out" examples/shell-upper/expected.txt

echo "anything" >"$T/in.txt"
run exit3 "$T/exit3.ext4" "$T/in.txt"
check lab.run.handler_exit_3 test $rc = 3 -a "$(cat "$T/exit3.out")" = "partial output"
check lab.run.nothing_left_after_failure nothing_left

run panic "$T/panic.ext4" "$T/in.txt" --boot-timeout 120
if [ $rc = 125 ] && grep -q "stopped before the function was ready" "$T/panic.err" &&
	grep -q "Kernel panic" "$T/panic.err"; then
	pass lab.run.kernel_panic_fails_clearly
else
	fail lab.run.kernel_panic_fails_clearly "rc=$rc $(head -c 300 "$T/panic.err")"
fi
check lab.run.nothing_left_after_panic nothing_left

# SIGINT while the handler runs: the runner ends with 130 and takes everything with it.
# (deadline's timeout passes the SIGINT on to the runner.)
deadline_bg 120 "$K" run --rootfs "$T/slow.ext4" --input "$T/in.txt" >/dev/null 2>"$T/slow.err"
pid=$!
for _ in $(seq 600); do sleep 0.5; pgrep -f "kindling --kernel" >/dev/null && break; done
sleep 20 # into the boot, or the invocation
kill -INT $pid
wait $pid
rc=$?
check lab.run.sigint test $rc = 130
sleep 1
check lab.run.nothing_left_after_sigint nothing_left

# Bad invocations of the runner itself.
timeout 60 "$K" run --rootfs /nonexistent.ext4 >/dev/null 2>"$T/bad.err" </dev/null
check lab.run.missing_rootfs grep -q "nonexistent.ext4" "$T/bad.err"
timeout 60 "$K" run --rootfs "$T/upper.ext4" --kernel /nonexistent >/dev/null 2>"$T/bad.err" </dev/null
check lab.run.missing_kernel grep -q "/nonexistent" "$T/bad.err"
exit 0
