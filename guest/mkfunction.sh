#!/bin/bash
# Packages a function into a root filesystem image (ext4) for `kindling run`, without root
# and without mounting anything: stages the tree in a temporary directory, then
# `mkfs.ext4 -d` copies it into the image.
#
#   guest/mkfunction.sh [options] SOURCE OUTPUT.ext4
#
# SOURCE is a directory (copied as-is to /function; it must contain the handler) or a single
# executable (copied to /function/NAME and used as the handler). Options:
#   --handler PATH   the handler: relative to /function, or absolute inside the image
#                    (default: "handler" for a directory, the file itself otherwise)
#   --arg ARG        an argument for the handler (repeatable, in order)
#   --env K=V        an environment variable for the handler (repeatable)
#   --timeout S      per-invocation timeout, whole seconds 1..3600 (default: init's 30)
#   --init-hook PATH the init hook (function.json "init"), run once before readiness, so
#                    that a snapshot taken then has its work done: relative to /function,
#                    or absolute inside the image
#   --init-hook-arg ARG  an argument for the init hook (repeatable, in order)
#   --busybox        add busybox-static as /bin/busybox with its applet links and /bin/sh,
#                    for shell-script handlers
#   --hostname NAME  /etc/hostname (default: kindling; the kernel command line wins at boot)
#   --init FILE      the guest init (default: build/kindling-init)
#   --size-mib N     image size (default: the content plus slack)
#
# The image holds: /sbin/init (kindling-init) and /init -> sbin/init, /function,
# /etc/kindling/function.json, /etc/passwd, /etc/group, /etc/hostname, and empty
# /proc /sys /dev /tmp /run /scratch for init to mount over (/scratch: the disk of
# kindling.scratch=; init cannot make the directory at boot, the root is read-only).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
die() { echo "mkfunction: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

handler= timeout= busybox=0 hostname=kindling size_mib= hook=
init=$here/build/kindling-init
args=() envs=() hook_args=()
while [ $# -gt 0 ]; do
	case $1 in
	--handler) handler=${2?--handler needs a value}; shift 2 ;;
	--arg) args+=("${2?--arg needs a value}"); shift 2 ;;
	--env) envs+=("${2?--env needs K=V}"); shift 2 ;;
	--timeout) timeout=${2?--timeout needs seconds}; shift 2 ;;
	--init-hook) hook=${2?--init-hook needs a value}; shift 2 ;;
	--init-hook-arg) hook_args+=("${2?--init-hook-arg needs a value}"); shift 2 ;;
	--busybox) busybox=1; shift ;;
	--hostname) hostname=${2?--hostname needs a value}; shift 2 ;;
	--init) init=${2?--init needs a file}; shift 2 ;;
	--size-mib) size_mib=${2?--size-mib needs a number}; shift 2 ;;
	-h|--help) usage ;;
	--) shift; break ;;
	-*) die "unknown option $1 (see --help)" ;;
	*) break ;;
	esac
done
[ $# -eq 2 ] || usage
src=$1 out=$2

command -v mkfs.ext4 >/dev/null || PATH=$PATH:/sbin:/usr/sbin
command -v mkfs.ext4 >/dev/null || die "mkfs.ext4 not found (install e2fsprogs)"
[ -e "$src" ] || die "$src does not exist"
[ -f "$init" ] && [ -x "$init" ] || die "init $init not found (run make)"
case $timeout in
'') ;;
*[!0-9]*|0*) die "--timeout must be whole seconds 1..3600, not '$timeout'" ;;
*) [ "$timeout" -le 3600 ] || die "--timeout must be whole seconds 1..3600, not '$timeout'" ;;
esac
case $size_mib in ''|[1-9]*) ;; *) die "--size-mib must be a positive number" ;; esac
case $size_mib in *[!0-9]*) die "--size-mib must be a positive number" ;; esac
case $hostname in ''|*[!A-Za-z0-9.-]*|-*) die "bad --hostname '$hostname'" ;; esac
[ ${#hostname} -le 64 ] || die "--hostname longer than 64 characters"

# ELF interpreter of a file ("" if none or not ELF): a dynamically linked handler needs its
# loader and libraries in the image, which we do not add.
elf_interp() {
	{ LC_ALL=C readelf -lW "$1" 2>/dev/null || true; } |
		sed -n 's/.*Requesting program interpreter: \(.*\)]$/\1/p'
}

# A JSON string literal; control characters other than tab/newline/CR are refused.
json_str() {
	local s=$1
	case $s in *[$'\001'-$'\010\013\014\016'-$'\037\177']*) die "control character in '$s'" ;; esac
	s=${s//\\/\\\\}
	s=${s//\"/\\\"}
	s=${s//$'\t'/\\t}
	s=${s//$'\n'/\\n}
	s=${s//$'\r'/\\r}
	printf '"%s"' "$s"
}

[ -z "$(elf_interp "$init")" ] || die "$init is dynamically linked; the guest init must be static"

stage=$(mktemp -d "${TMPDIR:-/tmp}/mkfunction.XXXXXX")
trap 'rm -rf "$stage" "$out.tmp.$$"' EXIT
mkdir -p "$stage"/{function,sbin,bin,etc/kindling,proc,sys,dev,run,tmp,scratch}
chmod 1777 "$stage/tmp"

if [ -d "$src" ]; then
	cp -a "$src/." "$stage/function/"
	: "${handler:=handler}"
elif [ -f "$src" ]; then
	[ -x "$src" ] || die "$src is not executable"
	cp -p "$src" "$stage/function/"
	: "${handler:=$(basename "$src")}"
else
	die "$src is neither a directory nor a regular file"
fi
case $handler in /*) ;; *) handler=/function/${handler#./} ;; esac
case $hook in /*|'') ;; *) hook=/function/${hook#./} ;; esac
[ -n "$hook" ] || [ ${#hook_args[@]} -eq 0 ] || die "--init-hook-arg without --init-hook"

install -m 0755 "$init" "$stage/sbin/init"
ln -s sbin/init "$stage/init"

if [ $busybox = 1 ]; then
	bb=${BUSYBOX:-}
	if [ -z "$bb" ]; then
		for c in /bin/busybox /usr/bin/busybox; do [ -x "$c" ] && bb=$c && break; done
	fi
	[ -n "$bb" ] || die "--busybox: busybox not found (apt-get install busybox-static)"
	[ -z "$(elf_interp "$bb")" ] || die "--busybox: $bb is dynamically linked; install busybox-static"
	install -m 0755 "$bb" "$stage/bin/busybox"
	# Relative links, so they resolve inside the image (and inside the staging tree).
	# Builtins only in this loop: it runs for some 400 applets.
	"$bb" --list-full | while read -r applet; do
		case $applet in */*) ;; *) applet=bin/$applet ;; esac
		[ "$applet" = bin/busybox ] && continue
		d=${applet%/*} up=
		slashes=${d//[!\/]/}
		for ((i = 0; i <= ${#slashes}; i++)); do up+=../; done
		[ -d "$stage/$d" ] || mkdir -p "$stage/$d"
		[ -e "$stage/$applet" ] || [ -L "$stage/$applet" ] || ln -s "${up}bin/busybox" "$stage/$applet"
	done
	[ -e "$stage/bin/sh" ] || ln -s busybox "$stage/bin/sh"
fi

# The handler and the init hook must exist in the image, be executable, and be able to start
# there. check_program WHAT PATH OPTION
check_program() {
	local what=$1 p=$2 opt=$3 h=$stage$2 interp shebang hint=
	[ -e "$h" ] || die "$what $p not found in the image (SOURCE: $src; see $opt)"
	[ -f "$h" ] && [ -x "$h" ] || die "$what $p is not an executable file"
	interp=$(elf_interp "$h")
	if [ -n "$interp" ] && [ ! -e "$stage$interp" ]; then
		die "$what $p is dynamically linked (needs $interp, not in the image); link it with -static"
	fi
	if [ "$(head -c 2 "$h")" = '#!' ]; then
		shebang=$(head -n 1 "$h" | sed 's/^#![[:space:]]*//; s/[[:space:]].*//')
		[ $busybox = 1 ] || hint=" (try --busybox)"
		[ -e "$stage$shebang" ] || die "$what $p is a script for $shebang, which the image does not have$hint"
	fi
}
check_program handler "$handler" --handler
[ -z "$hook" ] || check_program "init hook" "$hook" --init-hook

{
	printf '{\n  "handler": %s' "$(json_str "$handler")"
	if [ ${#args[@]} -gt 0 ]; then
		sep=
		printf ',\n  "args": ['
		for a in "${args[@]}"; do printf '%s%s' "$sep" "$(json_str "$a")"; sep=', '; done
		printf ']'
	fi
	if [ ${#envs[@]} -gt 0 ]; then
		sep=
		printf ',\n  "env": {'
		for kv in "${envs[@]}"; do
			k=${kv%%=*}
			[ "$k" != "$kv" ] || die "--env wants K=V, not '$kv'"
			[[ $k =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "--env: bad variable name '$k'"
			printf '%s%s: %s' "$sep" "$(json_str "$k")" "$(json_str "${kv#*=}")"
			sep=', '
		done
		printf '}'
	fi
	[ -z "$timeout" ] || printf ',\n  "timeout_s": %s' "$timeout"
	if [ -n "$hook" ]; then
		printf ',\n  "init": [%s' "$(json_str "$hook")"
		for a in "${hook_args[@]}"; do printf ', %s' "$(json_str "$a")"; done
		printf ']'
	fi
	printf '\n}\n'
} >"$stage/etc/kindling/function.json"
[ ${#args[@]} -le 64 ] || die "more than 64 --arg"
[ ${#envs[@]} -le 64 ] || die "more than 64 --env"
[ ${#hook_args[@]} -le 64 ] || die "more than 64 --init-hook-arg"

printf 'root:x:0:0:root:/tmp:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$stage/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$stage/etc/group"
echo "$hostname" >"$stage/etc/hostname"

# Content plus a quarter, plus room for the journal and metadata; doubled on failure.
if [ -z "$size_mib" ]; then
	kib=$(du -sk "$stage" | cut -f1)
	size_mib=$(( (kib + kib / 4) / 1024 + 6 ))
	[ "$size_mib" -ge 8 ] || size_mib=8
	auto=1
else
	auto=0
fi
for try in 1 2 3; do
	rm -f "$out.tmp.$$"
	if err=$(mkfs.ext4 -q -F -d "$stage" -L kindling "$out.tmp.$$" "${size_mib}M" 2>&1); then
		mv -f "$out.tmp.$$" "$out"
		echo "mkfunction: $out: ${size_mib} MiB, handler $handler"
		exit 0
	fi
	[ $auto = 1 ] || break
	size_mib=$((size_mib * 2))
done
die "mkfs.ext4 failed: $err"
