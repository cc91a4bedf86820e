#!/bin/bash
# tests/lab/lifecycles.sh N [KERNEL [KINDLING ARGS...]]
#
# Inside the lab (tests/lab/run -- tests/lab/lifecycles.sh 300): N microVM lifecycles in a
# row, each one VM created, run to its end and destroyed, by default the tiny hello64 guest.
# This is the stress that exposed the L1 lockup (README.md, "The L1 lockup"): with no other
# VM open, each create and destroy flips KVM's static keys in L1. Run it with
# KINDLING_LAB_KEEPER=0 to see the lockup, and with the keeper (the default) to see it gone;
# a lockup shows as `lab: L1 made no progress` (set KINDLING_LAB_STALL lower to find it
# sooner). Prints a line before each lifecycle (so a lockup shows which one it hit) and a
# summary; exits 1 if any VM failed. KINDLING_LC_LOAD=1 adds a background load that makes
# both L1 CPUs switch tasks all the time (a shell pipe ping-pong), as a real suite does.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
n=${1:?usage: lifecycles.sh N [KERNEL [ARGS...]]}
kernel=${2:-build/guests/hello64.elf}
shift $(($# < 2 ? $# : 2))
K=build/kindling
if ! kvm_usable; then
	echo "lifecycles: no /dev/kvm" >&2
	exit 2
fi
T=$(mktemp -d)
load=
trap '[ -z "$load" ] || kill $load 2>/dev/null; rm -rf "$T"' EXIT
if [ "${KINDLING_LC_LOAD:-0}" = 1 ]; then
	(while :; do echo x; done | while read -r _; do :; done) &
	load=$!
fi
keeper=$(pgrep -c kvm-keeper || true)
echo "lifecycles: $n x $kernel $*; kvm-keeper processes: $keeper; load: ${KINDLING_LC_LOAD:-0}"
t0=$SECONDS failed=0
for i in $(seq 1 "$n"); do
	echo "lifecycle $i"
	deadline 60 "$K" --kernel "$kernel" "$@" >"$T/out" 2>"$T/err" </dev/null
	rc=$?
	if [ $rc != 0 ]; then
		failed=$((failed + 1))
		echo "lifecycle $i: exit $rc: $(grep -v diag: "$T/err" | tail -n 2 | tr '\n' ' ')"
		show_deadline "lifecycle $i" $rc "$T/err"
	fi
	[ $((i % 50)) != 0 ] || echo "lifecycles: $i done, $failed failed, $((SECONDS - t0)) s"
done
echo "lifecycles: $n done, $failed failed, in $((SECONDS - t0)) s"
[ $failed = 0 ]
