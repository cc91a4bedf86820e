#!/bin/bash
# The boot meter (benches/bootmeter.sh, issue 16) on the host, our kernel only: it boots
# build/guest/vmlinux twice under QEMU TCG icount; the two boots must agree exactly and the
# figures be plausible. Then a QEMU whose second boot gets more memory must make it fail.
# Needs QEMU, no KVM; about 5 s.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh

QEMU=qemu-system-x86_64
if ! command -v $QEMU >/dev/null; then
	skip bootmeter "$QEMU is not installed; run make deps"
	exit 0
fi
for f in build/guest/vmlinux build/guest/bootmeter-initramfs.cpio.gz; do
	if [ ! -r $f ]; then
		fail bootmeter "$f is missing (make kernel initramfs)"
		exit 1
	fi
done
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

# Each boot takes ~1 s here; the meter's own deadline per boot is 60 s.
meter() {
	KINDLING_BOOTMETER_DEADLINE=$(scaled 60) timeout -k 10 "$(scaled 180)" benches/bootmeter.sh --kindling-only
}

meter >"$T/out" 2>"$T/err"
rc=$?
# "kindling run N: TSC ... (idle ...), accesses (...) A C, W ms wall": all but N and W.
runs=$(grep -o 'kindling run [12]: TSC .*, accesses ([^)]*) [0-9]* [0-9]*' "$T/err" | sed 's/run [12]://')
if [ $rc = 0 ] && [ "$(echo "$runs" | wc -l)" = 2 ] && [ "$(echo "$runs" | sort -u | wc -l)" = 1 ]; then
	pass bootmeter.two_boots_identical
else
	fail bootmeter.two_boots_identical "rc=$rc; $(tail -n 5 "$T/err" | tr '\n' ' ')"
fi
minsn=$(awk '$1 == "kindling.kernel_boot_minsn" { print $2 }' "$T/out")
exits=$(awk '$1 == "kindling.kernel_boot_exits" { print $2 }' "$T/out")
cal=$(awk '$1 == "kindling.kernel_boot_exits_tsc_calibration" { print $2 }' "$T/out")
if [ -n "$minsn" ] && [ -n "$exits" ] && [ -n "$cal" ] &&
	awk -v m="$minsn" -v e="$exits" -v c="$cal" 'BEGIN { exit !(m >= 1 && m <= 1000 && e >= 1 && e <= 10000000 && c <= e) }'; then
	pass bootmeter.figures_plausible
else
	fail bootmeter.figures_plausible "$(tr '\n' ' ' <"$T/out")"
fi
# Issue 16's diet: at most 20 M instructions to init at 128 MiB (it was 29.2 M).
if [ -n "$minsn" ] && awk -v m="$minsn" 'BEGIN { exit !(m <= 20) }'; then
	pass bootmeter.kernel_diet_20m
else
	fail bootmeter.kernel_diet_20m "kindling.kernel_boot_minsn ${minsn:-missing}, over 20"
fi

# The real-hardware estimate (benches/estimate.sh) from this meter's figures and a set-up
# figure: low = setup + minsn/4 + exits/1000, high = setup + minsn + 2 exits/1000 (ms).
cp "$T/out" "$T/lines"
echo "kindling.host_setup_nokvm_ms 2.000 ms" >>"$T/lines"
want=$(awk -v m="$minsn" -v e="$exits" -v c="$cal" 'BEGIN {
	printf "kindling.realhw_boot_estimate_low_ms %.1f ms\n", 2 + m / 4 + (e - c) / 1000
	printf "kindling.realhw_boot_estimate_high_ms %.1f ms\n", 2 + m + 2 * (e - c) / 1000 }')
if got=$(benches/estimate.sh "$T/lines" 2>"$T/est.err") && [ "$got" = "$want" ] &&
	grep -q 'KVM ioctls are not in it' "$T/est.err"; then
	pass bootmeter.estimate
else
	fail bootmeter.estimate "got '$got', want '$want'; $(tr '\n' ' ' <"$T/est.err")"
fi
grep -v host_setup_nokvm_ms "$T/lines" >"$T/lines2"
if ! benches/estimate.sh "$T/lines2" >"$T/est2" 2>"$T/est2.err" && [ ! -s "$T/est2" ] &&
	grep -q 'no set-up figure' "$T/est2.err"; then
	pass bootmeter.estimate_needs_setup
else
	fail bootmeter.estimate_needs_setup "$(cat "$T/est2" "$T/est2.err" | tr '\n' ' ')"
fi

# A QEMU whose second boot (call with -kernel) has 160 MiB instead of 128 (the last -m wins): the meter must
# fail and say the boots differ.
real=$(command -v $QEMU)
mkdir "$T/bin"
cat >"$T/bin/$QEMU" <<EOS
#!/bin/bash
case " \$* " in *" -kernel "*) ;; *) exec "$real" "\$@" ;; esac
n=\$((\$(cat "$T/calls" 2>/dev/null || echo 0) + 1))
echo \$n >"$T/calls"
if [ \$n = 2 ]; then exec "$real" "\$@" -m 160; fi
exec "$real" "\$@"
EOS
chmod +x "$T/bin/$QEMU"
PATH=$T/bin:$PATH meter >"$T/out2" 2>"$T/err2"
rc=$?
if [ $rc != 0 ] && [ $rc -lt 124 ] && [ "$(cat "$T/calls" 2>/dev/null)" = 2 ] && grep -q 'two boots of the same kernel differ' "$T/err2" && [ ! -s "$T/out2" ]; then
	pass bootmeter.differing_boots_fail
else
	fail bootmeter.differing_boots_fail "rc=$rc; $(tail -n 3 "$T/err2" | tr '\n' ' ')"
fi
