#!/bin/bash
# `kindling run --snapshot-dir` end to end, inside the KVM lab: a cold run stores the
# function's snapshot and a warm run restores it with the same output; restored instances
# get fresh entropy and the host's wall clock (the restore message); a stale or damaged
# snapshot is reported, removed and rebuilt; two runs building the same snapshot at once
# leave one whole entry; `--repeat N --json` summarizes cold and warm runs apart; nothing is
# left behind.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
T=$(mktemp -d)
PIDS=()
trap 'stop_pids; rm -rf "$T"' EXIT
K=build/kindling
CASES="cold_then_warm_same_output warm_breakdown cold_snapshot_breakdown working_set_recorded
	working_set_prefetched restore_message fresh_entropy
	wall_clock concurrent_build repeat_cold_json repeat_warm_json repeat_table damaged_state damaged_mem
	stale_rootfs scratch_cold scratch_warm_as_snapshotted scratch_instances_apart scratch_image_untouched
	scratch_damaged_disk clones_answer clones_fresh_entropy clones_wall_clock clones_density clones_output_unwritable
	nothing_left"

if ! kvm_usable || [ "$(id -u)" != 0 ]; then
	for t in $CASES; do skip "lab.warm.$t" "needs root and /dev/kvm"; done
	exit 0
fi
# What a run may leave behind: namespaces, taps, VMMs, API socket directories.
leftovers() {
	{ ip netns list; ip -o link show | grep -o 'kt0'; pgrep -f "kindling --(kernel|restore)"
	  ls -d /tmp/kindling-run-* ; } 2>/dev/null | wc -l
}
base=$(leftovers)

guest/mkfunction.sh build/examples/wordfreq "$T/wordfreq.ext4" >/dev/null
# Prints 16 bytes of the guest's /dev/urandom and its wall clock (Unix seconds).
mkdir -p "$T/ident"
printf '#!/bin/sh\nhead -c 16 /dev/urandom | od -An -tx1 | tr -d " \\n"; echo\ndate +%%s\n' >"$T/ident/handler"
chmod +x "$T/ident/handler"
guest/mkfunction.sh --busybox "$T/ident" "$T/ident.ext4" >/dev/null
echo "anything" >"$T/in.txt"

# run NAME DIR IMAGE INPUT [ARGS]: status in $rc, output in $T/NAME.out, stderr in .err
run() {
	name=$1 dir=$2 img=$3 input=$4; shift 4
	deadline 120 "$K" run --rootfs "$img" --input "$input" --snapshot-dir "$dir" "$@" \
		>"$T/$name.out" 2>"$T/$name.err" </dev/null
	rc=$?
	echo "  $name: exit $rc; $(grep -E '^(cold|warm) start|^snapshot:' "$T/$name.err" | tr '\n' ' ')"
	show_deadline "$name" "$rc" "$T/$name.err"
}
# (Not anchored at the line's start: with --verbose, the guest console's last line may lack
# its line break.)
# two_at_once NAME DIR IMAGE INPUT [ARGS]: two runs at once, NAME_a and NAME_b (outputs as
# run's); their statuses in $rc_a and $rc_b.
two_at_once() {
	local pre=$1 sdir=$2 simg=$3 sin=$4 n
	shift 4
	for n in a b; do
		deadline_bg 120 "$K" run --rootfs "$simg" --input "$sin" --snapshot-dir "$sdir" "$@" \
			>"$T/${pre}_$n.out" 2>"$T/${pre}_$n.err" </dev/null
		PIDS+=($!)
	done
	reap "${PIDS[0]}" 130; rc_a=$?
	reap "${PIDS[1]}" 130; rc_b=$?
	PIDS=()
}
is_cold() { grep -q 'cold start: vmm setup ' "$T/$1.err" && ! grep -q 'warm start: ' "$T/$1.err"; }
is_warm() { grep -q 'warm start: restore [0-9.]* ms, restore message [0-9.]* ms, invocation [0-9.]* ms, teardown [0-9.]* ms, total [0-9.]* ms' "$T/$1.err"; }
stored() { grep -q "snapshot: [0-9.]* ms (check [0-9.]* ms, pause [0-9.]* ms, create [0-9.]* ms, resume [0-9.]* ms, store [0-9.]* ms), stored as $1/" "$T/$2.err"; }
# entry DIR: the one snapshot entry in DIR (none, or more than one: empty).
entry() {
	local e
	e=$(find "$1" -mindepth 1 -maxdepth 1 -name '[0-9a-f]*' -type d)
	[ "$(echo "$e" | grep -c .)" = 1 ] && echo "$e"
}

# --- cold, then warm: the same output -----------------------------------------------------
S=$T/snaps
run w_cold "$S" "$T/wordfreq.ext4" examples/wordfreq/input.txt
rc_cold=$rc
run w_warm "$S" "$T/wordfreq.ext4" examples/wordfreq/input.txt
if [ $rc_cold = 0 ] && [ $rc = 0 ] && is_cold w_cold && stored "$S" w_cold && cmp -s "$T/w_cold.out" examples/wordfreq/expected.txt &&
	cmp -s "$T/w_warm.out" "$T/w_cold.out"; then
	pass lab.warm.cold_then_warm_same_output
else
	fail lab.warm.cold_then_warm_same_output "rc=$rc_cold/$rc $(tail -n 5 "$T/w_warm.err" | tr '\n' ' ')"
fi
check lab.warm.cold_snapshot_breakdown stored "$S" w_cold
check lab.warm.warm_breakdown is_warm w_warm
# The first warm run recorded its working set next to the snapshot; the next one prefetches
# it, and its vCPUs fault on fewer pages during the invocation.
faults() { sed -n 's/^warm start: .*; invocation faults \([0-9]*\).*/\1/p' "$T/$1.err"; }
if grep -q "^working set: [1-9][0-9]* of [0-9]* pages ([0-9]* ranges) recorded in [0-9.]* ms as $S/[0-9a-f]*/wset" "$T/w_warm.err" &&
	! grep -q 'working set prefetched' "$T/w_warm.err" && [ -s "$(entry "$S")/wset" ]; then
	pass lab.warm.working_set_recorded
else
	fail lab.warm.working_set_recorded "$(grep -E '^(warm|working)' "$T/w_warm.err" | tr '\n' ' ')"
fi
run w_pref "$S" "$T/wordfreq.ext4" examples/wordfreq/input.txt --verbose
f_rec=$(faults w_warm) f_pref=$(faults w_pref)
echo "  invocation faults: ${f_rec:-?} recording, ${f_pref:-?} prefetched; $(grep -o 'prefetch: [^\r]*' "$T/w_pref.err" | head -n 1)"
if [ $rc = 0 ] && cmp -s "$T/w_pref.out" examples/wordfreq/expected.txt && grep -q '(working set prefetched)' "$T/w_pref.err" &&
	grep -q 'kindling: prefetch: [1-9][0-9]* pages in [0-9]* ranges' "$T/w_pref.err" && [ -n "$f_rec" ] && [ -n "$f_pref" ] &&
	[ "$f_pref" -le $((f_rec / 2)) ]; then
	pass lab.warm.working_set_prefetched
else
	fail lab.warm.working_set_prefetched "rc=$rc faults ${f_rec:-?} -> ${f_pref:-?}: $(grep -v 'diag:' "$T/w_pref.err" | tail -n 6 | tr '\n' ' ')"
fi

# --- fresh identity: two instances restored from one snapshot at once ---------------------
I=$T/isnaps
run i_cold "$I" "$T/ident.ext4" "$T/in.txt"
# Long enough that a clock restored as it was at the snapshot would be seen to be wrong.
sleep 10
t0=$(date +%s)
two_at_once i "$I" "$T/ident.ext4" "$T/in.txt" --verbose
t1=$(date +%s)
echo "  i_a: exit $rc_a, $(head -c 200 "$T/i_a.out" | tr '\n' ' '); i_b: exit $rc_b, $(head -c 200 "$T/i_b.out" | tr '\n' ' ')"
rnd_a=$(sed -n 1p "$T/i_a.out") rnd_b=$(sed -n 1p "$T/i_b.out")
if [ $rc_a = 0 ] && [ $rc_b = 0 ] && is_warm i_a && is_warm i_b &&
	grep -q 'run: the guest took the restore message: .*"applied":\["entropy","time"' "$T/i_a.err" &&
	grep -q 'run: the guest took the restore message: .*"applied":\["entropy","time"' "$T/i_b.err"; then
	pass lab.warm.restore_message
else
	fail lab.warm.restore_message "rc=$rc_a/$rc_b; $(grep -h 'error\|restore' "$T/i_a.err" "$T/i_b.err" | head -n 6 | tr '\n' ' ')"
fi
if [ ${#rnd_a} = 32 ] && [ ${#rnd_b} = 32 ] && [ "$rnd_a" != "$rnd_b" ]; then
	pass lab.warm.fresh_entropy
else
	fail lab.warm.fresh_entropy "'$rnd_a' vs '$rnd_b'"
fi
# Each guest's clock within the host's window around the runs (1 s of rounding each way).
ok=1
for n in a b; do
	g=$(sed -n 2p "$T/i_$n.out")
	case $g in '' | *[!0-9]*) ok=0; continue ;; esac
	[ "$g" -ge $((t0 - 1)) ] && [ "$g" -le $((t1 + 1)) ] || ok=0
done
if [ $ok = 1 ]; then
	pass lab.warm.wall_clock
else
	fail lab.warm.wall_clock "host $t0..$t1, guests $(sed -n 2p "$T/i_a.out") $(sed -n 2p "$T/i_b.out")"
fi

# --- two cold runs storing the same snapshot at once: one whole entry ---------------------
C=$T/csnaps
two_at_once c "$C" "$T/wordfreq.ext4" examples/wordfreq/input.txt
run c_warm "$C" "$T/wordfreq.ext4" examples/wordfreq/input.txt
if [ $rc_a = 0 ] && [ $rc_b = 0 ] && [ $rc = 0 ] && cmp -s "$T/c_a.out" examples/wordfreq/expected.txt &&
	cmp -s "$T/c_b.out" examples/wordfreq/expected.txt && cmp -s "$T/c_warm.out" examples/wordfreq/expected.txt &&
	[ -n "$(entry "$C")" ] && is_warm c_warm && [ -z "$(find "$C" -maxdepth 1 -name '.*-*')" ]; then
	pass lab.warm.concurrent_build
else
	fail lab.warm.concurrent_build "rc=$rc_a/$rc_b/$rc; $(ls -a "$C" | tr '\n' ' ')"
fi

# --- kindling run --repeat N --json: the summary, cold and warm apart ---------------------
# repeat NAME SECONDS ARGS...: `kindling run --rootfs wordfreq --input ... ARGS`, status in
# $rc, stdout in $T/NAME.out, stderr in .err. Five runs in the emulated lab: 600 s, not 120.
repeat() {
	local rname=$1 secs=$2
	shift 2
	deadline "$secs" "$K" run --rootfs "$T/wordfreq.ext4" --input examples/wordfreq/input.txt "$@" \
		>"$T/$rname.out" 2>"$T/$rname.err" </dev/null
	rc=$?
	echo "  $rname: exit $rc; $(grep -E '^(cold|warm) ' "$T/$rname.err" | tr '\n' ' ')"
	show_deadline "$rname" "$rc" "$T/$rname.err"
}
# json_ok FILE COLD WARM: FILE is one JSON object with the host facts, COLD + WARM runs
# counted, none failed or differing, and each phase of each kind with n and ordered figures
# (null ones for a kind without runs).
json_ok() {
	python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
cold, warm = int(sys.argv[2]), int(sys.argv[3])
h = d["host"]
assert all(isinstance(h[k], str) and h[k] for k in ("kernel", "cpu_model", "kvm", "kindling_version")), h
assert h["kvm"] in ("kvm-intel", "kvm-amd", "pvm", "unknown"), h
assert h["guest_kernel_minsn"] is None, h
assert d["percentiles"] == "nearest-rank"
r = d["runs"]
assert (r["requested"], r["cold"], r["warm"], r["failed"], r["differing"]) == (cold + warm, cold, warm, 0, 0), r
names = {"cold": ("vmm_setup_ms", "boot_to_ready_ms", "invocation_ms", "teardown_ms", "total_ms",
                  "invocation_faults"),
         "warm": ("restore_ms", "restore_message_ms", "invocation_ms", "teardown_ms", "total_ms",
                  "invocation_faults")}
for kind, n in (("cold", cold), ("warm", warm)):
    assert set(d["phases"][kind]) == set(names[kind]), d["phases"][kind].keys()
    for p in names[kind]:
        f = d["phases"][kind][p]
        assert f["n"] == n, (kind, p, f)
        if n:
            assert 0 <= f["min"] <= f["p50"] <= f["p90"] <= f["p99"] <= f["max"], (kind, p, f)
        else:
            assert all(f[k] is None for k in ("p50", "p90", "p99", "min", "max")), (kind, p, f)
' "$@" 2>&1
}
# Cold: no snapshot directory, five boots. stdout is the JSON alone, stderr has the table and
# no per-run breakdown lines.
repeat r_cold 600 --repeat 5 --json
why=$(json_ok "$T/r_cold.out" 5 0)
if [ $rc = 0 ] && [ -z "$why" ] && [ "$(wc -l <"$T/r_cold.out")" = 1 ] && ! grep -q '^cold start:' "$T/r_cold.err" &&
	grep -q '^cold  vmm_setup ' "$T/r_cold.err"; then
	pass lab.warm.repeat_cold_json
else
	fail lab.warm.repeat_cold_json "rc=$rc $(echo "$why" | tail -n 1) $(grep -v 'diag:' "$T/r_cold.err" | tail -n 3 | tr '\n' ' ')"
fi
# With a snapshot directory: the first run boots and stores, the other four restore.
R=$T/rsnaps
repeat r_warm 600 --repeat 5 --snapshot-dir "$R" --json
why=$(json_ok "$T/r_warm.out" 1 4)
if [ $rc = 0 ] && [ -z "$why" ] && [ -n "$(entry "$R")" ] && grep -q '^warm  restore ' "$T/r_warm.err"; then
	pass lab.warm.repeat_warm_json
else
	fail lab.warm.repeat_warm_json "rc=$rc $(echo "$why" | tail -n 1) $(grep -v 'diag:' "$T/r_warm.err" | tail -n 3 | tr '\n' ' ')"
fi
# Without --json: the output once, each run's breakdown, then the table (three warm runs).
repeat r_table 300 --repeat 3 --snapshot-dir "$R"
if [ $rc = 0 ] && cmp -s "$T/r_table.out" examples/wordfreq/expected.txt &&
	[ "$(grep -c '^warm start: restore ' "$T/r_table.err")" = 3 ] &&
	grep -q '^kindling run --repeat 3: 0 cold, 3 warm, 0 failed' "$T/r_table.err" &&
	grep -q '^warm  total ' "$T/r_table.err" && ! grep -q '^cold  ' "$T/r_table.err"; then
	pass lab.warm.repeat_table
else
	fail lab.warm.repeat_table "rc=$rc $(grep -v 'diag:' "$T/r_table.err" | tail -n 4 | tr '\n' ' ')"
fi

# --- damaged and stale snapshots: reported, removed, rebuilt -------------------------------
# rebuilt NAME WHAT: the run NAME said the snapshot was WHAT, booted cold with the right
# output, stored a new one, and the next run restores it.
# (Its own names: run sets name.)
rebuilt() {
	local first=$1 what=$2 first_rc=$rc
	run "${first}_next" "$S" "$T/wordfreq.ext4" examples/wordfreq/input.txt
	[ "$first_rc" = 0 ] && [ "$rc" = 0 ] && [ "$(grep -c "snapshot .* is $what" "$T/$first.err")" = 1 ] &&
		is_cold "$first" && stored "$S" "$first" && cmp -s "$T/$first.out" examples/wordfreq/expected.txt &&
		is_warm "${first}_next" && cmp -s "$T/${first}_next.out" examples/wordfreq/expected.txt && return 0
	echo "--- ${first}_next (exit $rc), stderr:"; grep -v 'diag:' "$T/${first}_next.err" | tail -n 20
	return 1
}
e=$(entry "$S")
if [ -n "$e" ] && [ -s "$e/state" ]; then
	# One byte of the state file flipped in place.
	b=$(od -An -tu1 -j 64 -N 1 "$e/state" | tr -d ' ')
	printf "\\$(printf %o $((255 - b)))" | dd of="$e/state" bs=1 seek=64 conv=notrunc status=none
	run d_state "$S" "$T/wordfreq.ext4" examples/wordfreq/input.txt
	if rebuilt d_state damaged; then pass lab.warm.damaged_state; else
		fail lab.warm.damaged_state "rc=$rc $(grep -v 'diag:' "$T/d_state.err" | tail -n 4 | tr '\n' ' ')"; fi
else
	fail lab.warm.damaged_state "no snapshot entry in $S: $(ls -a "$S" 2>&1 | tr '\n' ' ')"
fi
e=$(entry "$S")
if [ -n "$e" ] && [ -s "$e/mem" ]; then
	truncate -s -4096 "$e/mem"
	run d_mem "$S" "$T/wordfreq.ext4" examples/wordfreq/input.txt
	if rebuilt d_mem damaged; then pass lab.warm.damaged_mem; else
		fail lab.warm.damaged_mem "rc=$rc $(grep -v 'diag:' "$T/d_mem.err" | tail -n 4 | tr '\n' ' ')"; fi
else
	fail lab.warm.damaged_mem "no snapshot entry in $S: $(ls -a "$S" 2>&1 | tr '\n' ' ')"
fi
# The rootfs changed (its mtime): the snapshot is of what it was.
sleep 1
touch "$T/wordfreq.ext4"
run s_rootfs "$S" "$T/wordfreq.ext4" examples/wordfreq/input.txt
if rebuilt s_rootfs stale && grep -q 'rootfs changed' "$T/s_rootfs.err"; then pass lab.warm.stale_rootfs; else
	fail lab.warm.stale_rootfs "rc=$rc $(grep -v 'diag:' "$T/s_rootfs.err" | tail -n 4 | tr '\n' ' ')"; fi

# --- a scratch disk: its state at snapshot time goes with the snapshot -------------------
# The init hook writes a random token to /scratch (and /tmp) before readiness, so before
# the snapshot; each invocation appends to /scratch/log and shows what it finds.
mkdir -p "$T/scr"
printf '#!/bin/sh\nhead -c 8 /dev/urandom | od -An -tx1 | tr -d " \\n" >/scratch/token\necho init >/tmp/before.txt\n' \
	>"$T/scr/init.sh"
printf '#!/bin/sh\necho "token $(cat /scratch/token) tmp $(cat /tmp/before.txt)"\necho x >>/scratch/log\necho "log $(wc -l </scratch/log)"\necho "files $(ls /scratch | tr "\\n" " ")"\n' \
	>"$T/scr/handler"
chmod +x "$T/scr/init.sh" "$T/scr/handler"
guest/mkfunction.sh --busybox --init-hook init.sh "$T/scr" "$T/scr.ext4" >/dev/null
truncate -s 64M "$T/scratch.ext4"
PATH=$PATH:/sbin:/usr/sbin mkfs.ext4 -q -F "$T/scratch.ext4"
cp --sparse=always "$T/scratch.ext4" "$T/scratch.orig"
X=$T/xsnaps
# srun NAME [ARGS]: run with the scratch image, status in $rc.
srun() {
	local n=$1
	shift
	run "$n" "$X" "$T/scr.ext4" "$T/in.txt" --scratch "$T/scratch.ext4" "$@"
}
tok() { sed -n 's/^token \([0-9a-f]*\) tmp init$/\1/p' "$T/$1.out"; }
srun x_cold
if [ $rc = 0 ] && is_cold x_cold && grep -q "snapshot: .*, disk [0-9.]* ms, .*stored as $X/" "$T/x_cold.err" &&
	[ -n "$(tok x_cold)" ] && grep -qx 'log 1' "$T/x_cold.out" && grep -q '^files .*lost+found' "$T/x_cold.out"; then
	pass lab.warm.scratch_cold
else
	fail lab.warm.scratch_cold "rc=$rc: $(head -c 300 "$T/x_cold.out") $(grep -v 'diag:' "$T/x_cold.err" | tail -n 5)"
fi
# Restored: the token the init hook wrote before the snapshot, in /tmp and on the disk; not
# the line the cold run's invocation appended after it.
srun x_warm
if [ $rc = 0 ] && is_warm x_warm && [ -n "$(tok x_cold)" ] && [ "$(tok x_warm)" = "$(tok x_cold)" ] &&
	grep -qx 'log 1' "$T/x_warm.out"; then
	pass lab.warm.scratch_warm_as_snapshotted
else
	fail lab.warm.scratch_warm_as_snapshotted "rc=$rc: cold: $(head -c 200 "$T/x_cold.out") warm: $(head -c 200 "$T/x_warm.out") $(grep -v 'diag:' "$T/x_warm.err" | tail -n 5)"
fi
# Two instances at once: each its own copy (each appends the first line of its own log).
two_at_once x_two "$X" "$T/scr.ext4" "$T/in.txt" --scratch "$T/scratch.ext4"
if [ $rc_a = 0 ] && [ $rc_b = 0 ] && is_warm x_two_a && is_warm x_two_b && grep -qx 'log 1' "$T/x_two_a.out" &&
	grep -qx 'log 1' "$T/x_two_b.out" && grep -q "^token $(tok x_cold) " "$T/x_two_b.out"; then
	pass lab.warm.scratch_instances_apart
else
	fail lab.warm.scratch_instances_apart "rc=$rc_a,$rc_b: $(head -c 200 "$T/x_two_a.out") | $(head -c 200 "$T/x_two_b.out")"
fi
# The image given is a template: never written.
if cmp -s "$T/scratch.ext4" "$T/scratch.orig"; then pass lab.warm.scratch_image_untouched; else
	fail lab.warm.scratch_image_untouched "$T/scratch.ext4 changed"; fi
# The entry's disk changed: damaged, rebuilt by a cold run (a new token), then restored.
e=$(entry "$X")
if [ -n "$e" ] && [ -s "$e/disk" ]; then
	printf 'X' | dd of="$e/disk" bs=1 seek=4096 conv=notrunc status=none
	srun x_dmg
	srun x_dmg_next
	if [ $rc = 0 ] && grep -q "snapshot .* is damaged (its disk file changed" "$T/x_dmg.err" && is_cold x_dmg &&
		is_warm x_dmg_next && [ -n "$(tok x_dmg)" ] && [ "$(tok x_dmg)" != "$(tok x_cold)" ] &&
		[ "$(tok x_dmg_next)" = "$(tok x_dmg)" ]; then
		pass lab.warm.scratch_damaged_disk
	else
		fail lab.warm.scratch_damaged_disk "rc=$rc $(grep -v 'diag:' "$T/x_dmg.err" | tail -n 4 | tr '\n' ' ')"
	fi
else
	fail lab.warm.scratch_damaged_disk "no snapshot entry with a disk in $X: $(ls -a "$X" "$e" 2>&1 | tr '\n' ' ')"
fi

# --- ten clones of one snapshot at once: each answers, with its own entropy -----------------
# I holds ident's snapshot (stored above). Its outputs differ by design (entropy, clock), so
# the run exits 125 as --repeat does for differing outputs: 9 differ from clone 1's, none failed.
CO=$T/clone-out
mkdir -p "$CO"
t0=$(date +%s)
run cl "$I" "$T/ident.ext4" "$T/in.txt" --clones 10 --outputs "$CO"
t1=$(date +%s)
grep -E '^clones' "$T/cl.err" | sed 's/^/  /'
ok=1
for k in $(seq 10); do
	grep -q "^clone $k: exit 0; warm start: restore [0-9.]* ms, restore message [0-9.]* ms, invocation [0-9.]* ms" "$T/cl.err" &&
		[ "$(wc -l <"$CO/clone-$k.out")" = 2 ] || ok=0
done
if [ $ok = 1 ] && [ $rc = 125 ] && grep -q 'of 10 clones, 0 failed and 9 gave another output' "$T/cl.err" &&
	grep -q '^clones: 10 answered in [0-9.]* ms (first answer at [0-9.]* ms, last at [0-9.]* ms), [0-9.]* clones/s$' "$T/cl.err" &&
	cmp -s "$T/cl.out" "$CO/clone-1.out"; then
	pass lab.warm.clones_answer
else
	fail lab.warm.clones_answer "rc=$rc; errors: $(grep -E 'error|warn' "$T/cl.err" | head -n 12 | tr '\n' ' ');\
 $(grep -E '^clone(s:| [0-9]*: (exit|failed))' "$T/cl.err" | tr '\n' ' '); in $CO: $(ls -A "$CO" | tr '\n' ' ');\
 $(df -m "$CO" | tail -n 1)"
fi
rnds=$(for k in $(seq 10); do sed -n 1p "$CO/clone-$k.out" 2>/dev/null; done)
if [ "$(echo "$rnds" | grep -cE '^[0-9a-f]{32}$')" = 10 ] && [ "$(echo "$rnds" | sort -u | wc -l)" = 10 ]; then
	pass lab.warm.clones_fresh_entropy
else
	fail lab.warm.clones_fresh_entropy "$(echo "$rnds" | tr '\n' ' ')"
fi
ok=1
for k in $(seq 10); do
	g=$(sed -n 2p "$CO/clone-$k.out" 2>/dev/null)
	case $g in '' | *[!0-9]*) ok=0; continue ;; esac
	[ "$g" -ge $((t0 - 1)) ] && [ "$g" -le $((t1 + 1)) ] || ok=0
done
if [ $ok = 1 ]; then
	pass lab.warm.clones_wall_clock
else
	fail lab.warm.clones_wall_clock "host $t0..$t1, guests $(for k in $(seq 10); do sed -n 2p "$CO/clone-$k.out" 2>/dev/null; done | tr '\n' ' ')"
fi
# Density: every clone measured; guest memory shared (PSS well under the 128 MiB of RAM,
# private dirty under it too), the VMM's own RSS present and under 64 MiB.
density_ok() {
	local k line
	for k in $(seq 10); do
		line=$(grep "^clone $k: vmm_rss_kib " "$T/cl.err") || return 1
		echo "$line" | awk '{ gsub(",", ""); v = $4; p = $6; d = $8
			exit !(v > 0 && v < 65536 && p > 0 && p < 131072 && d > 0 && d <= p + 4 && d < 131072) }' || return 1
	done
	grep -q '^clones mean: vmm_rss_kib [0-9]*, guest_pss_kib [0-9]*, guest_private_dirty_kib [0-9]*$' "$T/cl.err"
}
grep -E '^clones mean' "$T/cl.err" | sed 's/^/  /'
if density_ok; then
	pass lab.warm.clones_density
else
	fail lab.warm.clones_density "$(grep -E 'vmm_rss_kib|memory figures' "$T/cl.err" | head -n 4 | tr '\n' ' ')"
fi
# An output that cannot be written fails the run, says which and why; the others are kept.
CU=$T/clone-unwritable
mkdir -p "$CU/clone-2.out"
run cu "$I" "$T/ident.ext4" "$T/in.txt" --clones 2 --outputs "$CU"
if [ $rc = 125 ] && grep -q "run: cannot write $CU/clone-2.out: Is a directory" "$T/cu.err" &&
	grep -q "run: 1 of the clones' outputs are not in $CU" "$T/cu.err" && cmp -s "$T/cu.out" "$CU/clone-1.out"; then
	pass lab.warm.clones_output_unwritable
else
	fail lab.warm.clones_output_unwritable "rc=$rc $(grep -v 'diag:' "$T/cu.err" | tail -n 6 | tr '\n' ' ')"
fi

sleep 1
if [ "$(leftovers)" = "$base" ] && [ -z "$(find "$S" "$I" "$C" "$R" "$X" -maxdepth 1 -name '.*-*')" ]; then
	pass lab.warm.nothing_left
else
	fail lab.warm.nothing_left "$(leftovers) things left (before: $base); $(ls -a "$S" | tr '\n' ' ')"
fi
exit 0
