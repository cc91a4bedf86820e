#!/bin/bash
# make bench: runs every benchmark, prints their "<name> <value> <unit>" lines and collects
# them into build/bench/results.json. Host benches run here; lab benches boot the KVM lab.
# A bench whose lab failed under it (tests/lab/run exit 125 for an L1 failure: no progress,
# L1 died, the command never started; see tests/lab/README.md) is run once more, visibly
# ("bench: RETRY"), as tests/run.sh does for the lab suite; any other failure is final.
# Only the last attempt's figures are collected.
#   KINDLING_BENCHES    the benches to run, in order (default: all of them)
#   KINDLING_BENCH_OUT  where the results go (default build/bench)
set -u -o pipefail   # a bench that fails must fail make bench, not hide behind tee
cd "$(dirname "$0")/.."
. tests/lib.sh # lab_infra_failure
OUT=${KINDLING_BENCH_OUT:-build/bench}
BENCHES=${KINDLING_BENCHES:-"benches/bootmeter.sh benches/api.sh benches/setup.sh benches/boot.sh benches/io.sh
	benches/coldstart.sh benches/warmstart.sh benches/snapshot.sh benches/snapauth.sh benches/clones.sh
	benches/estimate.sh"}
mkdir -p "$OUT"
: >"$OUT/lines.txt"
status=0
for b in $BENCHES; do
	[ -x "$b" ] || continue
	name=$(basename "$b" .sh)
	echo "== $b"
	"$b" 2>"$OUT/$name.err" | tee "$OUT/$name.out"
	rc=$?
	if [ "$rc" = 125 ] && why=$(lab_infra_failure "$OUT/$name.err"); then
		mv "$OUT/$name.err" "$OUT/$name.attempt1.err"
		echo "bench: RETRY $b ($why; the first attempt's stderr is $OUT/$name.attempt1.err)" >&2
		"$b" 2>"$OUT/$name.err" | tee "$OUT/$name.out"
		rc=$?
	fi
	if [ "$rc" != 0 ]; then
		echo "bench: $b failed; its stderr is in $OUT/$name.err" >&2
		tail -5 "$OUT/$name.err" >&2
		status=1
	fi
	cat "$OUT/$name.out" >>"$OUT/lines.txt"
done
# One JSON object: {"name": {"value": V, "unit": "U"}, ...}
awk 'BEGIN { printf "{\n  \"generated_at\": \"%s\"", strftime("%Y-%m-%dT%H:%M:%SZ", systime(), 1) }
     NF == 3 && $1 ~ /^[a-z0-9_]+\.[a-z0-9_]+$/ && $2 ~ /^-?[0-9.]+$/ {
	printf ",\n  \"%s\": {\"value\": %s, \"unit\": \"%s\"}", $1, $2, $3 }
     END { print "\n}" }' "$OUT/lines.txt" >"$OUT/results.json"
echo "bench: wrote $OUT/results.json"
exit $status
