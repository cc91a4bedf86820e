#!/bin/bash
# [INIT_SRC=FILE.c] [INIT_CFLAGS=FLAGS] tests/guests/mkinitramfs.sh [OUT]
#
# Builds the Kindling test initramfs: tests/guests/boot-init.c compiled with
# gcc -static as /init (or INIT_SRC, with INIT_CFLAGS added, e.g. -nostdlib), plus /dev, /dev/console (char 5:1), /proc and /sys,
# packed as a gzip'd "newc" cpio archive.
# Default OUT: <repo>/build/guest/test-initramfs.cpio.gz
#
# The cpio archive is written directly by this script (like the kernel's
# usr/gen_init_cpio does from a file list), so device nodes need no root and
# the output is reproducible: every entry has uid/gid 0 and mtime 0.
set -eu

die() { printf 'mkinitramfs: ERROR: %s\n' "$*" >&2; exit 1; }

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$root/build/guest/test-initramfs.cpio.gz}
src=${INIT_SRC:-$here/boot-init.c}
CC=${CC:-gcc}

[ -r "$src" ] || die "missing $src"
command -v "$CC" >/dev/null || die "compiler '$CC' not found"
command -v gzip >/dev/null || die "gzip not found"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# INIT_CFLAGS is a list of flags: split on purpose.
# shellcheck disable=SC2086
"$CC" -static -O2 -s -Wall -Wextra ${INIT_CFLAGS:-} -o "$tmp/init" "$src" \
    || die "compiling $src failed (static glibc needed: libc6-dev)"

# --- minimal newc cpio writer ----------------------------------------------
# Header: "070701" then 13 fields of 8 hex digits: ino mode uid gid nlink
# mtime filesize devmajor devminor rdevmajor rdevminor namesize check.
# The header+name and the file data are each padded to a multiple of 4.
ino=300000
pad4() { # pad4 LEN: write zero bytes up to the next multiple of 4
    local n=$(( (4 - $1 % 4) % 4 ))
    [ "$n" -eq 0 ] || head -c "$n" /dev/zero
}
entry() { # entry NAME MODE SIZE RDEVMAJOR RDEVMINOR [DATAFILE]
    local name=$1 mode=$2 size=$3 rmaj=$4 rmin=$5 data=${6:-}
    local namesize=$(( ${#name} + 1 )) nlink=1
    [ $(( mode & 0170000 )) -eq $(( 0040000 )) ] && nlink=2
    ino=$((ino + 1))
    printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
        "$ino" "$mode" 0 0 "$nlink" 0 "$size" 0 0 "$rmaj" "$rmin" "$namesize" 0
    printf '%s\0' "$name"
    pad4 $(( 110 + namesize ))
    if [ -n "$data" ]; then
        cat "$data"
        pad4 "$size"
    fi
}
dir()  { entry "$1" $(( 0040000 | $2 )) 0 0 0; }
cdev() { entry "$1" $(( 0020000 | $2 )) 0 "$3" "$4"; }
file() { entry "$1" $(( 0100000 | $2 )) "$(stat -c %s "$3")" 0 0 "$3"; }
trailer() { entry "TRAILER!!!" 0 0 0 0; }

{
    dir dev 0755
    cdev dev/console 0600 5 1
    dir proc 0555
    dir sys 0555
    file init 0755 "$tmp/init"
    trailer
} | gzip -n -9 >"$tmp/initramfs.cpio.gz" || die "writing the cpio archive failed"

mkdir -p "$(dirname "$out")"
mv -f "$tmp/initramfs.cpio.gz" "$out"
printf 'mkinitramfs: wrote %s (%s bytes)\n' "$out" "$(stat -c %s "$out")"
