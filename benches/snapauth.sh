#!/bin/bash
# Signed snapshots (issue 14): checking the memory file in full at load against lazily per
# 2 MiB chunk at its first touch (vmm/snaplazy.c), at 128 MiB and 1 GiB, with a synthetic
# memory file of 30% data pages (benches/authbench.c says what each figure is). Host only:
# userfaultfd and SHA-256, no KVM.
set -u -o pipefail
cd "$(dirname "$0")/.."
. tests/lib.sh
[ -x build/benches/authbench ] || { echo "snapauth: build/benches/authbench is missing (make bench builds it)" >&2; exit 1; }
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
deadline 300 build/benches/authbench 128 "$d" || exit 1
deadline 600 build/benches/authbench 1024 "$d" || exit 1
