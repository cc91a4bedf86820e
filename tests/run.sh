#!/bin/bash
# Runs every test suite and counts their PASS/FAIL/SKIP lines. Ends with the plain line
# "N passed, N failed, N skipped"; exits non-zero on any failure.
#   tests/run.sh [unit|host|virtio-host|fuzz-smoke|api|init|jailer|lab]...   (default: all)
set -u
cd "$(dirname "$0")/.."
LOG=build/test.log
mkdir -p build
: >"$LOG"
suites=${*:-unit host virtio-host fuzz-smoke api init jailer lab}

# run_suite NAME CMD...: streams the suite's output; a suite that dies without reporting
# its cases counts as one failure.
run_suite() {
	name=$1; shift
	echo "== $name"
	"$@" 2>&1 | tee -a "$LOG" | tee build/test-$name.log
	rc=${PIPESTATUS[0]}
	if [ "$rc" -ne 0 ] && ! grep -q '^FAIL: ' "build/test-$name.log"; then
		echo "FAIL: suite.$name (exited $rc without reporting a failed case)" | tee -a "$LOG"
	fi
}

for s in $suites; do
	case $s in
	unit) run_suite unit build/tests/unit ;;
	host) run_suite host tests/kvm/host.sh ;;
	virtio-host) run_suite virtio-host tests/kvm/virtio.sh ;;
	fuzz-smoke) run_suite fuzz-smoke fuzz/run.sh 5 ;;
	api) run_suite api tests/api/api.sh ;;
	jailer) run_suite jailer tests/jailer/jailer.sh ;;
	init) run_suite init tests/init/init.sh ;;
	lab)
		if ! command -v qemu-system-x86_64 >/dev/null; then
			echo "SKIP: lab (qemu-system-x86_64 is not installed; run make deps)" | tee -a "$LOG"
		else
			run_suite lab tests/lab/run -- tests/lab/e2e.sh
		fi
		;;
	*) echo "unknown suite $s" >&2; exit 2 ;;
	esac
done

passed=$(grep -c '^PASS: ' "$LOG")
failed=$(grep -c '^FAIL: ' "$LOG")
skipped=$(grep -c '^SKIP: ' "$LOG")
echo
grep '^FAIL: ' "$LOG" | sed 's/^/  /'
grep '^SKIP: ' "$LOG" | sed 's/^/  /'
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
