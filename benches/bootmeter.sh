#!/bin/bash
# benches/bootmeter.sh [--kindling-only]: a deterministic boot meter (issue 16), on the host,
# no KVM. Boots a kernel through its PVH entry on QEMU -M microvm under TCG with
# `-icount shift=0,sleep=off`: the guest's TSC then counts the instructions executed plus the
# idle time skipped (1 ns each), the same on every run. The /init (benches/bootmeter-init.c)
# reads the TSC as its first instruction and prints it. Every kernel is booted twice; two runs
# that differ in any figure fail the bench. Prints:
#   kindling.kernel_boot_minsn   build/guest/vmlinux: millions of instructions to /init
#   kindling.kernel_boot_exits   its port and MMIO accesses from kernel entry to /init
#   kindling.kernel_boot_exits_tsc_calibration   of which PIT reads for the TSC calibration
#                                that only TCG makes the kernel do (see boot below)
#   debian.*                     the same for Debian's linux-image-cloud-amd64 of the same
#                                source version (its vmlinux, extracted from the bzImage)
#   kindling_vs_debian.kernel_boot_ratio   kindling / debian instructions
# --kindling-only: the kindling figures (no Debian kernel, no apt). Versions, the accesses
# per device and each boot's wall time go to stderr.
# Environment: KINDLING_BOOTMETER_EXTRA_ARGS, words added to the kernel command line (to
# measure a change); KINDLING_BOOTMETER_DEADLINE, seconds per boot (default 300).
#
# Cache ($KINDLING_CACHE, default $HOME/.cache/kindling):
#   bootmeter/resolved-<version>   the Debian package chosen for our kernel's source version
#   bootmeter/debian-<pkg>_<ver>/  its vmlinux (PVH) or vmlinuz, and info
set -eu -o pipefail
shopt -s inherit_errexit # a failed boot inside $(...) fails the bench
cd "$(dirname "$0")/.."
export LC_ALL=C

say() { printf 'bootmeter: %s\n' "$*" >&2; }
die() { printf 'bootmeter: ERROR: %s\n' "$*" >&2; exit 1; }

only_kindling=0
case "${1:-}" in
"") ;;
--kindling-only) only_kindling=1 ;;
*) die "usage: benches/bootmeter.sh [--kindling-only]" ;;
esac

QEMU=qemu-system-x86_64
KERNEL=build/guest/vmlinux
INITRD=build/guest/bootmeter-initramfs.cpio.gz
MEM_MIB=128
cache=${KINDLING_CACHE:-$HOME/.cache/kindling}/bootmeter

command -v $QEMU >/dev/null || die "$QEMU is not installed (make deps installs qemu-system-x86)"
[ -r $KERNEL ] || die "$KERNEL is missing (make kernel)"
[ -r $INITRD ] || die "$INITRD is missing (make initramfs)"

# Kindling's own command line, with two changes: reboot=t, because microvm has no keyboard
# controller to reset through (the triple fault ends QEMU, which runs with -no-reboot), and
# noapictimer, because TCG has no TSC-deadline timer and the kernel would otherwise
# calibrate the LAPIC timer against the PIT, which a KVM guest never does.
ARGS="$(sed 's/reboot=k/reboot=t/' guest/kernel/cmdline.default) noapictimer"

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

# boot NAME KERNEL RUN: one boot under QEMU; "TSC ACCESSES PIT_READS" on stdout, the accesses
# per device in $T/NAME.RUN.dev. The TSC comes from /init's console line. The accesses are
# QEMU's memory_region_ops_read/write trace events (every port and MMIO access a device
# model serves) after the firmware's last fw_cfg access (qboot loading the kernel: before it
# is firmware, after it the kernel) and before /init's write to port 0x3f0.
# Fixed inputs make the run repeatable: the RTC starts at the same date and follows the
# virtual clock, qemu64 has no RDRAND (its values would differ), one vCPU. nice: the counts
# do not depend on scheduling, only the wall time does.
# PIT_READS are the reads of PIT channel 2 (port 0x42) among the accesses: the kernel's TSC
# calibration (quick_pit_calibrate), which TCG forces (no kvmclock, no CPUID frequency leaf)
# and a KVM guest skips: nearly all of the accesses.
boot() {
	local name=$1 kernel=$2 run=$3 base=$T/$1.$3 t0 rc=0 tsc idle
	t0=$(date +%s%N)
	nice -n 19 timeout -k 10 "${KINDLING_BOOTMETER_DEADLINE:-300}" $QEMU \
		-M microvm,rtc=on -accel tcg -cpu qemu64 -smp 1 -m $MEM_MIB \
		-icount shift=0,sleep=off -rtc base=2026-01-01T00:00:00,clock=vm \
		-nodefaults -no-user-config -display none -serial "file:$base.console" -no-reboot \
		-kernel "$kernel" -initrd $INITRD -append "$ARGS${KINDLING_BOOTMETER_EXTRA_ARGS:+ $KINDLING_BOOTMETER_EXTRA_ARGS}" \
		-trace 'memory_region_ops_*' -trace "file=$base.trace" \
		</dev/null >"$base.out" 2>&1 || rc=$?
	tsc=$(grep -a -o -m1 'BOOTMETER-TSC [0-9]*' "$base.console" 2>/dev/null | cut -d' ' -f2) || true
	if [ -z "$tsc" ]; then
		say "$name run $run: /init never printed its TSC (QEMU status $rc); the console's end:"
		tail -n 15 "$base.console" >&2 2>/dev/null || true
		tail -n 5 "$base.out" >&2
		exit 1
	fi
	# The region's name is the last field, quoted; the mark is a byte write of 0x4d to 0x3f0.
	awk -v sorted="sort -rn >'$base.dev'" '
		match($0, /memory_region_ops_(read|write) /) {
			op = substr($0, RSTART + 18, RLENGTH - 19); name = $NF
			if (name == "\047fwcfg\047" || name == "\047fwcfg.dma\047") { n = cal = 0; split("", per); next }
			if (op == "write" && name == "\047io\047" && $0 ~ / addr 0x3f0 value 0x4d size 1 /) { marked = 1; exit }
			n++; per[op " " name]++
			if (op == "read" && name == "\047pit\047" && $0 ~ / addr 0x42 /) cal++
		}
		END {
			if (!marked) exit 1
			for (k in per) printf "%8d %s\n", per[k], k | sorted
			close(sorted)
			print n + 0, cal + 0
		}' "$base.trace" >"$base.n" ||
		die "$name run $run: no mark from /init on port 0x3f0 in QEMU's trace (no ioperm in this kernel?)"
	# /proc/uptime's second number: the idle time the TSC includes (10 ms resolution).
	idle=$(grep -a -o -m1 'BOOTMETER-UPTIME [0-9.]* [0-9.]*' "$base.console" | cut -d' ' -f3) || idle='?'
	say "$name run $run: TSC $tsc (idle ${idle} s), accesses (all, PIT channel 2 reads) $(cat "$base.n"), $((($(date +%s%N) - t0) / 1000000)) ms wall"
	echo "$tsc $(cat "$base.n")"
}

# meter NAME KERNEL: boots it twice; boot's line when both runs agree, else fails.
meter() {
	local a b
	a=$(boot "$1" "$2" 1) || exit 1
	b=$(boot "$1" "$2" 2) || exit 1
	if [ "$a" != "$b" ]; then
		die "$1: two boots of the same kernel differ (TSC, accesses, PIT reads: $a, then $b): the meter is not deterministic here; $($QEMU --version | head -n1)"
	fi
	echo "$a"
}

# The upstream and Debian source versions of build/guest/vmlinux: its banner, and the
# linux-source package guest/kernel/build.sh builds from when its upstream part matches.
ours_upstream=$(grep -a -o -m1 'Linux version [0-9][^ ]*' $KERNEL | cut -d' ' -f3) ||
	die "no 'Linux version' banner in $KERNEL"
ours_deb=$(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null || true)
[ "${ours_deb%%-*}" = "$ours_upstream" ] || ours_deb=
say "QEMU: $($QEMU --version | head -n1); command line: $ARGS"
say "kindling kernel: $KERNEL, Linux $ours_upstream${ours_deb:+ (Debian source $ours_deb)}"

# --- Debian's cloud kernel -----------------------------------------------------------------
# candidates: "VERSION IMAGE-PACKAGE" for every linux-image-cloud-amd64 apt knows.
candidates() {
	apt-cache show linux-image-cloud-amd64 2>/dev/null | awk '
		/^Version: / { v = $2 }
		/^Depends: / && match($0, /linux-image-[^ ,]*-cloud-amd64/) { print v, substr($0, RSTART, RLENGTH) }'
}
# pick: the candidate of our exact Debian version, else of our upstream version, else the
# one nearest in patch level (6.1.N) on the same major.minor, else none.
pick() {
	awk -v deb="$ours_deb" -v up="$ours_upstream" '
		function patch(v) { split(v, p, /[.-]/); return p[3] + 0 }
		function mm(v) { split(v, p, /[.-]/); return p[1] "." p[2] }
		{ v[NR] = $1; pkg[NR] = $2 }
		END {
			for (i = 1; i <= NR; i++) if (deb != "" && v[i] == deb) { print v[i], pkg[i]; exit }
			for (i = 1; i <= NR; i++) { split(v[i], q, "-"); if (q[1] == up) { print v[i], pkg[i]; exit } }
			best = 0
			for (i = 1; i <= NR; i++) {
				if (mm(v[i]) != mm(up)) continue
				d = patch(v[i]) - patch(up); if (d < 0) d = -d
				if (!best || d < bestd) { best = i; bestd = d }
			}
			if (best) print v[best], pkg[best]
		}'
}

# Extracts the vmlinux of a bzImage, as the kernel's scripts/extract-vmlinux does: the first
# compressed stream that unpacks into an ELF, kept only if it has the PVH entry note
# (XEN_ELFNOTE_PHYS32_ENTRY).
extract_vmlinux() {
	local bz=$1 out=$2 spec magic cmd off
	for spec in '\x02\x21\x4c\x18|lz4 -dc' '\xfd7zXZ\x00|xz -dc' '\x1f\x8b\x08|gzip -dc' \
		'\x28\xb5\x2f\xfd|zstd -dc'; do
		magic=${spec%%|*} cmd=${spec#*|}
		command -v "${cmd%% *}" >/dev/null || continue
		for off in $(grep -aboP "$magic" "$bz" | cut -d: -f1 | head -n 5); do
			# The decompressors complain about the bytes after the stream.
			tail -c +"$((off + 1))" "$bz" | $cmd >"$out" 2>/dev/null || true
			if [ "$(head -c 4 "$out" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ] &&
				grep -qaP '\x04\x00\x00\x00[\x04\x08]\x00\x00\x00\x12\x00\x00\x00Xen\x00' "$out"; then
				return 0
			fi
		done
	done
	rm -f "$out"
	return 1
}

# debian_kernel: prints the path of Debian's kernel for the meter, fetching it once.
debian_kernel() {
	local resolved=$cache/resolved-${ours_deb:-$ours_upstream} stale=1 d ver pkg dir deb bz
	mkdir -p "$cache"
	# apt-cache takes seconds: its answer is kept until apt's lists or configuration change.
	if [ -s "$resolved" ]; then
		stale=0
		for d in /var/lib/apt/lists /etc/apt /etc/apt/sources.list.d /etc/apt/preferences.d; do
			if [ -e "$d" ] && [ "$d" -nt "$resolved" ]; then stale=1; fi
		done
	fi
	if [ $stale = 1 ]; then
		candidates >"$T/candidates"
		if [ ! -s "$T/candidates" ] && [ "$(id -u)" = 0 ]; then
			say "apt-cache knows no linux-image-cloud-amd64; running apt-get update"
			apt-get update -qq >&2 || die "apt-get update failed"
			candidates >"$T/candidates"
		fi
		[ -s "$T/candidates" ] || die "apt-cache knows no linux-image-cloud-amd64 (run apt-get update as root)"
		pick <"$T/candidates" >"$T/picked"
		[ -s "$T/picked" ] || die "no linux-image-cloud-amd64 for Linux ${ours_upstream%.*}.x among: $(tr '\n' ' ' <"$T/candidates")"
		mv -f "$T/picked" "$resolved"
	fi
	read -r ver pkg <"$resolved" || die "bad $resolved (delete it)"
	dir=$cache/debian-${pkg}_$ver
	if [ ! -f "$dir/info" ]; then
		exec 9>"$cache/lock"
		flock 9
	fi
	if [ ! -f "$dir/info" ]; then
		say "downloading $pkg=$ver (once, ~30 MB; cached in $dir)"
		rm -rf "$dir.tmp"
		mkdir -p "$dir.tmp/deb"
		(cd "$dir.tmp/deb" && apt-get download "$pkg=$ver" >../download.log 2>&1) ||
			die "apt-get download $pkg=$ver failed: $(tail -n 3 "$dir.tmp/download.log")"
		deb=$(find "$dir.tmp/deb" -name '*.deb' | head -n 1)
		dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dir.tmp" --wildcards './boot/vmlinuz-*' ||
			die "no boot/vmlinuz-* in $deb"
		bz=$(find "$dir.tmp/boot" -name 'vmlinuz-*' | head -n 1)
		if extract_vmlinux "$bz" "$dir.tmp/vmlinux"; then
			echo "kernel=vmlinux" >"$dir.tmp/info.tmp"
		else
			say "warning: no PVH vmlinux in $(basename "$bz"); the bzImage is booted (its decompression counts)"
			mv "$bz" "$dir.tmp/vmlinuz"
			echo "kernel=vmlinuz" >"$dir.tmp/info.tmp"
		fi
		echo "pkg=$pkg version=$ver" >>"$dir.tmp/info.tmp"
		rm -rf "$dir.tmp/deb" "$dir.tmp/boot" "$dir.tmp/download.log"
		mv "$dir.tmp/info.tmp" "$dir.tmp/info"
		rm -rf "$dir"
		mv "$dir.tmp" "$dir"
	fi
	if [ "$ver" != "$ours_deb" ]; then
		say "warning: no Debian cloud kernel of our source version ${ours_deb:-$ours_upstream}: using the nearest, $ver"
	fi
	say "debian kernel: $pkg $ver ($(sed -n 's/^kernel=//p' "$dir/info"), $dir)"
	echo "$dir/$(sed -n 's/^kernel=//p' "$dir/info")"
}

k=$(meter kindling $KERNEL) || exit 1
read -r k_tsc k_exits k_cal <<<"$k"
say "kindling accesses by device (read/write, QEMU region):"
sed 's/^/    /' "$T/kindling.1.dev" >&2
# figures NAME TSC ACCESSES PIT_READS
figures() {
	awk -v n="$1" -v t="$2" -v e="$3" -v c="$4" 'BEGIN {
		printf "%s.kernel_boot_minsn %.3f Minsn\n", n, t / 1e6
		printf "%s.kernel_boot_exits %d accesses\n", n, e
		printf "%s.kernel_boot_exits_tsc_calibration %d accesses\n", n, c }'
}
if [ $only_kindling = 1 ]; then
	figures kindling "$k_tsc" "$k_exits" "$k_cal"
	exit 0
fi
dk=$(debian_kernel) || exit 1
d=$(meter debian "$dk") || exit 1
read -r d_tsc d_exits d_cal <<<"$d"
figures kindling "$k_tsc" "$k_exits" "$k_cal"
figures debian "$d_tsc" "$d_exits" "$d_cal"
awk -v k="$k_tsc" -v d="$d_tsc" 'BEGIN { printf "kindling_vs_debian.kernel_boot_ratio %.4f ratio\n", k / d }'
