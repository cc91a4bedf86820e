#!/bin/bash
# Snapshots through the API and `kindling --restore`, on this host's /dev/kvm with a tiny
# guest that spins (issue 12): create (Full, Diff) from a paused VM, load into a new process,
# Firecracker's post-load refusals (test_snapshot_basic.py test_negative_postload_api), a
# failed load that leaves the process usable, and the command-line restore. Needs the VMM
# side (vmm/snapshot.c); run by tests/kvm/host.sh.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
K=$PWD/build/kindling
C=$PWD/build/apiclient
G=$PWD/build/guests
T=$(mktemp -d /tmp/kindling-snap.XXXXXX)
S=$T/api.sock
PIDS=()
cleanup() {
	stop_pids
	rm -rf "$T"
}
trap cleanup EXIT
NOT_AFTER="The requested operation is not supported after starting the microVM."

CASES="create_full create_diff load_paused load_machine_config postload_instance_start postload_boot_config
	postload_load_again load_resume create_while_running create_from_loaded diff_untracked_after_load
	failed_load_empty_state failed_load_still_serving load_after_failed_load restore_cli_resume
	restore_cli_paused_api restore_small_pages restore_host_pages unkicked_untaken_before
	unkicked_taken_after_restore uffd_no_handler uffd_no_handler_still_serving uffd_load_resume uffd_handshake_taken
	uffd_handler_killed uffd_count_snapshot uffd_count_served uffd_handler_silent restore_drive_create
	restore_drive_config restore_drive_resume restore_drive_unknown_id restore_drive_other_size
	prefetch_populates prefetch_past_ram_warns prefetch_selftest_kills signed_create signed_info signed_restore
	signed_no_key signed_other_key signed_key_for_unsigned signed_state_flip_16 signed_state_flip_200
	signed_state_flip_middle signed_state_flip_mac signed_mem_flip_0 signed_mem_flip_1m verify_needs_key
	verify_bad_mode signed_lazy_restore signed_lazy_mem_flip_0 signed_lazy_count_create signed_lazy_count_runs
	signed_lazy_flip_touched signed_lazy_flip_untouched_runs signed_lazy_create_again signed_lazy_again_full_runs"
if ! kvm_usable || [ ! -f "$G/spin.elf" ] || [ ! -f "$G/count.elf" ]; then
	for t in $CASES; do skip "snapshot.$t" "no usable /dev/kvm on this host"; done
	exit 0
fi

# spawn [ARGS...]: a fresh VMM serving $S; the previous one ends.
spawn() {
	[ -n "${VPID:-}" ] && { kill "$VPID" 2>/dev/null; reap "$VPID" 2>/dev/null; }
	rm -f "$S"
	timeout -k 10 "$(scaled 120)" "$K" --api-sock "$S" "$@" >"$T/vmm.out" 2>"$T/vmm.err" </dev/null &
	VPID=$!
	PIDS+=("$VPID")
	timeout 10 "$C" "$S" ready 5000 >/dev/null || echo "spawn: no socket: $(head -c 300 "$T/vmm.err")" >&2
}
# req METHOD PATH [BODY]: $code and the body in $T/body
req() {
	local args=(-s -m "$(scaled 30)" -o "$T/body" -w '%{http_code}' --unix-socket "$S" -X "$1" "http://localhost$2")
	[ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' -d "$3")
	code=$(curl "${args[@]}")
}
# want NAME CODE [TEXT] -- METHOD PATH [BODY]
want() {
	local name=$1 code_want=$2 text=""
	shift 2
	if [ "$1" != -- ]; then text=$1; shift; fi
	shift
	req "$@"
	if [ "$code" = "$code_want" ] && { [ -z "$text" ] || grep -qF -- "$text" "$T/body"; }; then
		pass "snapshot.$name"
	else
		fail "snapshot.$name" "want $code_want${text:+ \"$text\"}, got $code: $(head -c 300 "$T/body") $(tail -n 3 "$T/vmm.err")"
	fi
}
state_is() { req GET /; grep -q "\"state\":\"$1\"" "$T/body"; }

# The base VM: 2 vCPUs, 64 MiB, dirty pages tracked; paused, then a Full and a Diff snapshot.
spawn
req PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 64, "track_dirty_pages": true}'
req PUT /boot-source "{\"kernel_image_path\": \"$G/spin.elf\"}"
req PUT /actions '{"action_type": "InstanceStart"}'
req PATCH /vm '{"state": "Paused"}'
want create_full 204 -- PUT /snapshot/create "{\"snapshot_path\": \"$T/full.state\", \"mem_file_path\": \"$T/full.mem\"}"
want create_diff 204 -- PUT /snapshot/create "{\"snapshot_type\": \"Diff\", \"snapshot_path\": \"$T/diff.state\", \"mem_file_path\": \"$T/diff.mem\"}"
kill "$VPID"; reap "$VPID" 2>/dev/null; VPID=
LOAD="{\"snapshot_path\": \"$T/full.state\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$T/full.mem\"}}"

# Load (paused), then Firecracker's post-load refusals.
spawn
want load_paused 204 -- PUT /snapshot/load "$LOAD"
req GET /machine-config
check snapshot.load_machine_config grep -q '"vcpu_count":2,"mem_size_mib":64' "$T/body"
want postload_instance_start 400 "$NOT_AFTER" -- PUT /actions '{"action_type": "InstanceStart"}'
want postload_boot_config 400 "$NOT_AFTER" -- PUT /boot-source "{\"kernel_image_path\": \"$G/spin.elf\"}"
want postload_load_again 400 "$NOT_AFTER" -- PUT /snapshot/load "$LOAD"
if state_is Paused && { req PATCH /vm '{"state": "Resumed"}'; [ "$code" = 204 ]; } && state_is Running; then
	pass snapshot.load_resume
else
	fail snapshot.load_resume "$(head -c 300 "$T/body")"
fi
want create_while_running 400 "save/restore unavailable while running" -- PUT /snapshot/create "{\"snapshot_path\": \"$T/x.state\", \"mem_file_path\": \"$T/x.mem\"}"
req PATCH /vm '{"state": "Paused"}'
want create_from_loaded 204 -- PUT /snapshot/create "{\"snapshot_path\": \"$T/again.state\", \"mem_file_path\": \"$T/again.mem\"}"
# Loaded without enable_diff_snapshots / track_dirty_pages: no Diff.
want diff_untracked_after_load 400 "Diff snapshots are not allowed on uVMs with dirty page tracking disabled" -- PUT /snapshot/create "{\"snapshot_type\": \"Diff\", \"snapshot_path\": \"$T/d2.state\", \"mem_file_path\": \"$T/d2.mem\"}"

# Better than Firecracker: a failed load is a 400 and the same process can load afterwards.
spawn
: >"$T/empty.state"
want failed_load_empty_state 400 "Load snapshot error: Failed to restore from snapshot: " -- PUT /snapshot/load "{\"snapshot_path\": \"$T/empty.state\", \"mem_file_path\": \"$T/full.mem\"}"
check snapshot.failed_load_still_serving state_is "Not started"
want load_after_failed_load 204 -- PUT /snapshot/load "{\"snapshot_path\": \"$T/again.state\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$T/again.mem\"}, \"resume_vm\": true}"
kill "$VPID"; reap "$VPID" 2>/dev/null; VPID=

# The Uffd backend through examples/uffd (Firecracker's protocol): a load with nobody
# listening fails at once and leaves the process usable; a guest that needs its pages gets
# them from the handler; a handler that dies, or goes silent, stops the VM with the reason
# (within the 10 s deadline, sampled every 250 ms) instead of hanging it.
H=$PWD/build/examples/uffd-handler
# uffd_load STATE: the load body for STATE with the handler on $T/uffd.sock, resumed.
uffd_load() {
	echo "{\"snapshot_path\": \"$1\", \"mem_backend\": {\"backend_type\": \"Uffd\", \"backend_path\": \"$T/uffd.sock\"}, \"resume_vm\": true}"
}
# handler [--no-serve] MEM: a fresh handler on $T/uffd.sock serving MEM, its pid in $HPID.
handler() {
	rm -f "$T/uffd.sock"
	# Not under timeout: SIGKILL must reach the handler itself. It exits when its VMM hangs
	# up; the EXIT trap ends it otherwise.
	"$H" "${@:1:$#-1}" "$T/uffd.sock" "${@: -1}" 2>"$T/handler.err" &
	HPID=$!
	PIDS+=("$HPID")
	for _ in $(seq 100); do [ -S "$T/uffd.sock" ] && break; sleep 0.05; done
}
# vmm_threads: what each thread of the VMM (the child of timeout $VPID) waits in, for a
# failure's message.
vmm_threads() {
	local k t
	k=$(pgrep -P "$VPID" | head -n 1)
	[ -n "$k" ] || { echo "(no VMM process)"; return; }
	for t in /proc/"$k"/task/*; do
		echo "[$(cat "$t/comm" 2>/dev/null) $(sed 's/.*) //' "$t/stat" 2>/dev/null | cut -d' ' -f1) $(cat "$t/wchan" 2>/dev/null)$(head -n 4 "$t/stack" 2>/dev/null | sed 's/^\[<[0-9a-f]*>\] / /' | tr '\n' ' ')]"
	done | tr '\n' ' '
}
# vmm_gone: whether the VMM exits within 20 s (wall clock, scaled); reaped either way.
# $VMM_STUCK says what its threads waited in if it did not.
vmm_gone() {
	local end=$((SECONDS + $(scaled 20))) gone=1
	while running "$VPID"; do
		[ $SECONDS -lt $end ] || { gone=; break; }
		sleep 0.1
	done
	VMM_STUCK=
	[ -n "$gone" ] || VMM_STUCK="still running after $(scaled 20) s: $(vmm_threads); "
	reap "$VPID" 2>/dev/null
	VPID=
	[ -n "$gone" ]
}
# vmm_ends_with NAME TEXT: the VMM exits within 20 s and its log says TEXT.
vmm_ends_with() {
	if vmm_gone && grep -qF -- "$2" "$T/vmm.err"; then
		pass "snapshot.$1"
	else
		fail "snapshot.$1" "$VMM_STUCK$(tail -n 3 "$T/vmm.err")"
	fi
}
spawn
rm -f "$T/uffd.sock"
want uffd_no_handler 400 "cannot connect to the page-fault handler" -- PUT /snapshot/load "$(uffd_load "$T/full.state")"
check snapshot.uffd_no_handler_still_serving state_is "Not started"
# The spinning guest (halted, interrupts off) touches no page: the handshake and the
# handler's hang-up are what this part checks.
handler "$T/full.mem"
want uffd_load_resume 204 -- PUT /snapshot/load "$(uffd_load "$T/full.state")"
sleep 1
if state_is Running && kill -0 "$HPID" 2>/dev/null && grep -q "serving 1 region" "$T/handler.err"; then
	pass snapshot.uffd_handshake_taken
else
	fail snapshot.uffd_handshake_taken "$(head -c 300 "$T/body") $(tail -n 3 "$T/vmm.err") $(cat "$T/handler.err")"
fi
{ kill -KILL "$HPID"; wait "$HPID"; } 2>/dev/null # (no "Killed" notice from bash)
vmm_ends_with uffd_handler_killed "the page-fault handler went away"
# The counting guest (count.S, snapshotted by tests/kvm/state.c after 300 ms) faults on its
# first instruction: with a handler serving it counts on to 60 and resets (the VMM exits);
# with a silent one the deadline stops it.
seq -f 'COUNT %02g' 1 60 >"$T/count.want"
if timeout -k 10 "$(scaled 20)" build/tests/kvm-state snap-create "$G/count.elf" 1 300 "$T/count.state" "$T/count.mem" \
	>"$T/count.a.out" 2>"$T/count.a.err" </dev/null && [ -s "$T/count.a.out" ] && [ "$(wc -l <"$T/count.a.out")" -lt 60 ]; then
	pass snapshot.uffd_count_snapshot
else
	fail snapshot.uffd_count_snapshot "$(tail -c 40 "$T/count.a.out" | tr '\n' ' ') $(head -c 300 "$T/count.a.err")"
fi
spawn
handler "$T/count.mem"
req PUT /snapshot/load "$(uffd_load "$T/count.state")"
if vmm_gone && [ "$code" = 204 ] && cat "$T/count.a.out" "$T/vmm.out" | cmp -s - "$T/count.want"; then
	pass snapshot.uffd_count_served
else
	fail snapshot.uffd_count_served "${VMM_STUCK}load $code: $(head -c 200 "$T/body"); a=$(tail -c 40 "$T/count.a.out" | tr '\n' ' ') b=$(head -c 40 "$T/vmm.out" | tr '\n' ' ') $(tail -n 3 "$T/vmm.err") $(cat "$T/handler.err")"
fi
kill "$HPID" 2>/dev/null
spawn
handler --no-serve "$T/count.mem"
req PUT /snapshot/load "$(uffd_load "$T/count.state")"
vmm_ends_with uffd_handler_silent "the page-fault handler left a fault unserved for 10000 ms"
kill "$HPID" 2>/dev/null

# kindling --restore: resumed without an API (the guest spins until killed), or paused
# behind the API socket.
timeout -k 10 "$(scaled 120)" "$K" --restore "$T/full.state" --mem "$T/full.mem" --resume --no-api >"$T/cli.out" 2>"$T/cli.err" </dev/null &
cpid=$!
PIDS+=("$cpid")
sleep 1
if kill -0 "$cpid" 2>/dev/null; then pass snapshot.restore_cli_resume; else fail snapshot.restore_cli_resume "$(head -c 300 "$T/cli.err")"; fi
kill "$cpid" 2>/dev/null; reap "$cpid" 2>/dev/null
rm -f "$S"
timeout -k 10 "$(scaled 120)" "$K" --restore "$T/full.state" --mem "$T/full.mem" --api-sock "$S" >"$T/cli.out" 2>"$T/cli.err" </dev/null &
VPID=$!
PIDS+=("$VPID")
timeout 10 "$C" "$S" ready 5000 >/dev/null
check snapshot.restore_cli_paused_api state_is Paused
kill "$VPID"; reap "$VPID" 2>/dev/null; VPID=

# --restore-small-pages (kindling run passes it): the memory file's zero ranges, mapped
# anonymous, get MADV_NOHUGEPAGE (smaps VmFlags "nh"); without it they keep the host's THP
# policy, as a booted VM's RAM does. The spin guest's 64 MiB are mostly a zero end.
# nh_maps PID MEMFILE MIB: how many anonymous mappings of PID inside its guest RAM (MIB MiB
# from its first mapping of MEMFILE) have "nh" (thread stacks have it too, from glibc).
nh_maps() {
	local line f lo=0 a inram=0 n=0 size=$(($3 << 20))
	while read -r line; do
		if [[ $line =~ ^([0-9a-f]+)-[0-9a-f]+\ [^\ ]+\ [^\ ]+\ [^\ ]+\ [^\ ]+\ *(.*)$ ]]; then
			a=$((16#${BASH_REMATCH[1]}))
			f=${BASH_REMATCH[2]}
			[ "$f" = "$2" ] && [ $lo = 0 ] && lo=$a
			inram=0
			[ $lo != 0 ] && [ $a -ge $lo ] && [ $a -lt $((lo + size)) ] && [ -z "$f" ] && inram=1
		elif [[ $inram = 1 && $line == VmFlags:* && " $line " == *" nh "* ]]; then
			n=$((n + 1))
		fi
	done <"/proc/$1/smaps"
	echo $n
}
for flag in small host; do
	rm -f "$S"
	extra=()
	[ $flag = small ] && extra=(--restore-small-pages)
	timeout -k 10 "$(scaled 120)" "$K" --restore "$T/full.state" --mem "$T/full.mem" "${extra[@]}" --api-sock "$S" \
		>"$T/cli.out" 2>"$T/cli.err" </dev/null &
	VPID=$!
	PIDS+=("$VPID")
	timeout 10 "$C" "$S" ready 5000 >/dev/null
	n=$(nh_maps "$(pgrep -P "$VPID" || echo "$VPID")" "$T/full.mem" 64)
	if { [ $flag = small ] && [ "$n" -ge 1 ]; } || { [ $flag = host ] && [ "$n" = 0 ]; }; then
		pass "snapshot.restore_${flag}_pages"
	else
		fail "snapshot.restore_${flag}_pages" "$n anonymous mappings with nh; $(tail -n 3 "$T/cli.err")"
	fi
	kill "$VPID"; reap "$VPID" 2>/dev/null; VPID=
done

# A request the guest made available whose kick the saved VMM never served (a kick lives in
# an eventfd, not in the snapshot; with EVENT_IDX the guest sends no other): the restored
# device looks at its queues by itself. tests/guests/unkicked.S never writes QueueNotify.
printf 'KINDLING' >"$T/unkicked.img"
truncate -s 1M "$T/unkicked.img"
spawn
req PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 64}'
req PUT /boot-source "{\"kernel_image_path\": \"$G/unkicked.elf\"}"
req PUT /drives/d0 "{\"drive_id\": \"d0\", \"path_on_host\": \"$T/unkicked.img\", \"is_root_device\": false, \"is_read_only\": true}"
req PUT /actions '{"action_type": "InstanceStart"}'
for _ in $(seq 100); do grep -q PENDING "$T/vmm.out" && break; sleep 0.1; done
sleep 0.5 # the source VMM is given time to (wrongly) take it
if grep -q PENDING "$T/vmm.out" && ! grep -q TAKEN "$T/vmm.out"; then pass snapshot.unkicked_untaken_before; else
	fail snapshot.unkicked_untaken_before "$(head -c 100 "$T/vmm.out" | tr '\n' ' ') $(tail -n 3 "$T/vmm.err")"; fi
req PATCH /vm '{"state": "Paused"}'
req PUT /snapshot/create "{\"snapshot_path\": \"$T/unkicked.state\", \"mem_file_path\": \"$T/unkicked.mem\"}"
ccode=$code
kill "$VPID"; reap "$VPID" 2>/dev/null; VPID=
deadline "$(scaled 30)" "$K" --restore "$T/unkicked.state" --mem "$T/unkicked.mem" --resume --no-api \
	>"$T/out" 2>"$T/err" </dev/null
rc=$?
if [ "$ccode" = 204 ] && [ $rc = 0 ] && grep -q '^TAKEN-OK' "$T/out"; then pass snapshot.unkicked_taken_after_restore; else
	fail snapshot.unkicked_taken_after_restore "create $ccode, rc=$rc $(head -c 100 "$T/out" | tr '\n' ' ') $(grep -v diag: "$T/err" | tail -n 3)"
	show_deadline restore "$rc" "$T/err"
fi

# Issue 13's extensions of --restore. --restore-drive: a VM with a drive "scratch",
# snapshotted, restored over a copy of the disk (GET /vm/config reports the copy); refused
# before any VM runs: an id the snapshot has no drive for (the message names its ids), a disk
# of another size.
truncate -s 1M "$T/scratch.img"
spawn
req PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 64}'
req PUT /boot-source "{\"kernel_image_path\": \"$G/spin.elf\"}"
req PUT /drives/scratch "{\"drive_id\": \"scratch\", \"path_on_host\": \"$T/scratch.img\", \"is_root_device\": false, \"is_read_only\": false}"
req PUT /actions '{"action_type": "InstanceStart"}'
req PATCH /vm '{"state": "Paused"}'
want restore_drive_create 204 -- PUT /snapshot/create "{\"snapshot_path\": \"$T/drive.state\", \"mem_file_path\": \"$T/drive.mem\"}"
kill "$VPID"; reap "$VPID" 2>/dev/null; VPID=
cp "$T/scratch.img" "$T/copy.img"
rm -f "$S"
timeout -k 10 "$(scaled 120)" "$K" --restore "$T/drive.state" --mem "$T/drive.mem" --restore-drive scratch="$T/copy.img" \
	--api-sock "$S" >"$T/vmm.out" 2>"$T/vmm.err" </dev/null &
VPID=$!
PIDS+=("$VPID")
timeout 10 "$C" "$S" ready 5000 >/dev/null
req GET /vm/config
if [ "$code" = 200 ] && grep -qF "\"path_on_host\":\"$T/copy.img\"" "$T/body" && ! grep -qF "$T/scratch.img" "$T/body"; then
	pass snapshot.restore_drive_config
else
	fail snapshot.restore_drive_config "$code $(head -c 300 "$T/body") $(tail -n 3 "$T/vmm.err")"
fi
want restore_drive_resume 204 -- PATCH /vm '{"state": "Resumed"}'
kill "$VPID"; reap "$VPID" 2>/dev/null; VPID=
expect_error snapshot.restore_drive_unknown_id "the snapshot has no drive 'nope' (its drives: scratch)" \
	--restore "$T/drive.state" --mem "$T/drive.mem" --resume --no-api --restore-drive nope="$T/copy.img"
truncate -s 2M "$T/big.img"
expect_error snapshot.restore_drive_other_size "saved with a writable disk of 2048 sectors, this one is writable with 4096" \
	--restore "$T/drive.state" --mem "$T/drive.mem" --resume --no-api --restore-drive scratch="$T/big.img"

# --prefetch: the working set's pages populated by the prefetch thread (its own filter) while
# the restored guest runs; a set past the snapshot's RAM (full.state: 64 MiB, 16384 pages) is
# a warning, not a failed restore; the thread's filter kills the VMM on a forbidden call
# (build/kindling-seccomp-test, KINDLING_SECCOMP_SELFTEST=prefetch).
printf 'KINDLING-WSET 2 2\n0 16\n256 64 w\n' >"$T/ok.wset"
printf 'KINDLING-WSET 1 1\n16383 2\n' >"$T/past.wset"
# restore_bg BINARY ARGS...: BINARY --restore full.state, resumed, in the background ($VPID).
restore_bg() {
	timeout -k 10 "$(scaled 120)" "$1" --restore "$T/full.state" --mem "$T/full.mem" --resume --no-api "${@:2}" \
		>"$T/vmm.out" 2>"$T/vmm.err" </dev/null &
	VPID=$!
	PIDS+=("$VPID")
}
restore_bg "$K" --prefetch "$T/ok.wset"
for _ in $(seq 50); do grep -q 'prefetch: ' "$T/vmm.err" && break; sleep 0.1; done
sleep 0.5
if running "$VPID" && grep -q 'prefetch: 80 pages in 2 ranges (64 written) in [0-9.]* ms' "$T/vmm.err"; then
	pass snapshot.prefetch_populates
else
	fail snapshot.prefetch_populates "$(tail -n 3 "$T/vmm.err")"
fi
kill "$VPID"; reap "$VPID" 2>/dev/null; VPID=
restore_bg "$K" --prefetch "$T/past.wset"
sleep 1
if running "$VPID" && grep -qF "pages 16383-16384 are past the end of the snapshot's RAM (16384 pages); restoring without it" "$T/vmm.err" &&
	! grep -q 'prefetch: [0-9]* pages in' "$T/vmm.err"; then
	pass snapshot.prefetch_past_ram_warns
else
	fail snapshot.prefetch_past_ram_warns "$(tail -n 3 "$T/vmm.err")"
fi
kill "$VPID"; reap "$VPID" 2>/dev/null; VPID=
KS=$PWD/build/kindling-seccomp-test
if [ ! -x "$KS" ]; then
	fail snapshot.prefetch_selftest_kills "$KS is missing (make unit)"
else
	export KINDLING_SECCOMP_SELFTEST=prefetch
	restore_bg "$KS" --prefetch "$T/ok.wset"
	unset KINDLING_SECCOMP_SELFTEST
	reap "$VPID" "$(scaled 20)" 2>/dev/null
	rc=$?
	VPID=
	if [ $rc = 159 ] && grep -q "seccomp selftest: prefetch thread calls" "$T/vmm.err"; then
		pass snapshot.prefetch_selftest_kills
	else
		fail snapshot.prefetch_selftest_kills "rc=$rc $(tail -n 3 "$T/vmm.err")"
	fi
fi

# Issue 14: signed snapshots. A VMM given --snapshot-key signs its snapshot; a VMM with the
# same key restores it and the guest runs; without the key, with another key, or with a key
# for an unsigned snapshot: refused. One flipped byte in the state file (header, section
# table, a section, the MAC) or in the memory file: refused before any vCPU runs (the CRC or
# the MAC for the state file, the chunk digests for memory).
head -c 32 /dev/urandom >"$T/k1"
head -c 48 /dev/urandom >"$T/k2"
chmod 600 "$T/k1" "$T/k2"
spawn --snapshot-key "$T/k1"
req PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 64}'
req PUT /boot-source "{\"kernel_image_path\": \"$G/spin.elf\"}"
req PUT /actions '{"action_type": "InstanceStart"}'
req PATCH /vm '{"state": "Paused"}'
want signed_create 204 -- PUT /snapshot/create "{\"snapshot_path\": \"$T/signed.state\", \"mem_file_path\": \"$T/signed.mem\"}"
kill "$VPID"; reap "$VPID" 2>/dev/null; VPID=
"$K" snapshot info "$T/signed.state" --snapshot-key "$T/k1" --mem "$T/signed.mem" >"$T/info.out" 2>&1
rc=$?
if [ $rc = 0 ] && grep -q '^signed: yes' "$T/info.out"; then pass snapshot.signed_info; else
	fail snapshot.signed_info "rc=$rc $(head -c 400 "$T/info.out" | tr '\n' ' ')"; fi
restore_signed() {
	timeout -k 10 "$(scaled 120)" "$K" --restore "$1" --mem "$2" --resume --no-api --snapshot-key "$T/k1" \
		>"$T/vmm.out" 2>"$T/vmm.err" </dev/null &
	VPID=$!
	PIDS+=("$VPID")
}
restore_signed "$T/signed.state" "$T/signed.mem"
sleep "$(scaled 1)"
if running "$VPID"; then pass snapshot.signed_restore; else
	fail snapshot.signed_restore "$(tail -n 3 "$T/vmm.err")"; fi
kill "$VPID"; reap "$VPID" 2>/dev/null; VPID=
expect_error snapshot.signed_no_key "the state file is signed: loading it needs its --snapshot-key" \
	--restore "$T/signed.state" --mem "$T/signed.mem" --resume --no-api
expect_error snapshot.signed_other_key "the state file's MAC does not match" \
	--restore "$T/signed.state" --mem "$T/signed.mem" --resume --no-api --snapshot-key "$T/k2"
expect_error snapshot.signed_key_for_unsigned "refusing an unsigned snapshot" \
	--restore "$T/full.state" --mem "$T/full.mem" --resume --no-api --snapshot-key "$T/k1"
# flip FILE OFFSET OUT: a copy of FILE with the byte at OFFSET inverted.
flip() {
	local b
	cp --sparse=always "$1" "$3"
	b=$(od -An -tu1 -j "$2" -N 1 "$1" | tr -d ' ')
	printf "\\$(printf %o $((255 - b)))" | dd of="$3" bs=1 seek="$2" conv=notrunc status=none
}
# refused NAME STATE MEM: the load is refused (exit 1, a message) and no vCPU ran (at Info,
# one that did would have logged restore_ms).
refused() {
	"$K" --restore "$2" --mem "$3" --resume --no-api --snapshot-key "$T/k1" --level Info >"$T/out" 2>"$T/err" </dev/null
	rc=$?
	if [ $rc = 1 ] && [ -s "$T/err" ] && ! grep -q 'restore_ms' "$T/err"; then pass "snapshot.$1"; else
		fail "snapshot.$1" "rc=$rc $(head -c 300 "$T/err")"; fi
}
size=$(stat -c %s "$T/signed.state")
for at in 16:16 200:200 middle:$((size / 2)) mac:$((size - 20)); do
	flip "$T/signed.state" "${at#*:}" "$T/flipped.state"
	refused "signed_state_flip_${at%%:*}" "$T/flipped.state" "$T/signed.mem"
done
for at in 0:0 1m:1048576; do
	flip "$T/signed.mem" "${at#*:}" "$T/flipped.mem"
	refused "signed_mem_flip_${at%%:*}" "$T/signed.state" "$T/flipped.mem"
done

# --snapshot-verify lazy (vmm/snaplazy.c): each 2 MiB chunk is checked when first touched.
# A chunk the guest touches that fails stops the VM (exit 1, the chunk named) before the
# guest runs on it; one it never touches does not matter; a snapshot taken from a lazily
# loaded VM is whole and signed.
expect_error snapshot.verify_needs_key "snapshot-verify needs --snapshot-key" \
	--restore "$T/full.state" --mem "$T/full.mem" --resume --no-api --snapshot-verify lazy
expect_error snapshot.verify_bad_mode "snapshot-verify must be full or lazy" \
	--restore "$T/signed.state" --mem "$T/signed.mem" --resume --no-api --snapshot-key "$T/k1" --snapshot-verify half
timeout -k 10 "$(scaled 120)" "$K" --restore "$T/signed.state" --mem "$T/signed.mem" --resume --no-api \
	--snapshot-key "$T/k1" --snapshot-verify lazy >"$T/vmm.out" 2>"$T/vmm.err" </dev/null &
VPID=$!
PIDS+=("$VPID")
sleep "$(scaled 1)"
if running "$VPID"; then pass snapshot.signed_lazy_restore; else
	fail snapshot.signed_lazy_restore "$(tail -n 3 "$T/vmm.err")"; fi
kill "$VPID"; reap "$VPID" 2>/dev/null; VPID=
# The counting guest, signed: its code is in chunk 0, its counter and line buffer at 2 MiB
# (chunk 1); it counts to 60 and resets. Paused right after its first line (its counter
# page written, so not a hole in the snapshot), so that the restore has most of the count
# left to print. The whole count takes ~1 s of TSC time, and a curl started after
# InstanceStart in a slow lab once came after the guest's end: so InstanceStart and the
# pause go back to back on one connection, then short resume-pause steps, each on one
# connection too, until the first line is out.
spawn --snapshot-key "$T/k1"
req PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 64}'
req PUT /boot-source "{\"kernel_image_path\": \"$G/count.elf\"}"
# req2 M1 P1 B1 M2 P2 B2: two requests on one connection; prints both codes.
req2() {
	curl -s -m "$(scaled 30)" -o /dev/null -w '%{http_code} ' --unix-socket "$S" -X "$1" \
		-H 'Content-Type: application/json' -d "$3" "http://localhost$2" --next \
		-s -m "$(scaled 30)" -o /dev/null -w '%{http_code}' --unix-socket "$S" -X "$4" \
		-H 'Content-Type: application/json' -d "$6" "http://localhost$5"
}
codes=$(req2 PUT /actions '{"action_type": "InstanceStart"}' PATCH /vm '{"state": "Paused"}')
for _ in $(seq 100); do
	grep -q '^COUNT 01' "$T/vmm.out" && break
	codes="$codes, $(req2 PATCH /vm '{"state": "Resumed"}' PATCH /vm '{"state": "Paused"}')"
done
grep -q '^COUNT 01' "$T/vmm.out" || echo "  signed_lazy_count: no first line after $codes"
want signed_lazy_count_create 204 -- PUT /snapshot/create "{\"snapshot_path\": \"$T/scount.state\", \"mem_file_path\": \"$T/scount.mem\"}"
kill "$VPID"; reap "$VPID" 2>/dev/null; VPID=
cp "$T/vmm.out" "$T/scount.a.out"
# lazy_count NAME STATE MEM [ARGS...]: restores the counting guest lazily (resumed, no API),
# until it resets; $rc, its output in $T/out and $T/err.
lazy_count() {
	deadline "$(scaled 60)" "$K" --restore "$2" --mem "$3" --resume --no-api --snapshot-key "$T/k1" \
		--snapshot-verify lazy "${@:4}" >"$T/out" 2>"$T/err" </dev/null
	rc=$?
}
lazy_count signed_lazy_count_runs "$T/scount.state" "$T/scount.mem"
if [ $rc = 0 ] && cat "$T/scount.a.out" "$T/out" | cmp -s - "$T/count.want"; then
	pass snapshot.signed_lazy_count_runs
else
	fail snapshot.signed_lazy_count_runs "rc=$rc a=$(tail -c 40 "$T/scount.a.out" | tr '\n' ' ') b=$(head -c 40 "$T/out" | tr '\n' ' ') $(tail -n 3 "$T/err")"
fi
# A flipped byte in chunk 0 (its code, at 1 MiB, is fetched first): stopped at its first
# instruction, the chunk named, not one more line printed.
flip "$T/scount.mem" 0 "$T/flipped.mem"
lazy_count signed_lazy_mem_flip_0 "$T/scount.state" "$T/flipped.mem"
if [ $rc = 1 ] && [ ! -s "$T/out" ] && grep -q 'memory file chunk 0 (bytes 0..2097151) does not match' "$T/err"; then
	pass snapshot.signed_lazy_mem_flip_0
else
	fail snapshot.signed_lazy_mem_flip_0 "rc=$rc out=$(head -c 40 "$T/out" | tr '\n' ' ') $(head -c 400 "$T/err")"
fi
# A flipped byte in chunk 1, in the counter's page but not the counter (the next page is
# already in the all-zero end of RAM, which is mapped as zeros whatever the file holds): its
# first increment faults the chunk in, which fails; not one more line is printed.
flip "$T/scount.mem" $((2 * 1048576 + 2048)) "$T/flipped.mem"
lazy_count signed_lazy_flip_touched "$T/scount.state" "$T/flipped.mem"
if [ $rc = 1 ] && [ ! -s "$T/out" ] && grep -q 'memory file chunk 1 (bytes 2097152..4194303) does not match' "$T/err"; then
	pass snapshot.signed_lazy_flip_touched
else
	fail snapshot.signed_lazy_flip_touched "rc=$rc out=$(head -c 40 "$T/out" | tr '\n' ' ') $(head -c 400 "$T/err")"
fi
# A flipped byte at 40 MiB, which the guest never touches: it counts to the end (full
# verification refuses this file at load).
flip "$T/scount.mem" $((40 * 1048576)) "$T/flipped.mem"
lazy_count signed_lazy_flip_untouched_runs "$T/scount.state" "$T/flipped.mem"
if [ $rc = 0 ] && cat "$T/scount.a.out" "$T/out" | cmp -s - "$T/count.want"; then
	pass snapshot.signed_lazy_flip_untouched_runs
else
	fail snapshot.signed_lazy_flip_untouched_runs "rc=$rc $(head -c 40 "$T/out" | tr '\n' ' ') $(tail -n 3 "$T/err")"
fi
# A snapshot of a lazily loaded VM (paused before its first instruction): taking it faults
# every chunk in, each checked; it restores with full verification and counts to the end.
spawn --snapshot-key "$T/k1" --snapshot-verify lazy
req PUT /snapshot/load "{\"snapshot_path\": \"$T/scount.state\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$T/scount.mem\"}}"
lcode=$code
req PUT /snapshot/create "{\"snapshot_path\": \"$T/scount2.state\", \"mem_file_path\": \"$T/scount2.mem\"}"
if [ "$lcode" = 204 ] && [ "$code" = 204 ]; then pass snapshot.signed_lazy_create_again; else
	fail snapshot.signed_lazy_create_again "load $lcode, create $code: $(head -c 300 "$T/body") $(tail -n 3 "$T/vmm.err")"; fi
kill "$VPID"; reap "$VPID" 2>/dev/null; VPID=
deadline "$(scaled 60)" "$K" --restore "$T/scount2.state" --mem "$T/scount2.mem" --resume --no-api \
	--snapshot-key "$T/k1" --snapshot-verify full >"$T/out" 2>"$T/err" </dev/null
rc=$?
if [ $rc = 0 ] && cat "$T/scount.a.out" "$T/out" | cmp -s - "$T/count.want"; then
	pass snapshot.signed_lazy_again_full_runs
else
	fail snapshot.signed_lazy_again_full_runs "rc=$rc $(head -c 40 "$T/out" | tr '\n' ' ') $(tail -n 3 "$T/err")"
fi
exit 0
