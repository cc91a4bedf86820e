#!/bin/bash
# tests/lab/prepare.sh
#
# Prepares the assets of the KVM lab (see tests/lab/README.md): the L1 kernel
# of a stock Debian kernel package and a busybox initramfs carrying the lab's
# /init and the kernel modules the lab needs (kvm-amd, 9p over virtio, tun,
# veth, bridge, loop, overlay), with their dependencies.
#
# Prints the asset directory on stdout (status messages go to stderr). It holds
#   kernel              PVH-bootable vmlinux ELF (or the bzImage if that fails)
#   initramfs.cpio.gz   gzip newc cpio
#   info                pkg=, version=, release=, modules= (load order)
#
# Cache layout ($KINDLING_CACHE, default $HOME/.cache/kindling):
#   lab/debs/                        downloaded kernel .deb files
#   lab/kernel-<pkg>_<version>/      `dpkg -x` of the package, plus depmod's
#                                    output and the extracted vmlinux; inside
#                                    the lab, /run/kindling-lab/modprobe (and
#                                    the kernel's module autoloading) use it
#   lab/assets-<hash>/               what `run` boots
#   lab/resolved-<metapkg>           cached apt-cache answer (see below)
# <hash> covers the kernel package name and version, this script, init and
# modules.list, so changing any of them rebuilds the initramfs; otherwise a
# run costs a few file tests and no apt call.
#
# Why linux-image-amd64 and not linux-image-cloud-amd64: the cloud flavour is
# built without 9p (CONFIG_NET_9P is not set), and the lab needs 9p to see the
# host's root filesystem. KINDLING_LAB_KERNEL_PKG overrides the metapackage;
# this script fails clearly if the chosen kernel lacks a needed module.
set -eu

say() { printf 'lab: %s\n' "$*" >&2; }
die() { printf 'lab: ERROR: %s\n' "$*" >&2; exit 1; }

here=$(cd "$(dirname "$0")" && pwd -P)
cache=${KINDLING_CACHE:-$HOME/.cache/kindling}
lab=$cache/lab
meta=${KINDLING_LAB_KERNEL_PKG:-linux-image-amd64}

for f in "$here/init" "$here/modules.list" "$here/kvm-keeper.c"; do
    [ -r "$f" ] || die "missing $f"
done
for t in apt-cache apt-get dpkg-deb dpkg modinfo depmod cpio gzip sha256sum flock; do
    command -v "$t" >/dev/null || die "'$t' not found (apt-get install kmod cpio dpkg apt util-linux)"
done
busybox=$(command -v busybox || true)
[ -n "$busybox" ] || die "busybox not found (apt-get install busybox-static)"
# The initramfs has no libc: a dynamically linked busybox would not start.
if ! LC_ALL=C ldd "$busybox" 2>&1 | grep -qE 'not a dynamic executable|statically linked'; then
    die "$busybox is dynamically linked (apt-get install busybox-static)"
fi

mkdir -p "$lab/debs"

# --- Which kernel package and version -----------------------------------------
# apt-cache takes 1-3 s here, so its answer is cached until the package lists
# or apt's configuration change (apt-get update rewrites /var/lib/apt/lists).
resolved=$lab/resolved-$meta
resolve() {
    apt-cache show --no-all-versions "$meta" 2>/dev/null |
        sed -n 's/^Depends:.*\(linux-image-[^ ,]*\) (= \([^)]*\)).*/\1 \2/p' | head -n1
}
stale=1
if [ -s "$resolved" ]; then
    stale=0
    for d in /var/lib/apt/lists /etc/apt /etc/apt/sources.list.d /etc/apt/preferences.d; do
        if [ -e "$d" ] && [ "$d" -nt "$resolved" ]; then stale=1; fi
    done
fi
if [ "$stale" = 1 ]; then
    r=$(resolve)
    if [ -z "$r" ]; then
        if [ "$(id -u)" = 0 ]; then
            say "apt-cache knows no $meta; running apt-get update"
            apt-get update -qq >&2 || die "apt-get update failed"
            r=$(resolve)
        fi
        [ -n "$r" ] || die "cannot resolve $meta with apt-cache (run apt-get update as root)"
    fi
    printf '%s\n' "$r" >"$resolved.tmp.$$"
    mv -f "$resolved.tmp.$$" "$resolved"
fi
read -r pkg version <"$resolved" || true
[ -n "${pkg:-}" ] && [ -n "${version:-}" ] || die "bad $resolved (delete it and retry)"

hash=$({ printf 'pkg=%s version=%s\n' "$pkg" "$version"
         cat "$here/prepare.sh" "$here/init" "$here/modules.list" "$here/kvm-keeper.c"; } | sha256sum | cut -c1-16)
assets=$lab/assets-$hash
if [ -f "$assets/.done" ]; then
    printf '%s\n' "$assets"
    exit 0
fi

# --- Slow path: one builder at a time per cache --------------------------------
exec 9>"$lab/lock"
if ! flock -n 9; then
    say "waiting for another prepare.sh holding $lab/lock"
    flock 9
fi
if [ -f "$assets/.done" ]; then
    printf '%s\n' "$assets"
    exit 0
fi

# Unpacks the compressed vmlinux out of a bzImage (like the kernel's
# scripts/extract-vmlinux). Booting that ELF through its PVH entry point skips
# the in-guest decompression, which costs ~4 s for an xz kernel under TCG.
extract_vmlinux() {
    local bz=$1 out=$2 spec magic cmd off
    for spec in '\xfd7zXZ\x00|xz -dc' '\x1f\x8b\x08|gzip -dc' \
                '\x28\xb5\x2f\xfd|zstd -dc' '\x02\x21\x4c\x18|lz4 -dc'; do
        magic=${spec%%|*} cmd=${spec#*|}
        command -v "${cmd%% *}" >/dev/null || continue
        for off in $(LC_ALL=C grep -aboP "$magic" "$bz" | cut -d: -f1 | head -n 5); do
            # The decompressors complain about the bytes after the stream.
            tail -c +"$((off + 1))" "$bz" | $cmd >"$out" 2>/dev/null || true
            if [ "$(head -c 4 "$out" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ] &&
               LC_ALL=C grep -qaP '\x04\x00\x00\x00[\x04\x08]\x00\x00\x00\x12\x00\x00\x00Xen\x00' "$out"; then
                return 0   # ELF with XEN_ELFNOTE_PHYS32_ENTRY (PVH)
            fi
        done
    done
    rm -f "$out"
    return 1
}

ktree=$lab/kernel-${pkg}_$version
if [ ! -f "$ktree/.done" ]; then
    debglob="$lab/debs/${pkg}_${version//:/%3a}_*.deb"   # apt's file name for it
    deb=$(ls $debglob 2>/dev/null | head -n1 || true)
    if [ -z "$deb" ]; then
        say "downloading $pkg=$version for the lab's L1 kernel (once, ~70 MB; cached)"
        if ! (cd "$lab/debs" && apt-get download "$pkg=$version" >"$lab/debs/download.log" 2>&1); then
            if [ "$(id -u)" = 0 ]; then
                say "download failed; running apt-get update and retrying"
                apt-get update -qq >&2 || die "apt-get update failed"
            fi
            (cd "$lab/debs" && apt-get download "$pkg=$version" >"$lab/debs/download.log" 2>&1) ||
                die "apt-get download $pkg=$version failed: $(tail -n 3 "$lab/debs/download.log")"
        fi
        deb=$(ls $debglob 2>/dev/null | head -n1 || true)
        [ -n "$deb" ] || die "apt-get download left no $(basename "$debglob") in $lab/debs"
    fi
    say "unpacking $(basename "$deb")"
    rm -rf "$ktree.tmp"
    dpkg -x "$deb" "$ktree.tmp" || die "dpkg -x $deb failed"
    release=$(ls "$ktree.tmp/lib/modules" | head -n1)
    [ -n "$release" ] || die "$deb has no lib/modules/<release>"
    # modules.dep & co. are normally made by the package's postinst; make them
    # so that modprobe works inside the lab (it sees this tree there).
    depmod -b "$ktree.tmp" "$release" || die "depmod failed for $release"
    bz=$ktree.tmp/boot/vmlinuz-$release
    [ -f "$bz" ] || die "$deb has no boot/vmlinuz-$release"
    if extract_vmlinux "$bz" "$ktree.tmp/vmlinux"; then
        say "extracted a PVH-bootable vmlinux"
    else
        say "warning: no PVH vmlinux could be extracted; booting the bzImage (slower)"
    fi
    rm -rf "$ktree"
    mv "$ktree.tmp" "$ktree"
    touch "$ktree/.done"
fi
release=$(ls "$ktree/lib/modules" | head -n1)
moddir=$ktree/lib/modules/$release

# --- Modules, dependencies first ------------------------------------------------
declare -A kopath=() seen=()
while IFS= read -r f; do
    n=$(basename "$f" .ko); n=${n//-/_}
    kopath[$n]=$f
done < <(find "$moddir/kernel" -name '*.ko')
builtin=" $(sed -e 's,.*/,,' -e 's,\.ko$,,' -e 's,-,_,g' "$moddir/modules.builtin" | tr '\n' ' ') "

order=()
add_module() {   # depth-first: dependencies are appended before the module
    local n=${1//-/_} d
    [ -z "${seen[$n]:-}" ] || return 0
    seen[$n]=1
    if [ -z "${kopath[$n]:-}" ]; then
        case $builtin in *" $n "*) return 0 ;; esac   # built into the kernel
        die "module $n is neither a module nor built into $release ($pkg); the lab needs it"
    fi
    for d in $(modinfo -F depends "${kopath[$n]}" | tr ',' ' '); do
        add_module "$d"
    done
    order+=("$n")
}
while read -r line; do
    line=${line%%#*}
    for m in $line; do add_module "$m"; done
done <"$here/modules.list"

# --- Initramfs --------------------------------------------------------------------
say "building the L1 initramfs for $release (about 10-20 s)"
stage=$(mktemp -d "$lab/stage.XXXXXX")
out=
trap 'rm -rf "$stage" ${out:+"$out"}' EXIT
mkdir -p "$stage"/{bin,dev,proc,sys,tmp,etc,mnt/root,labctl} "$stage/lib/modules/$release"
cp "$busybox" "$stage/bin/busybox"
for a in $("$busybox" --list); do
    [ "$a" = busybox ] || ln -s busybox "$stage/bin/$a"
done
cp "$here/init" "$stage/init"
chmod 755 "$stage/init"
# The keeper that holds one idle VM for the whole run (see kvm-keeper.c): static, as the
# initramfs has no libc.
${CC:-cc} -static -O2 -Wall -o "$stage/bin/kvm-keeper" "$here/kvm-keeper.c" ||
    die "cannot build tests/lab/kvm-keeper.c (a static C build; apt-get install build-essential)"

# The modules at their usual relative paths plus a modules.dep made by
# depmod, so that init loads them all with one busybox modprobe.
for n in "${order[@]}"; do
    rel=${kopath[$n]#"$moddir/"}
    mkdir -p "$stage/lib/modules/$release/${rel%/*}"
    cp "${kopath[$n]}" "$stage/lib/modules/$release/$rel"
done
for f in modules.order modules.builtin modules.builtin.modinfo; do
    [ ! -f "$moddir/$f" ] || cp "$moddir/$f" "$stage/lib/modules/$release/"
done
depmod -b "$stage" "$release" || die "depmod failed for the initramfs"
echo "${order[*]}" >"$stage/etc/lab-modules"

# Mount tables for init's `mount -a -T` (one process for many mounts).
# /mnt/root is init's $R.
cat >"$stage/etc/fstab.initramfs" <<'EOF'
proc      /proc  proc      defaults 0 0
sysfs     /sys   sysfs     defaults 0 0
devtmpfs  /dev   devtmpfs  defaults 0 0
EOF
cat >"$stage/etc/fstab.root" <<'EOF'
hostroot  /mnt/root                 9p        trans=virtio,version=9p2000.L,msize=512000,ro,cache=loose 0 0
proc      /mnt/root/proc            proc      defaults 0 0
sysfs     /mnt/root/sys             sysfs     defaults 0 0
cgroup2   /mnt/root/sys/fs/cgroup   cgroup2   defaults 0 0
devtmpfs  /mnt/root/dev             devtmpfs  defaults 0 0
tmpfs     /mnt/root/tmp             tmpfs     mode=1777 0 0
tmpfs     /mnt/root/var/tmp         tmpfs     mode=1777 0 0
tmpfs     /mnt/root/run             tmpfs     mode=0755 0 0
EOF
cat >"$stage/etc/fstab.dev" <<'EOF'
devpts    /mnt/root/dev/pts         devpts    gid=5,mode=0620,ptmxmode=0666 0 0
tmpfs     /mnt/root/dev/shm         tmpfs     mode=1777 0 0
EOF
# kernel.modprobe inside the lab (init copies it to /run/kindling-lab/): the
# host's kmod on this kernel's module tree, which the lab sees at the same
# path through the cache share. The host may have no /lib/modules/$release.
qktree=${ktree//\'/\'\\\'\'}   # for sh single quotes
cat >"$stage/etc/lab-modprobe" <<EOF
#!/bin/sh
# Loads modules of the lab's L1 kernel ($release); see tests/lab/README.md.
exec /sbin/modprobe -d '$qktree' "\$@"
EOF
chmod 755 "$stage/etc/lab-modprobe"
# What devtmpfs lacks and init copies into the new /dev.
mkdir -p "$stage/etc/lab-dev/pts" "$stage/etc/lab-dev/shm"
ln -s /proc/self/fd "$stage/etc/lab-dev/fd"
for i in 0:stdin 1:stdout 2:stderr; do
    ln -s "/proc/self/fd/${i%%:*}" "$stage/etc/lab-dev/${i#*:}"
done

out=$(mktemp -d "$lab/assets.XXXXXX")
chmod 755 "$out"
(cd "$stage" && find . -print0 | LC_ALL=C sort -z |
    cpio --null -o -H newc --owner=0:0 --quiet) | gzip -6 >"$out/initramfs.cpio.gz"
if [ -f "$ktree/vmlinux" ]; then
    ln "$ktree/vmlinux" "$out/kernel" 2>/dev/null || cp "$ktree/vmlinux" "$out/kernel"
else
    cp "$ktree/boot/vmlinuz-$release" "$out/kernel"
fi
cat >"$out/info" <<EOF
pkg=$pkg
version=$version
release=$release
ktree=$ktree
modules=${order[*]}
EOF
rm -rf "$assets"
mv "$out" "$assets"
out=
touch "$assets/.done"

# Prune what older versions of the lab left behind. Age limits, because
# another checkout sharing this cache may still use them (running labs do
# not: QEMU reads kernel and initramfs at startup).
find "$lab" -mindepth 1 -maxdepth 1 -name 'assets-*' ! -name "assets-$hash" -mtime +1 \
    -exec rm -rf {} + 2>/dev/null || true
find "$lab" -mindepth 1 -maxdepth 1 -name 'kernel-*' ! -name "kernel-${pkg}_$version" \
    -mtime +7 -exec rm -rf {} + 2>/dev/null || true
find "$lab/debs" -mindepth 1 -maxdepth 1 -name '*.deb' ! -name "${pkg}_*" -mtime +7 -delete 2>/dev/null || true
say "lab assets ready in $assets"
printf '%s\n' "$assets"
