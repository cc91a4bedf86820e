#!/bin/bash
# guest/mkrootfs.sh [-s SIZE_MIB] [-B] [-L LABEL] OUT.img [DIR]...
#
# Makes an ext4 root filesystem image from directories with `mkfs.ext4 -d`: no mounting,
# no loop devices, no root needed. Unless -B (bare) is given, the image starts with a
# busybox-static userland (/bin/busybox and a symlink per applet, /sbin/init, an rcS that
# mounts /proc, /sys and /tmp); then the contents of each DIR are laid over it in order.
# Default size: 64 MiB.
set -eu

die() { printf 'mkrootfs: ERROR: %s\n' "$*" >&2; exit 1; }

size=64 bare=0 label=rootfs
while getopts s:BL: opt; do
	case $opt in
	s) size=$OPTARG ;;
	B) bare=1 ;;
	L) label=$OPTARG ;;
	*) die "usage: mkrootfs.sh [-s SIZE_MIB] [-B] [-L LABEL] OUT.img [DIR]..." ;;
	esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || die "usage: mkrootfs.sh [-s SIZE_MIB] [-B] [-L LABEL] OUT.img [DIR]..."
out=$1; shift
case $size in ''|*[!0-9]*) die "size must be a number of MiB" ;; esac
mkfs=$(command -v mkfs.ext4 || echo /sbin/mkfs.ext4)
[ -x "$mkfs" ] || die "mkfs.ext4 not found (apt-get install e2fsprogs)"
for d in "$@"; do [ -d "$d" ] || die "$d is not a directory"; done

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

if [ "$bare" = 0 ]; then
	busybox=$(command -v busybox || true)
	[ -n "$busybox" ] || die "busybox not found (apt-get install busybox-static)"
	# The guest has no libc: a dynamically linked busybox would not start.
	LC_ALL=C ldd "$busybox" 2>&1 | grep -q 'not a dynamic executable' ||
		die "$busybox is dynamically linked (apt-get install busybox-static)"
	mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,etc/init.d,dev,proc,sys,tmp,root,mnt,var/log}
	chmod 1777 "$stage/tmp"
	cp "$busybox" "$stage/bin/busybox"
	for applet in $("$busybox" --list-full); do
		[ -e "$stage/$applet" ] || ln -s /bin/busybox "$stage/$applet"
	done
	cat >"$stage/etc/init.d/rcS" <<-'EOF'
		#!/bin/sh
		mount -t proc proc /proc
		mount -t sysfs sysfs /sys
		mount -t tmpfs tmpfs /tmp
		[ -x /etc/rc.local ] && /etc/rc.local
	EOF
	chmod 755 "$stage/etc/init.d/rcS"
	printf 'root:x:0:0:root:/root:/bin/sh\n' >"$stage/etc/passwd"
	printf 'root:x:0:\n' >"$stage/etc/group"
fi
for d in "$@"; do
	cp -a "$d"/. "$stage"/
done

mkdir -p "$(dirname "$out")"
rm -f "$out.tmp"
truncate -s "${size}M" "$out.tmp"
"$mkfs" -q -F -t ext4 -L "$label" -E root_owner=0:0 -d "$stage" "$out.tmp" ||
	die "mkfs.ext4 failed (image too small for the contents?)"
mv -f "$out.tmp" "$out"
