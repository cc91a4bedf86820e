#!/bin/bash
# make demo: boots the guest kernel in a kindling microVM through the Firecracker-style API
# and shows the guest's output and boot time. Runs inside the KVM lab when this host's
# /dev/kvm cannot boot Linux (see ../shared/docs/environment.md), which is the case on the
# project's development and CI machines; KINDLING_DEMO_HOST=1 runs it here instead.
# (The serverless-function demo arrives with guest-init and `kindling run`.)
set -eu
cd "$(dirname "$0")/.."
if [ -z "${KINDLING_IN_LAB:-}" ] && [ -z "${KINDLING_DEMO_HOST:-}" ]; then
	echo "demo: this host's /dev/kvm runs ring 0 in an emulator; booting inside the KVM lab" >&2
	exec env KINDLING_IN_LAB=1 tests/lab/run -- scripts/demo.sh
fi
T=$(mktemp -d)
trap 'kill $pid 2>/dev/null; rm -rf "$T"' EXIT
S=$T/kindling.sock
api() { curl -s --fail-with-body --unix-socket "$S" -X "$1" "http://localhost$2" -d "$3"; }
build/kindling --api-sock "$S" --boot-timer >"$T/console" 2>"$T/log" </dev/null &
pid=$!
for _ in $(seq 200); do [ -S "$S" ] && break; sleep 0.01; done
echo "demo: configuring the microVM over $S"
api PUT /boot-source "{\"kernel_image_path\": \"$PWD/build/guest/vmlinux\", \"initrd_path\": \"$PWD/build/guest/test-initramfs.cpio.gz\", \"boot_args\": \"console=ttyS0 reboot=k panic=1 pci=off quiet\"}"
api PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 128}'
api PUT /actions '{"action_type": "InstanceStart"}'
wait $pid || true
echo "demo: guest console:"
sed 's/^/  | /' "$T/console"
echo "demo: VMM log:"
sed 's/^/  | /' "$T/log"
grep -q KINDLING-BOOT-OK "$T/console"
