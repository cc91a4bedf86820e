#!/bin/bash
# Boot benchmark, inside one KVM lab run: the same kernel + initramfs booted N times by
# kindling and N times by QEMU -M microvm -enable-kvm (same memory, vCPUs and command line).
# Prints medians:
#   kindling.boot_to_init_ms  fork of the VMM -> the guest's /init prints its marker (external)
#   qemu.boot_to_init_ms      the same, for QEMU
#   kindling.vmm_setup_ms     VMM process start -> first KVM_RUN (logged by kindling)
#   kindling.boot_timer_ms    VM build start -> the guest's boot-timer write (logged by kindling)
#   kindling.lab_vmm_setup_<phase>_ms  the median of each phase of vmm_setup_ms (vmm/setuptime.h)
# Lab figures are inflated by emulation: only the ratio of the two VMMs means something.
# Before the lab, on this host's own /dev/kvm (when it has one), which is real hardware
# virtualization for everything but the guest's instructions:
#   kindling.host_vmm_setup_ms          VMM main() -> first KVM_RUN, vmlinux + test initramfs,
#                                       128 MiB, 1 vCPU: median of KINDLING_HOST_SETUP_RUNS (20)
#   kindling.host_vmm_setup_<phase>_ms  the median of each phase of it (vmm/setuptime.h)
# The guest need not boot there: each run is stopped once kindling logged the figure.
set -eu
cd "$(dirname "$0")/.."
. tests/lib.sh # median
N=${KINDLING_BOOT_RUNS:-5}

# One line "vmm_setup_ms TOTAL (args A, files B, ..., rest R)" per run in $1/h.*: medians.
host_setup() {
	local d=$1 n=${KINDLING_HOST_SETUP_RUNS:-20} i pid
	cp build/guest/vmlinux build/guest/test-initramfs.cpio.gz "$d/"
	for i in $(seq "$n"); do
		build/kindling --kernel "$d/vmlinux" --initrd "$d/test-initramfs.cpio.gz" --boot-timer \
			--mem-mib 128 --vcpus 1 </dev/null >/dev/null 2>"$d/h.err.$i" &
		pid=$!
		# At most 10 s for the line; then the VM is stopped (SIGTERM, then SIGKILL).
		for _ in $(seq 200); do
			grep -q 'vmm_setup_ms ' "$d/h.err.$i" && break
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
		kill "$pid" 2>/dev/null || true
		timeout 5 tail --pid="$pid" -f /dev/null || kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		grep -o 'vmm_setup_ms .*' "$d/h.err.$i" >"$d/h.$i" ||
			{ echo "host run $i logged no vmm_setup_ms" >&2; tail -5 "$d/h.err.$i" >&2; return 1; }
	done
	setup_medians kindling.host_vmm_setup "$d"/h.[0-9]*
}

# setup_medians NAME FILE...: each FILE holds one "vmm_setup_ms TOTAL (args A, files B, ...,
# rest R)" line; prints NAME_ms, the median total, and NAME_<phase>_ms, the median of each
# phase, in the order logged. With --phases-only after NAME, only the phases (the total is
# printed otherwise).
setup_medians() {
	local name=$1 total=1 p
	shift
	[ "$1" = --phases-only ] && { total=; shift; }
	[ -z "$total" ] || cat "$@" | awk '{print $2}' | median | xargs printf "${name}_ms %.3f ms\n"
	for p in $(sed 's/.*(//; s/)//; s/,//g' "$1" | awk '{for (i = 1; i < NF; i += 2) print $i}'); do
		sed -n "s/.*[(, ]$p \([0-9.]*\).*/\1/p" "$@" | median |
			xargs printf "${name}_${p}_ms %.3f ms\n"
	done
}

if [ -z "${KINDLING_IN_LAB:-}" ]; then
	if [ -w /dev/kvm ]; then
		H=$(mktemp -d)
		host_setup "$H" || { rm -rf "$H"; exit 1; }
		rm -rf "$H"
	else
		echo "boot.sh: this host has no /dev/kvm: no kindling.host_vmm_setup_ms" >&2
	fi
	exec env KINDLING_IN_LAB=1 KINDLING_BOOT_RUNS="$N" tests/lab/run -- benches/boot.sh
fi
[ -w /dev/kvm ] || { echo "boot.sh: no /dev/kvm" >&2; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
# Both VMMs read the images from tmpfs, not from the lab's 9p share.
cp build/guest/vmlinux build/guest/bzImage build/guest/test-initramfs.cpio.gz "$T/"
cc -O2 -o "$T/timeto" benches/timeto.c
MARK=KINDLING-BOOT-OK
ARGS="console=ttyS0 reboot=k panic=1 pci=off nomodule i8042.noaux i8042.nomux i8042.dumbkbd quiet tsc=reliable no_timer_check"

for i in $(seq "$N"); do
	# Deadlines as in the tests (tests/lib.sh): SIGUSR1 makes kindling print its vCPU state.
	timeout -s USR1 -k 10 120 "$T/timeto" "$MARK" build/kindling --kernel "$T/vmlinux" --initrd "$T/test-initramfs.cpio.gz" \
		--cmdline "$ARGS" --boot-timer --mem-mib 128 --vcpus 1 </dev/null >"$T/k.$i" 2>"$T/k.err.$i"
	read -r ms _ rc <"$T/k.$i"
	[ "$rc" = 0 ] && [ "$ms" != "-1.000" ] || { echo "kindling run $i failed (rc=$rc)" >&2; tail -5 "$T/k.err.$i" >&2; exit 1; }
	echo "$ms" >>"$T/k.ms"
	grep -o 'vmm_setup_ms [0-9.]*' "$T/k.err.$i" | awk '{print $2}' >>"$T/k.setup"
	grep -o 'vmm_setup_ms .*' "$T/k.err.$i" >"$T/k.phases.$i"
	grep -o 'boot_to_init_ms [0-9.]*' "$T/k.err.$i" | awk '{print $2}' >>"$T/k.timer"

	# qboot firmware, PVH entry via -kernel vmlinux; option ROMs, RTC and ISA extras off.
	# microvm has no i8042, so reboot=k cannot end it: timeto -k stops it at the marker.
	timeout -k 10 120 "$T/timeto" -k "$MARK" qemu-system-x86_64 -M microvm,x-option-roms=off,rtc=off,pit=on,pic=on,isa-serial=on \
		-enable-kvm -cpu host -m 128 -smp 1 -nodefaults -no-user-config -nographic -serial stdio \
		-kernel "$T/vmlinux" -initrd "$T/test-initramfs.cpio.gz" -append "$ARGS" -no-reboot \
		</dev/null >"$T/q.$i" 2>"$T/q.err.$i"
	read -r ms _ rc <"$T/q.$i"
	[ "$ms" != "-1.000" ] || { echo "qemu run $i never reached init (rc=$rc)" >&2; tail -5 "$T/q.err.$i" >&2; exit 1; }
	echo "  run $i: kindling $(cat "$T/k.$i" | cut -d' ' -f1) ms, qemu $ms ms" >&2
	echo "$ms" >>"$T/q.ms"
done
printf 'kindling.boot_to_init_ms %.1f ms\n' "$(median <"$T/k.ms")"
printf 'qemu.boot_to_init_ms %.1f ms\n' "$(median <"$T/q.ms")"
printf 'kindling.vmm_setup_ms %.2f ms\n' "$(median <"$T/k.setup")"
# Where the lab's set-up time goes (inflated as everything in the lab: L1 runs under TCG);
# its total is kindling.vmm_setup_ms above.
setup_medians kindling.lab_vmm_setup --phases-only "$T"/k.phases.*
printf 'kindling.boot_timer_ms %.1f ms\n' "$(median <"$T/k.timer")"
