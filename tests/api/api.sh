#!/bin/bash
# Control API tests with a real client (curl --unix-socket) and a raw client for the cases
# curl cannot produce. Everything up to InstanceStart needs no KVM; the boot, pause/resume
# and shutdown cases use a tiny guest on the host's /dev/kvm.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
K=$PWD/build/kindling
C=$PWD/build/apiclient
T=$(mktemp -d)
S=$T/api.sock
PIDS=()
cleanup() {
	stop_pids
	rm -rf "$T"
}
trap cleanup EXIT

start_vmm() { # start_vmm ARGS...: starts kindling with the API on $S, waits for the socket
	rm -f "$S"
	"$K" --api-sock "$S" "$@" >"$T/vmm.out" 2>"$T/vmm.err" </dev/null &
	VPID=$!
	PIDS+=("$VPID")
	"$C" "$S" ready 5000 >/dev/null
}
# req METHOD PATH [BODY]: sets $code and $body
req() {
	local args=(-s -o "$T/body" -w '%{http_code}' --unix-socket "$S" -X "$1" "http://localhost$2")
	[ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' -d "$3")
	code=$(curl "${args[@]}")
	body=$(cat "$T/body")
}
# expect NAME CODE METHOD PATH [BODY]: the request answers CODE (and a fault_message if 4xx)
expect() {
	local name=$1 want=$2; shift 2
	req "$@"
	if [ "$code" = "$want" ] && { [ "$want" -lt 400 ] || echo "$body" | grep -q '"fault_message":"..'; }; then
		pass "api.$name"
	else
		fail "api.$name" "got $code: $body"
	fi
}
alive() { req GET /; [ "$code" = 200 ]; }

start_vmm
check api.socket_mode_0600 test "$(stat -c %a "$S")" = 600
expect get_root 200 GET /
check api.state_not_started grep -q '"state":"Not started"' "$T/body"
expect get_version 200 GET /version
expect get_machine_config 200 GET /machine-config
check api.default_machine_config grep -q '"vcpu_count":1,"mem_size_mib":128' "$T/body"

# Bad input from anchors.md: each gets its 4xx and the VMM keeps serving.
expect bad_json 400 PUT /machine-config '{"vcpu_count": 2,'
expect not_object 400 PUT /machine-config '[1,2]'
expect wrong_type 400 PUT /machine-config '{"vcpu_count": "2", "mem_size_mib": 128}'
expect float_for_int 400 PUT /machine-config '{"vcpu_count": 1.5, "mem_size_mib": 128}'
expect unknown_field 400 PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 128, "cpus": 4}'
expect missing_field 400 PUT /machine-config '{"vcpu_count": 1}'
expect vcpus_zero 400 PUT /machine-config '{"vcpu_count": 0, "mem_size_mib": 128}'
expect vcpus_33 400 PUT /machine-config '{"vcpu_count": 33, "mem_size_mib": 128}'
expect mem_past_u32 400 PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 4294967296}'
expect mem_mib_overflow 400 PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 18446744073709551615}'
expect mem_negative 400 PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": -128}'
expect mem_over_host 400 PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 1048576}'
expect smt_refused 400 PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 128, "smt": true}'
expect empty_body 400 PUT /machine-config
expect duplicate_field 400 PUT /machine-config '{"vcpu_count": 1, "vcpu_count": 2, "mem_size_mib": 128}'
expect deep_nesting 400 PUT /machine-config "$(printf '%0.s[' $(seq 2000))"
req GET /machine-config
check api.refused_changes_nothing grep -q '"vcpu_count":1,"mem_size_mib":128' "$T/body"
expect patch_machine_config 204 PATCH /machine-config '{"mem_size_mib": 256}'
req GET /machine-config
check api.patch_partial grep -q '"vcpu_count":1,"mem_size_mib":256' "$T/body"

expect kernel_missing 400 PUT /boot-source '{"kernel_image_path": "/nonexistent/vmlinux"}'
check api.kernel_error_words grep -q 'The kernel file cannot be opened: No such file or directory (os error 2)' "$T/body"
expect kernel_dir 400 PUT /boot-source '{"kernel_image_path": "/"}'
expect initrd_missing 400 PUT /boot-source "{\"kernel_image_path\": \"$PWD/build/guests/hello64.elf\", \"initrd_path\": \"/nope\"}"
expect drive_missing_file 400 PUT /drives/rootfs '{"drive_id": "rootfs", "path_on_host": "/nope.ext4", "is_root_device": true, "is_read_only": false}'
expect drive_id_mismatch 400 PUT /drives/rootfs "{\"drive_id\": \"other\", \"path_on_host\": \"$T/d1\", \"is_root_device\": true}"
expect drive_bad_id 400 PUT '/drives/a-b' "{\"drive_id\": \"a-b\", \"path_on_host\": \"$T/d1\", \"is_root_device\": false}"
expect drive_rate_limiter_bad 400 PUT /drives/d1 "{\"drive_id\": \"d1\", \"path_on_host\": \"/etc/hostname\", \"is_root_device\": false, \"is_read_only\": true, \"rate_limiter\": {\"bandwidth\": {\"size\": 1}}}"
check api.drive_rate_limiter_bad_words grep -q 'missing field `refill_time` at line 1 column 140' "$T/body"
truncate -s 1M "$T/d1" "$T/d2"
expect drive_put 204 PUT /drives/rootfs "{\"drive_id\": \"rootfs\", \"path_on_host\": \"$T/d1\", \"is_root_device\": true, \"is_read_only\": false}"
expect second_root_refused 400 PUT /drives/data "{\"drive_id\": \"data\", \"path_on_host\": \"$T/d2\", \"is_root_device\": true, \"is_read_only\": false}"
expect drive_update 204 PUT /drives/rootfs "{\"drive_id\": \"rootfs\", \"path_on_host\": \"$T/d2\", \"is_root_device\": true, \"is_read_only\": true, \"rate_limiter\": null}"
expect drive_rate_limiter 204 PUT /drives/rootfs "{\"drive_id\": \"rootfs\", \"path_on_host\": \"$T/d2\", \"is_root_device\": true, \"is_read_only\": true, \"rate_limiter\": {\"bandwidth\": {\"size\": 10485760, \"one_time_burst\": 524288000, \"refill_time\": 100}, \"ops\": {\"size\": 0, \"refill_time\": 100}}}"
req GET /vm/config
check api.drive_rate_limiter_reported grep -q '"rate_limiter":{"bandwidth":{"size":10485760,"one_time_burst":524288000,"refill_time":100},"ops":null}' "$T/body"
expect drive_rate_limiter_patch_pre_boot 400 PATCH /drives/rootfs '{"drive_id": "rootfs", "rate_limiter": {}}'
expect drive_rate_limiter_off 204 PUT /drives/rootfs "{\"drive_id\": \"rootfs\", \"path_on_host\": \"$T/d2\", \"is_root_device\": true, \"is_read_only\": true, \"rate_limiter\": {}}"
req GET /vm/config
check api.drive_rate_limiter_off_reported grep -q '"rate_limiter":null' "$T/body"
expect net_bad_mac 400 PUT /network-interfaces/eth0 '{"iface_id": "eth0", "host_dev_name": "tap0", "guest_mac": "zz:00:00:00:00:01"}'
expect net_put 204 PUT /network-interfaces/eth0 '{"iface_id": "eth0", "host_dev_name": "tap0", "guest_mac": "06:00:ac:10:00:02"}'
expect net_dup_tap 400 PUT /network-interfaces/eth1 '{"iface_id": "eth1", "host_dev_name": "tap0"}'
expect unsupported_balloon 400 PUT /balloon '{"amount_mib": 1}'
expect snapshot_create_not_started 400 PUT /snapshot/create '{"snapshot_path": "/tmp/x", "mem_file_path": "/tmp/y"}'
expect unsupported_vsock 400 PUT /vsock '{}'
expect unknown_path 400 GET /nope
req DELETE /machine-config
check api.wrong_method test "$code" = 400 -a -n "$(grep 'Unsupported HTTP method' "$T/body")"
expect bad_action 400 PUT /actions '{"action_type": "Reboot"}'
expect pause_before_boot 400 PATCH /vm '{"state": "Paused"}'
expect ctrl_alt_del_before_boot 400 PUT /actions '{"action_type": "SendCtrlAltDel"}'
touch "$T/metrics" "$T/metrics2" "$T/log"
expect metrics_put 204 PUT /metrics "{\"metrics_path\": \"$T/metrics\"}"
expect metrics_twice 400 PUT /metrics "{\"metrics_path\": \"$T/metrics2\"}"
expect flush_metrics_before_boot 400 PUT /actions '{"action_type": "FlushMetrics"}'
expect logger_bad_level 400 PUT /logger "{\"log_path\": \"$T/log\", \"level\": \"Loud\"}"
expect logger_put 204 PUT /logger "{\"log_path\": \"$T/log\", \"level\": \"Debug\", \"show_level\": true, \"show_log_origin\": true}"
expect vm_config 200 GET /vm/config
check api.vm_config_layout grep -q '"drives":\[{"drive_id":"rootfs".*"network-interfaces":\[{"iface_id":"eth0"' "$T/body"
cp "$T/body" "$T/vmconfig.json"

# Raw protocol abuse (curl cannot send these).
raw() { printf "$1" | "$C" "$S" raw; }
check api.oversize_body_400 test "$(raw 'PUT /machine-config HTTP/1.1\r\nContent-Length: 51201\r\n\r\n')" = 400
check api.negative_length test "$(raw 'PUT /machine-config HTTP/1.1\r\nContent-Length: -5\r\n\r\n')" = 400
check api.garbage_length test "$(raw 'PUT /machine-config HTTP/1.1\r\nContent-Length: 12abc\r\n\r\n')" = 400
check api.huge_length test "$(raw 'PUT /machine-config HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n')" = 400
check api.chunked_refused test "$(raw 'PUT /machine-config HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n')" = 400
check api.bad_request_line test "$(raw 'HELLO\r\n\r\n')" = 400
check api.http2_refused test "$(raw 'GET / HTTP/2.0\r\n\r\n')" = 400
check api.header_too_large test "$(head -c 9000 /dev/zero | tr '\0' a | sed 's/^/GET \/ HTTP\/1.1\r\nX: /' | "$C" "$S" raw)" = 400
check api.binary_garbage test "$(head -c 300 /dev/urandom | "$C" "$S" raw)" -ge 400
check api.conns_12_concurrent test "$("$C" "$S" conns 12)" = 12
# Past the 32-connection table, a new client evicts the longest-idle one (issue 10 item 5).
check api.conns_beyond_limit_evict test "$(timeout 30 "$C" "$S" conns 40)" -ge 32
read -r st us < <(timeout 30 "$C" "$S" idle 40)
check api.idle_40_then_41st_served test "${st:-0}" = 200 -a "${us%.*}" -lt 2000000
read -r st ms < <(timeout 30 "$C" "$S" deadline)
check api.request_deadline_408 test "${st:-0}" = 408 -a "${ms%.*}" -ge 4000 -a "${ms%.*}" -lt 8000
read -r st us < <("$C" "$S" halfsend)
check api.half_sent_does_not_block test "$st" = 200 -a "${us%.*}" -lt 1000000
check api.still_serving alive

# A stale socket file is replaced; a live one is not taken over.
"$K" --api-sock "$S" >/dev/null 2>"$T/second.err" </dev/null
check api.live_socket_not_stolen grep -q "another process is listening" "$T/second.err"
kill "$VPID"; reap "$VPID" 2>/dev/null
check api.socket_removed_on_exit test ! -e "$S"
check api.metrics_line_json grep -q '"api_server":{.*"machine_config_fails":[1-9]' "$T/metrics"
python3 -c "import socket; s=socket.socket(socket.AF_UNIX); s.bind('$S')" 2>/dev/null || : >"$S.tmp"
if [ -S "$S" ]; then
	start_vmm
	check api.stale_socket_replaced alive
	kill "$VPID"; reap "$VPID" 2>/dev/null
fi
: >"$T/notasocket"
"$K" --api-sock "$T/notasocket" >/dev/null 2>"$T/third.err" </dev/null
check api.non_socket_file_kept grep -q "not a socket" "$T/third.err"

# Config file round trip: GET /vm/config's output is accepted back by --config-file.
sed "s#\"kernel_image_path\":null##" "$T/vmconfig.json" >/dev/null
"$K" --no-api --config-file /nonexistent.json >/dev/null 2>"$T/cf.err"
check api.config_file_missing grep -q "nonexistent.json" "$T/cf.err"
echo '{"boot-source": {"kernel_image_path": "/etc/hostname"}, "bogus": 1}' >"$T/bad.json"
"$K" --no-api --config-file "$T/bad.json" >/dev/null 2>"$T/cf.err"
check api.config_file_unknown_section grep -q "unknown section 'bogus'" "$T/cf.err"
"$K" --no-api >/dev/null 2>"$T/cf.err"
check api.no_api_needs_config grep -q "needs --config-file" "$T/cf.err"
# Rate limiters in a config file: the API's checks; a good one gets as far as the kernel.
truncate -s 1M "$T/rl.img"
echo "{\"boot-source\": {\"kernel_image_path\": \"/etc/hostname\"}, \"drives\": [{\"drive_id\": \"d\", \"path_on_host\": \"$T/rl.img\", \"is_root_device\": true, \"rate_limiter\": {\"ops\": {\"size\": 100, \"refill_time\": 100}, \"bandwidth\": null}}], \"network-interfaces\": [{\"iface_id\": \"n\", \"host_dev_name\": \"kfcrl0\", \"tx_rate_limiter\": {\"bandwidth\": {\"size\": 10485760, \"refill_time\": 100, \"one_time_burst\": 524288000}}}]}" >"$T/rl.json"
"$K" --no-api --config-file "$T/rl.json" >/dev/null 2>"$T/cf.err"
check api.config_file_rate_limiter grep -q "not a kernel" "$T/cf.err"
sed 's/"refill_time": 100}, "bandwidth"/"refill_time": 1.5}, "bandwidth"/' "$T/rl.json" >"$T/rl-bad.json"
"$K" --no-api --config-file "$T/rl-bad.json" >/dev/null 2>"$T/cf.err"
check api.config_file_rate_limiter_bad grep -q '/drives/d: An error occurred when deserializing the json body of a request: invalid type: floating point `1.5`, expected u64.' "$T/cf.err"

# Snapshots (issue 12): every wrong order and bad body answers before the VMM is reached;
# a failed load is a 400 that leaves the VMM serving, unlike Firecracker, which exits.
start_vmm
LOAD='{"snapshot_path": "/nonexistent/state", "mem_backend": {"backend_type": "File", "backend_path": "/nonexistent/mem"}}'
expect snapshot_missing_type 400 PUT /snapshot "$LOAD"
check api.snapshot_missing_type_message grep -q "Missing snapshot operation type." "$T/body"
expect snapshot_unknown_op 400 PUT /snapshot/restore "$LOAD"
check api.snapshot_unknown_op_message grep -q "Invalid request method and/or path: PUT /snapshot/restore." "$T/body"
expect snapshot_create_before_boot 400 PUT /snapshot/create '{"snapshot_path": "s", "mem_file_path": "m"}'
check api.snapshot_create_before_boot_message grep -q "not supported before starting the microVM" "$T/body"
expect snapshot_create_bad_type 400 PUT /snapshot/create '{"snapshot_type": "Half", "snapshot_path": "s", "mem_file_path": "m"}'
expect snapshot_load_no_mem 400 PUT /snapshot/load '{"snapshot_path": "s"}'
expect snapshot_load_failed 400 PUT /snapshot/load "$LOAD"
check api.snapshot_load_failed_message grep -q "Load snapshot error: Failed to restore from snapshot: " "$T/body"
req GET /
check api.snapshot_load_failed_still_serving grep -q '"state":"Not started"' "$T/body"
expect snapshot_load_failed_configurable 204 PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 64}'
expect snapshot_load_after_config 400 PUT /snapshot/load "$LOAD"
check api.snapshot_load_after_config_message grep -q "Loading a microVM snapshot not allowed after configuring boot-specific resources." "$T/body"
kill "$VPID"; reap "$VPID" 2>/dev/null
start_vmm
: >"$T/snap.log"
expect snapshot_logger_not_boot_specific 204 PUT /logger "{\"log_path\": \"$T/snap.log\", \"level\": \"Info\"}"
expect snapshot_load_after_logger 400 PUT /snapshot/load "$LOAD"
check api.snapshot_load_after_logger_reaches_vmm grep -q "Failed to restore from snapshot" "$T/body"
kill "$VPID"; reap "$VPID" 2>/dev/null
# kindling --restore: its flag errors need no KVM.
expect_error api.restore_needs_mem "needs --mem" --restore "$T/state"
expect_error api.mem_needs_restore "needs --restore" --mem "$T/mem"
expect_error api.resume_needs_restore "needs --restore" --resume
expect_error api.restore_excludes_kernel "--restore and --kernel exclude each other" --restore "$T/state" --mem "$T/mem" --resume --kernel /etc/hostname
expect_error api.restore_excludes_drive "--restore and --drive exclude each other" --restore "$T/state" --mem "$T/mem" --resume --drive path=/etc/hostname
expect_error api.restore_excludes_config_file "--restore and --config-file exclude each other" --restore "$T/state" --mem "$T/mem" --resume --config-file /etc/hostname
expect_error api.restore_paused_needs_api "needs --api-sock" --restore "$T/state" --mem "$T/mem"
expect_error api.restore_missing_state "Load snapshot error: Failed to restore from snapshot" --restore /nonexistent/state --mem /nonexistent/mem --resume --no-api
R=(--restore "$T/state" --mem "$T/mem" --resume --no-api)
expect_error api.restore_drive_needs_restore "--restore-drive needs --restore" --restore-drive scratch=/x
expect_error api.restore_drive_no_equals "--restore-drive scratch: expected ID=PATH" "${R[@]}" --restore-drive scratch
expect_error api.restore_drive_empty_path "an empty path for drive scratch" "${R[@]}" --restore-drive scratch=
expect_error api.restore_drive_bad_id "'a-b' is not a drive id" "${R[@]}" --restore-drive a-b=/x
expect_error api.restore_drive_twice "drive scratch is given twice" "${R[@]}" --restore-drive scratch=/x --restore-drive scratch=/y
expect_error api.restore_drive_path_too_long "longer than 4095 bytes" "${R[@]}" --restore-drive "scratch=/$(printf 'p%.0s' $(seq 4095))"
expect_error api.prefetch_needs_restore "--prefetch needs --restore" --prefetch "$T/wset"
expect_error api.small_pages_needs_restore "--restore-small-pages needs --restore" --restore-small-pages
# A refused working set is a warning (naming the line), read before the load, which goes on
# without it (and fails here for want of a state file).
printf 'KINDLING-WSET 1 2\n0 4\n2 1\n' >"$T/bad.wset"
expect_error api.prefetch_refused_warns "warn: --prefetch: $T/bad.wset: line 3: page 2 is before the end of the previous range (page 4).*; restoring without it" \
	--restore /nonexistent/state --mem /nonexistent/mem --resume --no-api --prefetch "$T/bad.wset"
check api.prefetch_refused_load_goes_on grep -q "Load snapshot error: Failed to restore from snapshot" "$T/err"

if ! kvm_usable; then
	for t in getting_started pause_resume after_boot_logger after_boot_metrics config_file_boot config_roundtrip_boot; do
		skip "api.$t" "no usable /dev/kvm on this host"
	done
	exit 0
fi

# Firecracker's getting-started sequence, then post-boot behaviour, with a guest that spins.
start_vmm --boot-timer
touch "$T/gs.log" "$T/dev-metrics"
expect gs_logger 204 PUT /logger "{\"log_path\": \"$T/gs.log\", \"level\": \"Info\"}"
expect gs_boot_source 204 PUT /boot-source "{\"kernel_image_path\": \"$PWD/build/guests/spin.elf\", \"boot_args\": \"console=ttyS0\"}"
expect gs_machine_config 204 PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 128}'
expect gs_instance_start 204 PUT /actions '{"action_type": "InstanceStart"}'
req GET /
check api.getting_started grep -q '"state":"Running"' "$T/body"
expect after_boot_machine_config 400 PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 128}'
expect after_boot_boot_source 400 PUT /boot-source "{\"kernel_image_path\": \"$PWD/build/guests/spin.elf\"}"
expect after_boot_start_again 400 PUT /actions '{"action_type": "InstanceStart"}'
expect after_boot_logger 400 PUT /logger "{\"log_path\": \"$T/late.log\", \"level\": \"Debug\"}"
check api.after_boot_logger_message grep -q 'not supported after starting the microVM' "$T/body"
expect after_boot_metrics 400 PUT /metrics "{\"metrics_path\": \"$T/late.metrics\"}"
check api.after_boot_metrics_message grep -q 'not supported after starting the microVM' "$T/body"
expect pause 204 PATCH /vm '{"state": "Paused"}'
req GET /
check api.state_paused grep -q '"state":"Paused"' "$T/body"
expect pause_again 204 PATCH /vm '{"state": "Paused"}'
expect resume 204 PATCH /vm '{"state": "Resumed"}'
req GET /
check api.pause_resume grep -q '"state":"Running"' "$T/body"
expect bad_state 400 PATCH /vm '{"state": "Frozen"}'
expect ctrl_alt_del 204 PUT /actions '{"action_type": "SendCtrlAltDel"}'
check api.logger_file_written grep -q "vmm_setup_ms" "$T/gs.log"
kill -TERM "$VPID"; reap "$VPID"; rc=$?
check api.sigterm_exit test $rc = 143

# Metrics carry per-device counters (here an idle block device), flushed at exit.
truncate -s 1M "$T/metrics-drive"
"$K" --kernel "$PWD/build/guests/spin.elf" --drive path="$T/metrics-drive",ro,id=data \
	--metrics-path "$T/dev-metrics" </dev/null >/dev/null 2>&1 &
mpid=$!
sleep 0.5
kill $mpid; reap $mpid 2>/dev/null
check api.metrics_block_device grep -q '"block":{"virtio-blk data":{"read_count":0,.*"device_errors":0}' "$T/dev-metrics"

# Boot from a config file, and from GET /vm/config's output fed back as a config file.
cat >"$T/boot.json" <<JSON
{"boot-source": {"kernel_image_path": "$PWD/build/guests/hello64.elf"},
 "machine-config": {"vcpu_count": 1, "mem_size_mib": 64}}
JSON
timeout -k 10 20 "$K" --no-api --config-file "$T/boot.json" >"$T/cf.out" 2>"$T/cf.err" </dev/null
check api.config_file_boot test $? = 0 -a "$(cat "$T/cf.out")" = KINDLING-HELLO64-OK
start_vmm
req PUT /boot-source "{\"kernel_image_path\": \"$PWD/build/guests/hello64.elf\"}"
req PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 96}'
req GET /vm/config
cp "$T/body" "$T/rt.json"
kill "$VPID"; reap "$VPID" 2>/dev/null
timeout -k 10 20 "$K" --no-api --config-file "$T/rt.json" >"$T/rt.out" 2>"$T/rt.err" </dev/null
check api.config_roundtrip_boot test $? = 0 -a "$(cat "$T/rt.out")" = KINDLING-HELLO64-OK
exit 0
