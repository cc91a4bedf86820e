#!/bin/bash
# A real-hardware estimate of kindling's boot to /init, from figures make bench measured
# here, because this machine cannot time a real boot (the lab is QEMU TCG, inflated ~x10-50):
#   setup     the VMM's set-up to its first KVM_RUN: kindling.host_vmm_setup_ms (boot.sh, on
#             this host's own /dev/kvm) when there is one; else kindling.host_setup_nokvm_ms
#             (setup.sh: the same set-up without the KVM ioctls, which it then leaves out)
#   guest     kindling.kernel_boot_minsn (bootmeter.sh: instructions from the kernel's entry
#             to /init) at 4 (low) to 1 (high) instructions per ns
#   exits     kindling.kernel_boot_exits minus its _tsc_calibration part (PIT reads a KVM
#             guest with kvmclock never makes) at 1 (low) to 2 (high) us each
# Prints kindling.realhw_boot_estimate_{low,high}_ms; the terms go to stderr.
# Usage: benches/estimate.sh [LINES] (default build/bench/lines.txt, what run.sh collected).
# Not in it: the guest's first touches of its RAM (EPT faults and host page faults), cache
# misses, the host's scheduling, and fork+exec of the VMM (setup.sh's kindling.host_exec_ms).
set -eu
cd "$(dirname "$0")/.."
LINES=${1:-build/bench/lines.txt}
[ -r "$LINES" ] || { echo "estimate.sh: no $LINES (run make bench)" >&2; exit 1; }
fig() { awk -v n="$1" '$1 == n { v = $2 } END { if (v != "") print v }' "$LINES"; }

minsn=$(fig kindling.kernel_boot_minsn)
exits=$(fig kindling.kernel_boot_exits)
cal=$(fig kindling.kernel_boot_exits_tsc_calibration)
[ -n "$minsn" ] && [ -n "$exits" ] && [ -n "$cal" ] ||
	{ echo "estimate.sh: the boot meter's figures are missing from $LINES" >&2; exit 1; }
setup=$(fig kindling.host_vmm_setup_ms)
what="kindling.host_vmm_setup_ms"
if [ -z "$setup" ]; then
	setup=$(fig kindling.host_setup_nokvm_ms)
	what="kindling.host_setup_nokvm_ms (no /dev/kvm here: the KVM ioctls are not in it)"
fi
[ -n "$setup" ] || { echo "estimate.sh: no set-up figure in $LINES (setup.sh or boot.sh)" >&2; exit 1; }

awk -v s="$setup" -v m="$minsn" -v e="$exits" -v c="$cal" -v what="$what" 'BEGIN {
	x = e - c
	printf "estimate: setup %.3f ms (%s)\n", s, what > "/dev/stderr"
	printf "estimate: guest %.3f M instructions: %.2f-%.2f ms at 4-1 per ns\n", m, m / 4, m > "/dev/stderr"
	printf "estimate: %d exits (%d accesses less %d PIT calibration reads): %.2f-%.2f ms at 1-2 us\n",
		x, e, c, x / 1000, 2 * x / 1000 > "/dev/stderr"
	printf "kindling.realhw_boot_estimate_low_ms %.1f ms\n", s + m / 4 + x / 1000
	printf "kindling.realhw_boot_estimate_high_ms %.1f ms\n", s + m + 2 * x / 1000
}'
