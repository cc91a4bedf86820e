#!/bin/bash
# The host side of the VMM's set-up before the first KVM_RUN, on this host, without KVM
# (benches/setupbench.c): build/guest/vmlinux + the test initramfs into 128 MiB, the median
# of N runs (20), each in a fresh process. Prints:
#   kindling.host_setup_files_ms   kernel and initrd opened, mapped, checked
#   kindling.host_setup_mem_ms     guest RAM mapped (mem_create)
#   kindling.host_setup_kernel_ms  the kernel's segments in guest RAM
#   kindling.host_setup_boot_ms    command line, initrd, page tables, MP table, zero page
#   kindling.host_setup_nokvm_ms   all four, per run
#   kindling.host_setup_faults     page faults they took
#   kindling.host_exec_ms          fork + exec + exit of `kindling --version` (before main())
# The KVM part (VM, vCPUs, KVM_RUN) is kindling.host_vmm_setup_ms in benches/boot.sh.
set -eu
cd "$(dirname "$0")/.."
N=${KINDLING_SETUP_RUNS:-20}
B=build/benches/setupbench
[ -x "$B" ] || { echo "setup.sh: $B missing (make bench builds it)" >&2; exit 1; }
for f in build/guest/vmlinux build/guest/test-initramfs.cpio.gz; do
	[ -r "$f" ] || { echo "setup.sh: $f missing (make kernel initramfs)" >&2; exit 1; }
done
timeout -k 5 120 "$B" build/guest/vmlinux build/guest/test-initramfs.cpio.gz 128 "$N" build/kindling
