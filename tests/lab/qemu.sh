#!/bin/sh
# tests/lab/qemu.sh: prints the path of a newer qemu-system-x86_64 for the lab's L1, for
# KINDLING_LAB_QEMU=backports (not the default: see tests/lab/README.md, "The L1 lockup").
#
# That is QEMU from Debian's <release>-backports (10.0 for bookworm), unpacked with dpkg -x
# under $KINDLING_CACHE/lab/qemu-<version>/ (nothing is installed), when it can be had and
# runs here with the system's libraries; otherwise the system's qemu-system-x86_64, with a
# note on stderr. Quick when the copy is there: a few file tests, no apt call. Uses a
# private apt source list and leaves /etc/apt alone.
set -eu
say() { printf 'lab: %s\n' "$*" >&2; }
system() {
	command -v qemu-system-x86_64 || { say "ERROR: qemu-system-x86_64 not found (apt-get install qemu-system-x86)"; exit 1; }
}
cache=${KINDLING_CACHE:-$HOME/.cache/kindling}/lab
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
[ -n "$codename" ] || { system; exit 0; }
for d in "$cache"/qemu-*/; do
	if [ -f "$d.done" ]; then
		printf '%s\n' "${d}usr/bin/qemu-system-x86_64"
		exit 0
	fi
done
[ "$(id -u)" = 0 ] || { say "note: not root, so no backports QEMU is fetched; using the system's"; system; exit 0; }

apt="$cache/apt-backports"
mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial"
echo "deb http://deb.debian.org/debian $codename-backports main" >"$apt/sources.list"
set -- -o Dir::Etc::SourceList="$apt/sources.list" -o Dir::Etc::SourceParts=- \
	-o Dir::State::Lists="$apt/lists" -o Dir::Cache="$apt/cache" -o APT::Sandbox::User="$(id -un)"
fallback() { say "note: $1; using the system's QEMU"; system; exit 0; }
say "fetching QEMU from $codename-backports for the lab's L1 (once, ~13 MB; cached)"
apt-get -qq "$@" update >/dev/null 2>&1 || fallback "apt-get update of $codename-backports failed"
version=$(apt-cache "$@" policy qemu-system-x86 2>/dev/null | awk '$2 ~ /bpo/ { print $2; exit } $1 ~ /bpo/ { print $1; exit }')
[ -n "$version" ] || fallback "$codename-backports has no qemu-system-x86"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get -qq "$@" download "qemu-system-x86=$version" "qemu-system-common=$version" \
	"qemu-system-data=$version" >"$work/log" 2>&1) || fallback "apt-get download failed: $(tail -n 1 "$work/log")"
dst=$cache/qemu-$(printf '%s' "$version" | tr -c 'A-Za-z0-9.+~\n-' '_')
rm -rf "$dst.tmp"
for deb in "$work"/*.deb; do
	dpkg -x "$deb" "$dst.tmp" || fallback "dpkg -x $(basename "$deb") failed"
done
# It must start with this system's libraries (backports builds against the release's).
"$dst.tmp/usr/bin/qemu-system-x86_64" --version >"$work/v" 2>&1 || fallback "the backports QEMU does not run here: $(head -n 1 "$work/v")"
rm -rf "$dst"
mv "$dst.tmp" "$dst"
touch "$dst/.done"
say "$(head -n 1 "$work/v") in $dst"
printf '%s\n' "$dst/usr/bin/qemu-system-x86_64"
