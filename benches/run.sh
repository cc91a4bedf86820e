#!/bin/bash
# make bench: runs every benchmark, prints their "<name> <value> <unit>" lines and collects
# them into build/bench/results.json. Host benches run here; lab benches boot the KVM lab.
set -u -o pipefail   # a bench that fails must fail make bench, not hide behind tee
cd "$(dirname "$0")/.."
OUT=build/bench
mkdir -p "$OUT"
: >"$OUT/lines.txt"
status=0
for b in benches/bootmeter.sh benches/api.sh benches/setup.sh benches/boot.sh benches/io.sh benches/coldstart.sh benches/warmstart.sh benches/snapshot.sh benches/snapauth.sh benches/clones.sh benches/estimate.sh; do
	[ -x "$b" ] || continue
	echo "== $b"
	if ! "$b" 2>"$OUT/$(basename "$b" .sh).err" | tee -a "$OUT/lines.txt"; then
		echo "bench: $b failed; its stderr is in $OUT/$(basename "$b" .sh).err" >&2
		tail -5 "$OUT/$(basename "$b" .sh).err" >&2
		status=1
	fi
done
# One JSON object: {"name": {"value": V, "unit": "U"}, ...}
awk 'BEGIN { printf "{\n  \"generated_at\": \"%s\"", strftime("%Y-%m-%dT%H:%M:%SZ", systime(), 1) }
     NF == 3 && $1 ~ /^[a-z0-9_]+\.[a-z0-9_]+$/ && $2 ~ /^-?[0-9.]+$/ {
	printf ",\n  \"%s\": {\"value\": %s, \"unit\": \"%s\"}", $1, $2, $3 }
     END { print "\n}" }' "$OUT/lines.txt" >"$OUT/results.json"
echo "bench: wrote $OUT/results.json"
exit $status
