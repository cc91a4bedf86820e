#!/bin/bash
# fuzz/run.sh SECONDS: builds the libFuzzer targets and runs each for SECONDS seconds,
# keeping its corpus under build/fuzz/corpus/NAME. One PASS/FAIL line per target; a crash
# leaves its input in build/fuzz/crashes/NAME/.
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh
secs=${1:-60}
if ! command -v "${FUZZ_CC:-clang}" >/dev/null; then
	skip fuzz.all "clang is not installed"
	exit 0
fi
if ! make -s --no-print-directory fuzz-build >build/fuzz-build.log 2>&1; then
	fail fuzz.build "see build/fuzz-build.log"
	tail -n 20 build/fuzz-build.log
	exit 1
fi
status=0
for bin in build/fuzz/fuzz_*; do
	[ -x "$bin" ] || continue
	name=${bin##*/fuzz_}
	corpus=build/fuzz/corpus/$name
	crashes=build/fuzz/crashes/$name
	mkdir -p "$corpus" "$crashes"
	# Checked-in seeds (valid requests, configs), if the target has any.
	[ -d "fuzz/corpus/$name" ] && cp -n fuzz/corpus/"$name"/* "$corpus"/ 2>/dev/null
	# -close_fd_mask=2: the devices' (rate limited) complaints about bad input stay quiet;
	# libFuzzer still reports crashes.
	"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -close_fd_mask=2 \
		-artifact_prefix="$crashes/" -print_final_stats=1 "$corpus" >"build/fuzz/$name.log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "build/fuzz/$name.log")
	if [ $rc -eq 0 ]; then
		pass "fuzz.$name" && echo "  $name: ${runs:-?} inputs in ${secs}s, corpus $(ls "$corpus" | wc -l)"
	else
		fail "fuzz.$name" "exit $rc; see build/fuzz/$name.log and $crashes"
		grep -E 'ERROR|SUMMARY|#0 |#1 |#2 ' "build/fuzz/$name.log" | head -n 12
		status=1
	fi
done
exit $status
