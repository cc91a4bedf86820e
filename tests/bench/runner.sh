#!/bin/bash
# benches/run.sh (make bench) with stand-in benches: one whose lab fails the way an L1 lockup
# does (exit 125, tests/lab/run's "L1 made no progress") is run once more and its second
# attempt's figures are the ones collected; a bench that exits 125 without that, or fails
# otherwise, is not retried and fails the run; and the reasons lab_infra_failure (tests/lib.sh)
# retries for. No lab, no KVM; about a second.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

# A stand-in bench: counts its runs in $T/NAME.runs, then does what $T/NAME.plan's line for
# this run says: "lab" (the lab's L1 failure, exit 125), "125" (exit 125, no lab message),
# "fail" (exit 1) or "ok" (prints its figure, exit 0).
mkbench() {
	cat >"$T/$1.sh" <<EOS
#!/bin/bash
n=\$((\$(cat "$T/$1.runs" 2>/dev/null || echo 0) + 1))
echo \$n >"$T/$1.runs"
case \$(sed -n "\${n}p" "$T/$1.plan") in
lab) echo "stand.$1 \$n first" ; echo "lab: L1 made no progress for 5 min (no output from the command); the L1 VM was killed" >&2; exit 125 ;;
125) echo "stand-in: exit 125 on its own" >&2; exit 125 ;;
fail) echo "stand-in: failed" >&2; exit 1 ;;
ok) echo "stand.$1 \$n attempt" ;;
esac
EOS
	chmod 755 "$T/$1.sh"
	printf '%s\n' "${@:2}" >"$T/$1.plan"
}

runner() { # NAME BENCH...: benches/run.sh over those benches, its results in $T/NAME
	KINDLING_BENCH_OUT="$T/$1" KINDLING_BENCHES="${*:2}" timeout -k 5 "$(scaled 60)" benches/run.sh \
		>"$T/$1.stdout" 2>"$T/$1.stderr"
}

mkbench flaky lab ok
mkbench steady ok
runner retried "$T/flaky.sh" "$T/steady.sh"
rc=$?
if [ $rc = 0 ] && [ "$(cat "$T/flaky.runs")" = 2 ] && [ "$(cat "$T/steady.runs")" = 1 ] &&
	grep -q "^bench: RETRY $T/flaky.sh (L1 made no progress for 5 min; " "$T/retried.stderr" &&
	grep -q '"stand.flaky": {"value": 2, "unit": "attempt"}' "$T/retried/results.json" &&
	! grep -q 'first' "$T/retried/results.json" &&
	grep -q '"stand.steady": {"value": 1, "unit": "attempt"}' "$T/retried/results.json" &&
	[ -s "$T/retried/flaky.attempt1.err" ]; then
	pass bench_runner_retries_a_lab_failure_once
else
	fail bench_runner_retries_a_lab_failure_once "exit $rc, runs $(cat "$T/flaky.runs" "$T/steady.runs" | tr '\n' ' ')$(tail -n 3 "$T/retried.stderr" | tr '\n' ' ')"
fi

mkbench twice lab lab ok
runner twice "$T/twice.sh"
rc=$?
if [ $rc = 1 ] && [ "$(cat "$T/twice.runs")" = 2 ] && grep -q "^bench: $T/twice.sh failed" "$T/twice.stderr"; then
	pass bench_runner_retries_only_once
else
	fail bench_runner_retries_only_once "exit $rc, runs $(cat "$T/twice.runs")"
fi

mkbench own125 125 ok
mkbench broken fail ok
mkbench after ok
runner final "$T/own125.sh" "$T/broken.sh" "$T/after.sh"
rc=$?
if [ $rc = 1 ] && [ "$(cat "$T/own125.runs")" = 1 ] && [ "$(cat "$T/broken.runs")" = 1 ] &&
	[ "$(cat "$T/after.runs")" = 1 ] && ! grep -q RETRY "$T/final.stderr" &&
	grep -q '"stand.after"' "$T/final/results.json"; then
	pass bench_runner_does_not_retry_other_failures
else
	fail bench_runner_does_not_retry_other_failures "exit $rc, runs $(cat "$T"/own125.runs "$T"/broken.runs "$T"/after.runs | tr '\n' ' ')"
fi

# The reasons for a retry are the lab's own (tests/lib.sh lab_infra_failure): an L1 whose KVM
# gives its guests a wrong clock (tests/lab/e2e.sh) is one; a failed test's line is not.
printf '%s\n' "FAIL: lab.kvmclock_clock (exit 0)" >"$T/clock-test.log"
printf '%s\n' "PASS: lab.nokvmclock_clock" "lab: L1's KVM gives L2 guests a wrong clock (kindling's guest 1796640831 at host 1796640821..1796640822, QEMU's 1796640841 at 1796640831..1796640832; the RTC guest's is right): not kindling's fault" >"$T/clock-l1.log"
if [ "$(lab_infra_failure "$T/clock-l1.log")" = "L1's KVM gives L2 guests a wrong clock" ] &&
	! lab_infra_failure "$T/clock-test.log" >/dev/null; then
	pass lab_infra_failure_knows_a_broken_l1_clock
else
	fail lab_infra_failure_knows_a_broken_l1_clock "got '$(lab_infra_failure "$T/clock-l1.log")'"
fi
