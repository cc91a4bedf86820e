#!/bin/sh
# mkbzimage.sh GUEST.elf OUT.bzImage: flat-binary the guest and wrap it as a bzImage.
set -eu
elf=$1 out=$2
tool=$(dirname "$out")/mkbzimage
src=$(dirname "$0")/mkbzimage.c
[ "$tool" -nt "$src" ] || ${CC:-cc} -O2 -Wall -o "$tool" "$src"
objcopy -O binary "$elf" "$out.flat"
"$tool" "$out.flat" "$out"
rm -f "$out.flat"
