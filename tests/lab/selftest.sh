#!/bin/bash
# tests/lab/selftest.sh: checks that the KVM lab works (tests/lab/README.md).
#
# Builds a small KVM API probe on the host, runs checks inside the lab, and
# checks from the host that the lab passed the exit status through and that
# its writes to the shared cache arrived.
set -eu

here=$(cd "$(dirname "$0")" && pwd -P)
cache=${KINDLING_CACHE:-$HOME/.cache/kindling}
mkdir -p "$cache/lab"
work=$(mktemp -d "$cache/lab/selftest.XXXXXX")
trap 'rm -rf "$work"' EXIT

cc -O2 -Wall -o "$work/kvmcheck" -x c - <<'EOF'
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <sys/ioctl.h>
int main(void)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) { perror("open /dev/kvm"); return 1; }
    int api = ioctl(fd, KVM_GET_API_VERSION, 0);
    int irqchip = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQCHIP);
    int vm = ioctl(fd, KVM_CREATE_VM, 0);
    printf("KVM_GET_API_VERSION=%d KVM_CHECK_EXTENSION(KVM_CAP_IRQCHIP)=%d KVM_CREATE_VM=%s\n",
           api, irqchip, vm >= 0 ? "ok" : "failed");
    return api == 12 && irqchip > 0 && vm >= 0 ? 0 : 1;
}
EOF

cd "$work"   # the lab starts the command in this directory
rc=0
"$here/run" bash -c '
set -eu
fail() { echo "selftest: FAIL: $*"; exit 1; }
echo "kernel: $(uname -r)"
[ -c /dev/kvm ] || fail "no /dev/kvm"
dmesg | grep -q "Nested Paging enabled" || fail "kvm_amd does not report nested paging"
./kvmcheck || fail "KVM API probe"
out=$(qemu-system-x86_64 -M microvm -accel kvm -nodefaults -display none -m 64 \
      -kernel /nonexistent 2>&1 || true)
case $out in
    *"could not open kernel file"*) echo "qemu -accel kvm: got past KVM setup" ;;
    *) fail "qemu -accel kvm: $out" ;;
esac
unshare -Ur true || fail "user namespaces"
[ "$(pwd)" = "$1" ] || fail "cwd is $(pwd), not $1"
echo written >"$1/written"
echo "selftest: checks inside the lab passed"
exit 3   # run must pass this status through
' bash "$work" || rc=$?

[ "$rc" = 3 ] || { echo "selftest: FAIL: run exited with $rc, expected 3" >&2; exit 1; }
[ "$(cat "$work/written" 2>/dev/null)" = written ] ||
    { echo "selftest: FAIL: the lab's write to $work/written did not arrive" >&2; exit 1; }
echo "selftest: PASS"
