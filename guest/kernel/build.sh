#!/bin/bash
# guest/kernel/build.sh [OUTDIR]
#
# Builds the Kindling guest kernel (vmlinux + bzImage) from Debian's
# linux-source-6.1 package with tinyconfig + guest/kernel/config.fragment,
# caches the result, and copies it into OUTDIR (default: <repo>/build/guest).
#
# Cache layout ($KINDLING_CACHE, default $HOME/.cache/kindling):
#   kernel/src-<pkgversion>/   unpacked source (done once, kept clean)
#   kernel/obj/                out-of-tree build dir (O=), reused incrementally
#   kernel/<hash>/             vmlinux, bzImage, config, build.log
# <hash> covers the fragment, the linux-source package version and this script,
# so changing any of them rebuilds; otherwise a run only copies files.
set -eu

say() { printf 'kernel: %s\n' "$*"; }
die() { printf 'kernel: ERROR: %s\n' "$*" >&2; exit 1; }

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
fragment=$here/config.fragment
self=$here/build.sh
outdir=${1:-$root/build/guest}

pkg=linux-source-6.1
tarball=/usr/src/$pkg.tar.xz
cache=${KINDLING_CACHE:-$HOME/.cache/kindling}/kernel

[ -r "$fragment" ] || die "missing $fragment"
[ -r "$tarball" ] || die "missing $tarball (apt-get install $pkg)"
version=$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null) \
    || die "cannot query the version of package $pkg (is it installed?)"
[ -n "$version" ] || die "empty version for package $pkg"

hash=$({ printf 'pkg=%s version=%s\n' "$pkg" "$version"
         cat "$fragment"; cat "$self"; } | sha256sum | cut -c1-16)
result=$cache/$hash

install_result() {
    mkdir -p "$outdir"
    for f in vmlinux bzImage; do
        cp -f "$result/$f" "$outdir/$f.tmp.$$"
        mv -f "$outdir/$f.tmp.$$" "$outdir/$f"
    done
    cp -f "$result/config" "$outdir/kernel.config"
    cp -f "$here/cmdline.default" "$outdir/cmdline.default" 2>/dev/null || true
    say "installed vmlinux, bzImage, kernel.config into $outdir"
}

if [ -f "$result/bzImage" ] && [ -f "$result/vmlinux" ]; then
    say "cache hit $result"
    install_result
    exit 0
fi

mkdir -p "$cache"
# One build at a time per cache (the O= dir and source tree are shared).
exec 9>"$cache/lock"
if ! flock -n 9; then
    say "waiting for another kernel build holding $cache/lock"
    flock 9
fi
if [ -f "$result/bzImage" ] && [ -f "$result/vmlinux" ]; then
    say "cache hit $result (built by a concurrent run)"
    install_result
    exit 0
fi

src=$cache/src-$version
if [ ! -f "$src/Makefile" ]; then
    say "unpacking $tarball into $src (once, ~15 s)"
    rm -rf "$src.tmp"
    mkdir -p "$src.tmp"
    tar -xJf "$tarball" -C "$src.tmp" || die "unpacking $tarball failed"
    [ -f "$src.tmp/$pkg/Makefile" ] || die "unexpected layout in $tarball (no $pkg/Makefile)"
    rm -rf "$src"
    mv "$src.tmp/$pkg" "$src"
    rmdir "$src.tmp"
fi

obj=$cache/obj
mkdir -p "$obj"
log=$cache/build-$hash.log
: >"$log"
say "log: $log"

jobs=$(nproc 2>/dev/null || echo 2)
kmake() {
    make -C "$src" O="$obj" ARCH=x86_64 \
        KBUILD_BUILD_USER=kindling KBUILD_BUILD_HOST=kindling \
        "$@" >>"$log" 2>&1
}
fail() {
    printf 'kernel: ERROR: %s; last lines of %s:\n' "$1" "$log" >&2
    tail -n 40 "$log" >&2
    exit 1
}

say "configuring (tinyconfig + $(basename "$fragment"))"
rm -f "$obj/.config"
kmake tinyconfig || fail "make tinyconfig failed"
( cd "$obj" && "$src/scripts/kconfig/merge_config.sh" -m -O "$obj" \
      "$obj/.config" "$fragment" ) >>"$log" 2>&1 || fail "merge_config.sh failed"
kmake olddefconfig || fail "make olddefconfig failed"

# Every option the fragment asks for must have survived olddefconfig.
missing=
while IFS= read -r line; do
    case $line in
    CONFIG_*=*)
        grep -qxF -- "$line" "$obj/.config" || {
            got=$(grep -E "^(# )?${line%%=*}[= ]" "$obj/.config" || echo "absent")
            missing="$missing
  wanted $line, got: $got"; }
        ;;
    "# CONFIG_"*" is not set")
        sym=${line#\# }; sym=${sym%% *}
        if grep -qE "^$sym=" "$obj/.config"; then
            missing="$missing
  wanted $line, got: $(grep -E "^$sym=" "$obj/.config")"
        fi
        ;;
    esac
done <"$fragment"
if [ -n "$missing" ]; then
    die "options from $fragment did not survive olddefconfig (missing dependency?):$missing"
fi
say "config OK ($(grep -c '=y$' "$obj/.config") options =y)"

say "building vmlinux bzImage with -j$jobs: the first time only, about 6-10 min on 2 cores (log: $log)"
start=$(date +%s)
kmake -j"$jobs" vmlinux bzImage || fail "kernel build failed"
say "build took $(( $(date +%s) - start ))s"

rm -rf "$result.tmp"
mkdir -p "$result.tmp"
cp "$obj/vmlinux" "$result.tmp/vmlinux"
cp "$obj/arch/x86/boot/bzImage" "$result.tmp/bzImage"
cp "$obj/.config" "$result.tmp/config"
cp "$log" "$result.tmp/build.log"
rm -rf "$result"
mv "$result.tmp" "$result"
rm -f "$log"
say "cached in $result (build log: $result/build.log)"
install_result
