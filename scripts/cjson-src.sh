#!/bin/sh
# Unpacks Debian's cJSON source package (the one libcjson-dev is built from, with Debian's
# security patches applied) under $KINDLING_CACHE/src/cjson, so that build/kindling can link
# cJSON statically: Debian ships no libcjson.a. Quick when already there. Uses a private
# apt source list (deb-src of the system's Debian release) and leaves /etc/apt alone.
# Exits non-zero when the source cannot be had; the Makefile then links libcjson.so.
set -eu
cache=${KINDLING_CACHE:-$HOME/.cache/kindling}
dst=$cache/src/cjson
[ -f "$dst/cJSON.c" ] && exit 0
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$cache/src" "$cache/apt-src/lists/partial" "$cache/apt-src/cache/archives/partial"
echo "deb-src http://deb.debian.org/debian $codename main" >"$cache/apt-src/sources.list"
echo "deb-src http://deb.debian.org/debian-security $codename-security main" >>"$cache/apt-src/sources.list"
set -- -o Dir::Etc::SourceList="$cache/apt-src/sources.list" -o Dir::Etc::SourceParts=- \
	-o Dir::State::Lists="$cache/apt-src/lists" -o Dir::Cache="$cache/apt-src/cache" \
	-o APT::Sandbox::User="$(id -un)"
echo "cjson-src: fetching Debian's cjson source package"
apt-get -qq "$@" update
(cd "$work" && apt-get -qq "$@" source --download-only cjson >/dev/null 2>&1)
# apt checked the files against the signed Sources index; dpkg-source has no keyring for the
# .dsc's own signature and would only warn about it.
dpkg-source -x "$work"/cjson_*.dsc "$work/cjson" >"$work/log" 2>&1 || { cat "$work/log" >&2; exit 1; }
[ -f "$work/cjson/cJSON.c" ] || { echo "cjson-src: no cJSON.c in the source package" >&2; exit 1; }
rm -rf "$dst.tmp"
mkdir -p "$dst.tmp"
cp "$work/cjson/cJSON.c" "$work/cjson/cJSON.h" "$work/cjson/LICENSE" "$dst.tmp/"
head -n 1 "$work/cjson/debian/changelog" >"$dst.tmp/VERSION"
mv "$dst.tmp" "$dst"
echo "cjson-src: $(cat "$dst/VERSION")"
