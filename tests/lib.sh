# Shared helpers for shell test suites: one PASS/FAIL/SKIP line per case, which
# tests/run.sh counts.
pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1${2:+ ($2)}"; }
skip() { echo "SKIP: $1 ($2)"; }

# check NAME COMMAND...: PASS if the command succeeds.
check() {
	name=$1; shift
	if "$@"; then pass "$name"; else fail "$name"; fi
}

kvm_usable() {
	[ -r /dev/kvm ] && [ -w /dev/kvm ]
}

# expect_error NAME PATTERN ARGS...: runs $K ARGS (stdin /dev/null, output in $T/out and
# $T/err); PASS if it exits non-zero without a signal, with a short stderr (at most 3 lines)
# that matches PATTERN.
expect_error() {
	name=$1 pattern=$2; shift 2
	"$K" "$@" >"$T/out" 2>"$T/err" </dev/null
	rc=$?
	if [ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q -- "$pattern" "$T/err" && [ "$(wc -l <"$T/err")" -le 3 ]; then
		pass "$name"
	else
		fail "$name" "rc=$rc stderr=$(head -c 300 "$T/err")"
	fi
}
