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
