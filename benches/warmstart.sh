#!/bin/bash
# Warm starts (issue 13), inside one KVM lab run, with the demo's function (examples/wordfreq):
# `kindling run --repeat N --json` booting cold, then restoring from --snapshot-dir without
# and with the recorded working set prefetched, and QEMU microvm restoring the same function
# from a migration file. Prints (p50 of N runs each; every run is a whole run: network
# namespace, tap, VMM, invocation, the VM's end):
#   kindling.coldstart_ms              `kindling run` start -> output and the VM gone, booting
#   kindling.warmstart_ms              the same, restoring the snapshot (working set prefetched)
#   kindling.warm_vs_cold_ratio        target <= 0.1
#   kindling.first_invoke_ms_noprefetch  the invocation after a restore, without prefetch
#   kindling.first_invoke_ms_prefetch    ... with the working set prefetched
#   kindling.first_invoke_prefetch_ratio target <= 0.5
#   kindling.first_invoke_faults_noprefetch / _prefetch  vCPU page faults during it
#   qemu.warmstart_ms                  QEMU -incoming from a migration file -> the same answer
#                                      (it is sent the same restore message) and QEMU gone
#   kindling_vs_qemu.warmstart_ratio   target <= 0.2
# Lab figures are inflated by emulation: compare them with each other, not with targets.
set -eu -o pipefail
cd "$(dirname "$0")/.."
. tests/lib.sh
N=${KINDLING_WARMSTART_RUNS:-5}
if [ -z "${KINDLING_IN_LAB:-}" ]; then
	exec env KINDLING_IN_LAB=1 KINDLING_WARMSTART_RUNS="$N" tests/lab/run -- benches/warmstart.sh
fi
kvm_usable || { echo "warmstart.sh: no usable /dev/kvm" >&2; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
IN=examples/wordfreq/input.txt
guest/mkfunction.sh build/examples/wordfreq "$T/fn.ext4" >/dev/null
cp build/guest/vmlinux "$T/"

# krun NAME ARGS...: kindling run --repeat ... --json; the JSON in $T/NAME.json.
krun() {
	local name=$1
	shift
	if ! deadline 1800 build/kindling run --kernel "$T/vmlinux" --rootfs "$T/fn.ext4" --input "$IN" --json "$@" \
		>"$T/$name.json" 2>"$T/$name.err" </dev/null; then
		echo "warmstart.sh: kindling run $*: failed" >&2
		grep -v 'diag:' "$T/$name.err" | tail -n 20 >&2
		exit 1
	fi
	grep -E '^(cold|warm) ' "$T/$name.err" | sed 's/^/  /' >&2
}
# fig NAME KIND PHASE: that phase's p50 in NAME's JSON.
fig() {
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
v = d["phases"][sys.argv[2]][sys.argv[3]]["p50"]
assert v is not None, sys.argv
print(v)' "$T/$1.json" "$2" "$3"
}

krun cold --repeat "$N"
# The first run boots and stores the snapshot, the second restores it and records the
# working set; N more restore without prefetching it, then N with.
krun noprefetch --repeat $((N + 2)) --snapshot-dir "$T/snaps" --no-prefetch
krun prefetch --repeat "$N" --snapshot-dir "$T/snaps"
python3 - "$T/noprefetch.json" "$T/prefetch.json" "$N" <<'EOF'
import json, sys
n = int(sys.argv[3])
for f, cold, warm in ((sys.argv[1], 1, n + 1), (sys.argv[2], 0, n)):
    r = json.load(open(f))["runs"]
    assert (r["cold"], r["warm"], r["failed"], r["differing"]) == (cold, warm, 0, 0), (f, r)
EOF

# QEMU: boot the function once, migrate it to a file once ready; then restore it N times.
# In a network namespace of its own each time, as kindling run does.
cat >"$T/qemu.sh" <<'QEOF'
set -eu
T=$1 IN=$2 mode=$3
ip link set lo up
ip tuntap add kt0 mode tap
# The MAC kindling run gives its tap: the restored guest's neighbour entry holds.
ip link set kt0 address 02:4b:4e:00:00:01
ip addr add 172.31.255.1/30 dev kt0
ip link set kt0 up
args=(-M microvm,x-option-roms=off,rtc=off,acpi=off -enable-kvm -cpu host -m 128 -smp 1
	-nodefaults -no-user-config -nographic -serial file:"$T/q.console" -no-reboot
	-kernel "$T/vmlinux" -append "console=ttyS0 reboot=t panic=1 pci=off quiet tsc=reliable no_timer_check root=/dev/vda ro ip=172.31.255.2::172.31.255.1:255.255.255.252:function:eth0:off kindling.port=8080"
	-drive id=rootfs,file="$T/fn.ext4",format=raw,if=none,readonly=on -device virtio-blk-device,drive=rootfs
	-netdev tap,id=n0,ifname=kt0,script=no,downscript=no -device virtio-net-device,netdev=n0
	-qmp unix:"$T/qmp.sock",server=on,wait=off)
if [ "$mode" = snapshot ]; then
	qemu-system-x86_64 "${args[@]}" &
else
	qemu-system-x86_64 "${args[@]}" -incoming "exec:cat $T/qemu.mig" &
fi
qpid=$!
trap 'kill $qpid 2>/dev/null || true' EXIT
python3 "$T/qmp.py" "$mode" "$T" "$IN" "$qpid"
kill $qpid
wait $qpid || true
QEOF
cat >"$T/qmp.py" <<'PEOF'
import base64, json, os, socket, sys, time, urllib.request
mode, T, IN, qpid = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
URL = "http://172.31.255.2:8080"
def alive():
    try:
        os.kill(qpid, 0)
        return True
    except OSError:
        return False
def post(path, body, timeout=60):
    req = urllib.request.Request(URL + path, data=body, method="POST")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read()
def until_up(deadline):
    while time.monotonic() < deadline:
        if not alive():
            sys.exit("qemu exited; console: %s" % open(T + "/q.console", errors="replace").read()[-500:])
        try:
            urllib.request.urlopen(URL + "/health", timeout=1).read()
            return
        except OSError:
            time.sleep(0.01)
    sys.exit("qemu: the function did not answer in time")
def qmp(cmds):
    s = socket.socket(socket.AF_UNIX)
    for _ in range(500):
        try:
            s.connect(T + "/qmp.sock")
            break
        except OSError:
            time.sleep(0.01)
    f = s.makefile("rw")
    json.loads(f.readline())
    out = []
    for c in [{"execute": "qmp_capabilities"}] + cmds:
        f.write(json.dumps(c) + "\n")
        f.flush()
        while True:
            m = json.loads(f.readline())
            if "return" in m or "error" in m:
                out.append(m)
                break
    s.close()
    return out[1:]
if mode == "snapshot":
    until_up(time.monotonic() + 300)
    time.sleep(0.5)
    qmp([{"execute": "migrate", "arguments": {"uri": "exec:cat > %s/qemu.mig" % T}}])
    deadline = time.monotonic() + 120
    while qmp([{"execute": "query-migrate"}])[0]["return"].get("status") != "completed":
        if time.monotonic() > deadline:
            sys.exit("qemu: migration to a file did not complete")
        time.sleep(0.05)
else:
    until_up(time.monotonic() + 120)
    # The restore message kindling run sends: fresh entropy and the wall clock.
    msg = {"entropy": base64.b64encode(os.urandom(64)).decode(), "time_ns": time.time_ns()}
    st, _ = post("/restore", json.dumps(msg).encode())
    assert st == 200, st
    st, out = post("/invoke", open(IN, "rb").read())
    open(T + "/q.out", "wb").write(out)
PEOF
deadline 600 unshare -n bash "$T/qemu.sh" "$T" "$IN" snapshot
[ -s "$T/qemu.mig" ] || { echo "warmstart.sh: no QEMU migration file" >&2; exit 1; }
: >"$T/q.ms"
for i in $(seq "$N"); do
	t0=$(date +%s%N)
	deadline 300 unshare -n bash "$T/qemu.sh" "$T" "$IN" restore
	echo "$((($(date +%s%N) - t0) / 1000))" | awk '{ print $1 / 1000 }' >>"$T/q.ms"
	cmp -s "$T/q.out" examples/wordfreq/expected.txt || { echo "warmstart.sh: qemu restore $i: wrong output" >&2; exit 1; }
	echo "  qemu restore $i: $(tail -n 1 "$T/q.ms") ms" >&2
done
# The median, as the kindling figures' p50 is for odd N (nearest rank).
q=$(sort -n "$T/q.ms" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')

cold=$(fig cold cold total_ms) warm=$(fig prefetch warm total_ms)
inv_n=$(fig noprefetch warm invocation_ms) inv_p=$(fig prefetch warm invocation_ms)
flt_n=$(fig noprefetch warm invocation_faults) flt_p=$(fig prefetch warm invocation_faults)
awk -v c="$cold" -v w="$warm" -v n="$inv_n" -v p="$inv_p" -v fn="$flt_n" -v fp="$flt_p" -v q="$q" 'BEGIN {
	printf "kindling.coldstart_ms %.1f ms\n", c
	printf "kindling.warmstart_ms %.1f ms\n", w
	printf "kindling.warm_vs_cold_ratio %.3f ratio\n", w / c
	printf "kindling.first_invoke_ms_noprefetch %.1f ms\n", n
	printf "kindling.first_invoke_ms_prefetch %.1f ms\n", p
	printf "kindling.first_invoke_prefetch_ratio %.3f ratio\n", p / n
	printf "kindling.first_invoke_faults_noprefetch %d pages\n", fn
	printf "kindling.first_invoke_faults_prefetch %d pages\n", fp
	printf "qemu.warmstart_ms %.1f ms\n", q
	printf "kindling_vs_qemu.warmstart_ratio %.3f ratio\n", w / q }'
