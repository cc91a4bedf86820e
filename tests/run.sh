#!/bin/bash
# Runs every test suite and counts their PASS/FAIL/SKIP lines. Ends with the plain line
# "N passed, N failed, N skipped"; exits non-zero on any failure.
#   tests/run.sh [unit|host|virtio-host|filters|fuzz-smoke|bootmeter|bench-runner|api|fc-compat|init|jailer|lab-infra|lab]...   (default: all)
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh # lab_infra_failure
LOG=build/test.log
mkdir -p build
: >"$LOG"
suites=${*:-unit host virtio-host filters fuzz-smoke bootmeter bench-runner api fc-compat init jailer lab-infra lab}

# run_suite NAME CMD...: streams the suite's output; a suite that dies without reporting
# its cases counts as one failure. Its lines join the counted log only once it has ended,
# so that a retried lab attempt (below) is not counted. Ends with one line: its counts and
# elapsed time.
run_suite() {
	local name=$1 t0=$SECONDS rc
	shift
	echo "== $name"
	"$@" 2>&1 | tee "build/test-$name.log"
	rc=${PIPESTATUS[0]}
	if [ "$rc" -ne 0 ] && ! grep -q '^FAIL: ' "build/test-$name.log"; then
		echo "FAIL: suite.$name (exited $rc without reporting a failed case)" | tee -a "build/test-$name.log"
	fi
	cat "build/test-$name.log" >>"$LOG"
	echo "== $name: $(grep -c '^PASS: ' "build/test-$name.log") passed," \
		"$(grep -c '^FAIL: ' "build/test-$name.log") failed, $(grep -c '^SKIP: ' "build/test-$name.log") skipped" \
		"in $((SECONDS - t0)) s"
	return "$rc"
}

# The lab suite, retried once, visibly, only when the lab's L1 failed under it; a test that
# failed inside a working lab is never retried.
run_lab() {
	local rc why
	run_suite lab tests/lab/run -- tests/lab/e2e.sh
	rc=$?
	[ "$rc" = 125 ] || return 0
	why=$(lab_infra_failure build/test-lab.log) || return 0
	# The first attempt's cases are not counted: its log is kept aside, its lines taken out.
	mv build/test-lab.log build/test-lab.attempt1.log
	head -n "$(($(wc -l <"$LOG") - $(wc -l <build/test-lab.attempt1.log)))" "$LOG" >"$LOG.tmp" && mv "$LOG.tmp" "$LOG"
	echo "RETRY: lab ($why; the first attempt's log is build/test-lab.attempt1.log)" | tee -a "$LOG"
	run_suite lab tests/lab/run -- tests/lab/e2e.sh
}

for s in $suites; do
	case $s in
	unit) run_suite unit build/tests/unit ;;
	host) run_suite host tests/kvm/host.sh ;;
	virtio-host) run_suite virtio-host tests/kvm/virtio.sh ;;
	filters) run_suite filters tests/kvm/filters.sh ;;
	fuzz-smoke) run_suite fuzz-smoke fuzz/run.sh 5 ;;
	bootmeter) run_suite bootmeter tests/bench/bootmeter.sh ;;
	bench-runner) run_suite bench-runner tests/bench/runner.sh ;;
	api) run_suite api tests/api/api.sh ;;
	fc-compat) run_suite fc-compat tests/api/fc_compat.sh ;;
	jailer) run_suite jailer tests/jailer/jailer.sh ;;
	init) run_suite init tests/init/init.sh ;;
	lab | lab-infra)
		if ! command -v qemu-system-x86_64 >/dev/null; then
			echo "SKIP: $s (qemu-system-x86_64 is not installed; run make deps)" | tee -a "$LOG"
		elif [ $s = lab ]; then
			run_lab
		else
			run_suite lab-infra tests/lab/infra.sh
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
grep '^RETRY: ' "$LOG" | sed 's/^/  /'
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
