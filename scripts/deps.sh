#!/bin/sh
# Installs the Debian packages the project needs; quick when all are present.
set -e
pkgs="build-essential libcap-ng-dev libcjson-dev libbpf-dev libseccomp-dev qemu-system-x86
busybox-static cpio e2fsprogs linux-source-6.1 bc flex bison libelf-dev libssl-dev clang
libclang-rt-14-dev lld kmod curl iproute2 xz-utils lz4"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' ||
		missing="$missing $p"
done
cjson_src() {
	# cJSON's source, so that build/kindling links statically (see the Makefile).
	"$(dirname "$0")/cjson-src.sh" || echo "deps: no cJSON source; build/kindling will link libcjson.so" >&2
}
if [ -z "$missing" ]; then
	cjson_src
	exit 0
fi
echo "deps: installing$missing"
if [ "$(id -u)" != 0 ]; then
	echo "deps: need root to install:$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
cjson_src
