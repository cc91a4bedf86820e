#!/bin/bash
# guest-init on the host, no VM: build/kindling-init runs as PID 1 of fresh PID, mount and
# UTS namespaces inside a network namespace of ours, reached over a veth pair from a second
# namespace of ours (the guest sees "eth0", as with virtio-net), driven with curl and raw
# requests. Then the examples (directly and through /invoke) and guest/mkfunction.sh.
# Every namespace, veth and process made here is removed on exit, failure included.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh

INIT=${KINDLING_INIT_BIN:-build/kindling-init} # a sanitizer build can be swapped in
WORDFREQ=build/examples/wordfreq
GIP=10.213.0.2 CIP=10.213.0.1
NSG=kinit-g-$$ NSC=kinit-c-$$
T=
INIT_WRAPPER=
PORT=8080

if [ "$(id -u)" != 0 ]; then
	skip init "not root: needs network and PID namespaces"
	exit 0
fi
for tool in ip unshare curl timeout; do
	if ! command -v $tool >/dev/null; then
		skip init "$tool is not installed"
		exit 0
	fi
done
for f in $INIT $WORDFREQ; do
	if [ ! -x $f ]; then
		fail init "$f is missing (run make)"
		exit 1
	fi
done

# Kills only what this script started: the init it launched (by pid) and its wrapper.
stop_init() {
	local p
	if [ -n "$INIT_WRAPPER" ] && kill -0 "$INIT_WRAPPER" 2>/dev/null; then
		for p in $(init_pid); do kill -KILL "$p" 2>/dev/null; done
		kill -KILL "$INIT_WRAPPER" 2>/dev/null
	fi
	[ -z "$INIT_WRAPPER" ] || wait "$INIT_WRAPPER" 2>/dev/null
	INIT_WRAPPER=
}
QEMU_PID=
cleanup() {
	stop_init
	if [ -n "$QEMU_PID" ]; then
		kill -TERM "$QEMU_PID" 2>/dev/null
		reap "$QEMU_PID" 10 2>/dev/null
	fi
	ip netns del $NSG 2>/dev/null
	ip netns del $NSC 2>/dev/null
	[ -z "$T" ] || rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Leftovers of an earlier run that was killed outright (SIGKILL leaves no chance to clean
# up): namespaces named by this suite whose creating shell is gone, and what runs in them.
for ns in $(ip netns list | sed -n 's/^\(kinit-[gc]-[0-9][0-9]*\)\( .*\)\{0,1\}$/\1/p'); do
	kill -0 "${ns##*-}" 2>/dev/null && continue
	for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
	ip netns del "$ns" 2>/dev/null
done

T=$(mktemp -d /tmp/kinit-test.XXXXXX)
if ! ip netns add $NSG 2>"$T/err" || ! ip netns add $NSC 2>>"$T/err" ||
	! ip -n $NSC link add veth0 type veth peer name eth0 netns $NSG 2>>"$T/err"; then
	skip init "cannot make network namespaces and a veth pair: $(head -c 200 "$T/err")"
	exit 0
fi
ip -n $NSC addr add $CIP/24 dev veth0
ip -n $NSC link set veth0 up
ip -n $NSC link set lo up

# The host pid of the init: the child of the unshare that the wrapper (timeout) runs.
init_pid() {
	local u
	for u in $(cat /proc/"$INIT_WRAPPER"/task/"$INIT_WRAPPER"/children 2>/dev/null); do
		cat /proc/"$u"/task/"$u"/children 2>/dev/null
	done
}

# start_init NAME CMDLINE FUNCTION_JSON: kindling-init as PID 1 of new namespaces in $NSG, in
# test mode with a fake kernel command line; waits for its ready line. Log in $T/NAME.log.
# Under a deadline of 120 s (the first init serves the whole first section, ~15 s): then
# unshare dies, and --kill-child takes init with it (init, PID 1 of its namespace, ignores
# signals from outside it but SIGKILL).
start_init() {
	launch_init "$@"
	wait_ready
}
launch_init() { # NAME CMDLINE FUNCTION_JSON: start_init without the wait
	LOG=$T/$1.log
	KINDLING_INIT_TEST=1 KINDLING_INIT_CMDLINE=$2 KINDLING_INIT_FUNCTION=$3 \
		deadline_bg 120 ip netns exec $NSG unshare --pid --fork --kill-child --mount --uts --mount-proc \
		$INIT >"$LOG" 2>&1 </dev/null
	INIT_WRAPPER=$!
}
wait_ready() { # for the ready line of the init launched last, at most 5 s
	for _ in $(seq 200); do
		grep -q '^kindling-init: ready$' "$LOG" && return 0
		kill -0 $INIT_WRAPPER 2>/dev/null || return 1
		sleep 0.025
	done
	return 1
}

# call METHOD PATH [CURL ARGS...]: sets CODE; body in $T/body, headers in $T/hdr.
call() {
	local m=$1 p=$2
	shift 2
	CODE=$(ip netns exec $NSC curl -sS -m 15 -X "$m" -o "$T/body" -D "$T/hdr" -w '%{http_code}' \
		"$@" "http://$GIP:$PORT$p" 2>"$T/curl.err")
}
hdr() { sed -n "s/^$1: *//Ip" "$T/hdr" | tr -d '\r' | head -n 1; }
body() { cat "$T/body"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# raw TEXT: sends printf-style TEXT on a fresh connection; prints the response's status code.
raw() {
	ip netns exec $NSC timeout 5 bash -c '
		exec 3<>/dev/tcp/'$GIP/$PORT' || exit 1
		printf "$1" >&3
		IFS=" " read -r _ code _ <&3 && echo "$code"' _ "$1" 2>/dev/null
}

invoke() { # invoke MODE [MORE STDIN]: runs the test handler in MODE
	printf '%s\n%s' "$1" "${2:-}" >"$T/in"
	call POST /invoke --data-binary @"$T/in"
}

# The test handler: the first line of stdin picks what it does.
MARK=31.$$
cat >"$T/handler" <<EOF
#!/bin/sh
read -r mode
case \$mode in
echo) cat ;;
wc) wc -c ;;
env) echo "\$1 \$FOO \$KINDLING_INVOCATION_ID \$(pwd)" ;;
exit3) echo partial; exit 3 ;;
segv) echo before; kill -SEGV \$\$ ;;
sleep) sleep $MARK & echo started; sleep 30 ;;
slow) sleep 1.2; echo slow-done ;;
hooked) cat "$T/hooked" ;;
exact) head -c 6291456 /dev/zero ;;
big) head -c 7340032 /dev/zero ;;
stderr) echo to-stderr-marker >&2; echo ok ;;
term) trap 'echo got-term; exit 0' TERM; sleep 10 & wait ;;
orphan) setsid sleep 0.3 </dev/null >/dev/null 2>&1 & echo ok ;;
hostname) uname -n ;;
zombies) n=0; for f in /proc/[0-9]*/stat; do s=\$(cut -d' ' -f3 "\$f" 2>/dev/null); [ "\$s" = Z ] && n=\$((n+1)); done; echo "zombies=\$n" ;;
*) echo "unknown mode \$mode" >&2; exit 64 ;;
esac
EOF
chmod +x "$T/handler"
cat >"$T/fn.json" <<EOF
{ "handler": "$T/handler", "args": ["arg1"], "env": {"FOO": "bar"}, "timeout_s": 2 }
EOF

# ------------------------------------------------------------ one init, many requests
CMDLINE="console=ttyS0 ip=$GIP::$CIP:255.255.255.0:fn-test:eth0:off quiet"
if ! start_init main "$CMDLINE" "$T/fn.json"; then
	fail init.start "no ready line: $(tail -n 3 "$T/main.log" | tr '\n' ' ')"
	exit 1
fi
pass init.start

# Network: address and default route from ip=, lo up.
if ip -n $NSG -4 addr show eth0 | grep -q "inet $GIP/24" &&
	ip -n $NSG route show default | grep -q "via $CIP dev eth0" &&
	ip -n $NSG link show lo | grep -q 'UP'; then
	pass init.network_from_cmdline
else
	fail init.network_from_cmdline "$(ip -n $NSG -4 addr; ip -n $NSG route)"
fi

call GET /health
if [ "$CODE" = 200 ] && grep -q '"busy":false' "$T/body"; then pass init.health; else fail init.health "code $CODE"; fi

invoke echo "hello, kindling"
if [ "$CODE" = 200 ] && [ "$(body)" = "hello, kindling" ] && [ "$(hdr X-Kindling-Exit-Status)" = 0 ] &&
	[ -z "$(hdr X-Kindling-Signal)" ]; then
	pass init.invoke_echo
else
	fail init.invoke_echo "code $CODE body '$(head -c 80 "$T/body")'"
fi

invoke wc "12345"
if [ "$CODE" = 200 ] && [ "$(body | tr -d ' ')" = 5 ]; then pass init.invoke_wc; else fail init.invoke_wc "code $CODE body '$(body)'"; fi

invoke env
if [ "$CODE" = 200 ] && [ "$(body)" = "arg1 bar $(hdr X-Kindling-Invocation-Id) $T" ]; then
	pass init.invoke_args_env_cwd
else
	fail init.invoke_args_env_cwd "got '$(body)'"
fi

# 5 MiB round trip: also checks Expect: 100-continue (curl waits 1 s without the 100).
head -c 5242880 /dev/urandom >"$T/blob"
(echo echo; cat "$T/blob") >"$T/in"
t0=$(now_ms)
call POST /invoke --data-binary @"$T/in"
t1=$(now_ms)
if [ "$CODE" = 200 ] && cmp -s "$T/body" "$T/blob" && [ $((t1 - t0)) -lt 900 ]; then
	pass init.invoke_large_body
else
	fail init.invoke_large_body "code $CODE, $((t1 - t0)) ms, $(stat -c %s "$T/body") bytes back"
fi

invoke exit3
if [ "$CODE" = 200 ] && [ "$(hdr X-Kindling-Exit-Status)" = 3 ] && [ "$(body)" = partial ]; then
	pass init.exit_status
else
	fail init.exit_status "code $CODE status '$(hdr X-Kindling-Exit-Status)'"
fi

invoke segv
if [ "$CODE" = 200 ] && [ "$(hdr X-Kindling-Signal)" = 11 ] && [ "$(hdr X-Kindling-Exit-Status)" = 139 ] &&
	[ "$(body)" = before ]; then
	pass init.handler_crash
else
	fail init.handler_crash "code $CODE signal '$(hdr X-Kindling-Signal)' status '$(hdr X-Kindling-Exit-Status)'"
fi

invoke stderr
if [ "$CODE" = 200 ] && [ "$(body)" = ok ] && grep -q '^kindling-init: handler\[[0-9]*\]: to-stderr-marker$' "$LOG"; then
	pass init.stderr_to_console
else
	fail init.stderr_to_console "code $CODE; log: $(tail -n 2 "$LOG" | tr '\n' ' ')"
fi

# Timeout (timeout_s 2): 504 within timeout + 1 s, and the handler's background child is gone.
t0=$(now_ms)
invoke sleep
t1=$(now_ms)
sleep 0.2
if [ "$CODE" = 504 ] && [ "$(hdr X-Kindling-Error)" = timeout ] && grep -q '"error":"timeout"' "$T/body" &&
	[ $((t1 - t0)) -lt 3000 ] && ! pgrep -f "^sleep $MARK\$" >/dev/null; then
	pass init.timeout
else
	fail init.timeout "code $CODE after $((t1 - t0)) ms; leftover: $(pgrep -af "^sleep $MARK\$")"
fi

invoke exact
if [ "$CODE" = 200 ] && [ "$(stat -c %s "$T/body")" = 6291456 ]; then
	pass init.output_at_cap
else
	fail init.output_at_cap "code $CODE, $(stat -c %s "$T/body") bytes"
fi
invoke big
if [ "$CODE" = 502 ] && [ "$(hdr X-Kindling-Error)" = output-too-large ]; then
	pass init.output_over_cap
else
	fail init.output_over_cap "code $CODE error '$(hdr X-Kindling-Error)'"
fi

head -c 7340032 /dev/zero >"$T/huge"
call POST /invoke --data-binary @"$T/huge"
check init.request_over_cap [ "$CODE" = 413 ]

# Concurrency: while one invocation runs, another gets 503 at once; /health still answers.
printf 'slow\n' >"$T/in-slow"
ip netns exec $NSC curl -sS -m 15 -o "$T/body-slow" -w '%{http_code}' --data-binary @"$T/in-slow" \
	"http://$GIP:$PORT/invoke" >"$T/code-slow" 2>/dev/null &
slow=$!
busy=0
for _ in $(seq 40); do
	call GET /health
	grep -q '"busy":true' "$T/body" && busy=1 && break
	sleep 0.02
done
t0=$(now_ms)
invoke echo second
t1=$(now_ms)
second=$CODE second_err=$(hdr X-Kindling-Error)
call GET /health
health=$CODE
reap $slow 30
if [ $busy = 1 ] && [ "$second" = 503 ] && [ "$second_err" = busy ] && [ $((t1 - t0)) -lt 500 ] &&
	[ "$health" = 200 ] && [ "$(cat "$T/code-slow")" = 200 ] && [ "$(cat "$T/body-slow")" = slow-done ]; then
	pass init.concurrent_503
else
	fail init.concurrent_503 "busy=$busy second=$second/$second_err in $((t1 - t0)) ms health=$health first=$(cat "$T/code-slow")"
fi
invoke echo after
if [ "$CODE" = 200 ] && [ "$(body)" = after ]; then pass init.invoke_after_busy; else fail init.invoke_after_busy "code $CODE"; fi

# A handler that cannot be executed: 500 with execve's reason, and init serves the next one.
chmod -x "$T/handler"
invoke echo "never"
if [ "$CODE" = 500 ] && grep -q 'cannot execute .*handler: Permission denied' "$T/body"; then
	pass init.spawn_failure_500
else
	fail init.spawn_failure_500 "code $CODE body '$(head -c 200 "$T/body")'"
fi
chmod +x "$T/handler"
invoke echo "again"
if [ "$CODE" = 200 ] && [ "$(body)" = again ]; then pass init.invoke_after_spawn_failure; else fail init.invoke_after_spawn_failure "code $CODE"; fi

# Malformed HTTP: each gets its status, and the server keeps serving.
raw_case() { # NAME EXPECTED TEXT
	local got
	got=$(raw "$3")
	if [ "$got" = "$2" ]; then pass "init.http_$1"; else fail "init.http_$1" "want $2, got '${got:-nothing}'"; fi
}
raw_case garbage 400 'garbage\r\n\r\n'
raw_case binary 400 '\x00\x01\x02\xff\xfe'
raw_case bare_lf 400 'GET /health HTTP/1.1\n\n'
raw_case bad_version 505 'GET /health HTTP/2.0\r\n\r\n'
raw_case bad_length 400 'POST /invoke HTTP/1.1\r\nContent-Length: abc\r\n\r\n'
raw_case negative_length 400 'POST /invoke HTTP/1.1\r\nContent-Length: -5\r\n\r\n'
raw_case conflicting_length 400 'POST /invoke HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab'
raw_case length_over_cap 413 'POST /invoke HTTP/1.1\r\nContent-Length: 7340032\r\n\r\n'
raw_case chunked 501 'POST /invoke HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'
raw_case folded_header 400 'GET /health HTTP/1.1\r\nA: b\r\n c\r\n\r\n'
raw_case not_found 404 'GET /nope HTTP/1.1\r\n\r\n'
raw_case wrong_method 405 'GET /invoke HTTP/1.1\r\n\r\n'
raw_case huge_headers 431 "GET /health HTTP/1.1\r\nX-Big: $(head -c 16384 /dev/zero | tr '\0' a)\r\n\r\n"
raw_case many_headers 431 "GET /health HTTP/1.1\r\n$(for i in $(seq 70); do printf 'H%s: v\\r\\n' $i; done)\r\n"
raw_case http10 200 'GET /health HTTP/1.0\r\n\r\n'
# A body shorter than its Content-Length, then the client gives up: the slot must come back.
ip netns exec $NSC timeout 1 bash -c "exec 3<>/dev/tcp/$GIP/$PORT; printf 'POST /invoke HTTP/1.1\r\nContent-Length: 100\r\n\r\nshort' >&3; sleep 0.3" 2>/dev/null
invoke echo still-alive
if [ "$CODE" = 200 ] && [ "$(body)" = still-alive ] && kill -0 "$(init_pid)" 2>/dev/null; then
	pass init.survives_malformed
else
	fail init.survives_malformed "code $CODE"
fi

# PID 1 reaps orphans: a handler's setsid'd child outlives it and is re-parented to init.
invoke orphan
sleep 0.6
invoke zombies
if [ "$CODE" = 200 ] && [ "$(body)" = zombies=0 ]; then pass init.reaps_orphans; else fail init.reaps_orphans "code $CODE, $(body)"; fi

# SIGTERM to init while a handler runs goes to the handler, not to init.
printf 'term\n' >"$T/in-term"
ip netns exec $NSC curl -sS -m 15 -o "$T/body-term" --data-binary @"$T/in-term" "http://$GIP:$PORT/invoke" \
	2>/dev/null &
term=$!
for _ in $(seq 40); do
	call GET /health
	grep -q '"busy":true' "$T/body" && break
	sleep 0.02
done
sleep 0.1
kill -TERM "$(init_pid)"
reap $term 30
call GET /health
if [ "$(cat "$T/body-term")" = got-term ] && [ "$CODE" = 200 ]; then
	pass init.forwards_sigterm
else
	fail init.forwards_sigterm "handler said '$(cat "$T/body-term")', health $CODE"
fi

call POST /shutdown
code=$CODE
rc=
for _ in $(seq 60); do
	if ! kill -0 $INIT_WRAPPER 2>/dev/null; then
		wait $INIT_WRAPPER
		rc=$?
		INIT_WRAPPER=
		break
	fi
	sleep 0.05
done
if [ "$code" = 200 ] && [ "$rc" = 0 ] && grep -q 'powering off' "$LOG"; then
	pass init.shutdown
else
	fail init.shutdown "code $code, init exit '${rc:-still running}'"
fi
stop_init

# ------------------------------------------------------------ the restore message (POST /restore)
# Test mode prints the entropy and clock steps instead of doing them (the host's CRNG and
# clock are not ours to change); hostname (in init's own UTS namespace), MAC and address are
# real, in our namespaces.
E32=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8= # bytes 00 01 02 .. 1f
TNS=1700000000123456789
GOOD="\"entropy\":\"$E32\",\"time_ns\":$TNS"
GIP2=10.213.0.3 MAC2=02:00:00:13:00:02 MAC3=02:00:00:13:00:03
restore() { # restore JSON: POST /restore
	printf '%s' "$1" >"$T/rin"
	call POST /restore -H 'Content-Type: application/json' --data-binary @"$T/rin"
}
eth0_mac() { ip -n $NSG -o link show eth0 | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p'; }
restore_lines() { grep -c '^kindling-init: restore: [^r]' "$LOG"; } # applied steps, not refusals
if ! start_init restore "$CMDLINE" "$T/fn.json"; then
	fail init.restore "no ready line: $(tail -n 2 "$LOG" | tr '\n' ' ')"
else
	invoke hostname
	host0=$(body) mac0=$(eth0_mac)
	bad_restore() { # NAME JSON: 400 bad-request, nothing applied
		restore "$2"
		if [ "$CODE" = 400 ] && [ "$(hdr X-Kindling-Error)" = bad-request ] &&
			grep -q '^{"error":"bad-request","message":"restore message: .* at byte [0-9]*"}$' "$T/body"; then
			pass "init.restore_rejects_$1"
		else
			fail "init.restore_rejects_$1" "code $CODE: $(head -c 200 "$T/body")"
		fi
	}
	NET=",\"hostname\":\"fn-bad\",\"ip\":\"$GIP2::$CIP:255.255.255.0::eth0:off\",\"mac\":\"$MAC2\""
	bad_restore not_json "entropy=$E32"
	bad_restore unknown_key "{$GOOD,\"entropy_bits\":256$NET}"
	bad_restore duplicate_key "{$GOOD,\"time_ns\":$TNS$NET}"
	bad_restore missing_time "{\"entropy\":\"$E32\"$NET}"
	bad_restore missing_entropy "{\"time_ns\":$TNS$NET}"
	bad_restore short_entropy "{\"entropy\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==\",\"time_ns\":$TNS$NET}"
	bad_restore not_base64 "{\"entropy\":\"$E32!\",\"time_ns\":$TNS$NET}"
	bad_restore time_type "{\"entropy\":\"$E32\",\"time_ns\":\"$TNS\"$NET}"
	bad_restore time_range "{\"entropy\":\"$E32\",\"time_ns\":1700000000$NET}"
	bad_restore time_fraction "{\"entropy\":\"$E32\",\"time_ns\":1.7e18$NET}"
	bad_restore hostname "{$GOOD,\"hostname\":\"bad host\",\"mac\":\"$MAC2\"}"
	bad_restore ip "{$GOOD,\"ip\":\"dhcp\",\"mac\":\"$MAC2\"}"
	bad_restore mac "{$GOOD,\"ip\":\"$GIP2::$CIP:255.255.255.0::eth0:off\",\"mac\":\"01:00:5e:00:00:01\"}"
	bad_restore trailing "{$GOOD$NET} {}"
	raw_case restore_get 405 'GET /restore HTTP/1.1\r\n\r\n'
	raw_case restore_too_large 413 'POST /restore HTTP/1.1\r\nContent-Length: 65537\r\n\r\n'
	invoke hostname
	if [ "$(restore_lines)" = 0 ] && [ "$(body)" = "$host0" ] && [ "$(eth0_mac)" = "$mac0" ] &&
		ip -n $NSG -4 addr show eth0 | grep -q "inet $GIP/24" &&
		grep -q '^kindling-init: restore: refused, nothing applied: restore message: ' "$LOG"; then
		pass init.restore_bad_applies_nothing
	else
		fail init.restore_bad_applies_nothing "log: $(grep 'restore:' "$LOG" | tail -n 2 | tr '\n' ' ') host $(body) mac $(eth0_mac)"
	fi

	# Refused while an invocation runs, with nothing applied; accepted once it is done.
	printf 'slow\n' >"$T/in-slow"
	ip netns exec $NSC curl -sS -m 15 -o "$T/body-slow" --data-binary @"$T/in-slow" \
		"http://$GIP:$PORT/invoke" 2>/dev/null &
	slow=$!
	for _ in $(seq 40); do
		call GET /health
		grep -q '"busy":true' "$T/body" && break
		sleep 0.02
	done
	restore "{$GOOD,\"hostname\":\"fn-busy\"}"
	code=$CODE err=$(hdr X-Kindling-Error) retry=$(hdr Retry-After)
	reap $slow 30
	if [ "$code" = 503 ] && [ "$err" = busy ] && [ "$retry" = 1 ] && [ "$(restore_lines)" = 0 ] &&
		[ "$(cat "$T/body-slow")" = slow-done ]; then
		pass init.restore_busy_503
	else
		fail init.restore_busy_503 "code $code/$err, handler said '$(cat "$T/body-slow")'"
	fi

	# A good message: entropy and clock described (test mode), the hostname real.
	restore "{$GOOD,\"hostname\":\"fn-restored\"}"
	if [ "$CODE" = 200 ] &&
		[ "$(body)" = '{"status":"ok","applied":["entropy","time","hostname"],"after_response":[]}' ] &&
		grep -q '^kindling-init: restore: entropy: 32 bytes (00010203\.\.\.) not added: test mode$' "$LOG" &&
		grep -q '^kindling-init: restore: clock: 1700000000\.123456789 not set: test mode$' "$LOG" &&
		grep -q '^kindling-init: restore: hostname fn-restored$' "$LOG"; then
		pass init.restore_applied
	else
		fail init.restore_applied "code $CODE: $(body); log: $(grep 'restore:' "$LOG" | tail -n 3 | tr '\n' ' ')"
	fi
	invoke hostname
	if [ "$CODE" = 200 ] && [ "$(body)" = fn-restored ] && [ "$(hostname)" != fn-restored ]; then
		pass init.restore_hostname
	else
		fail init.restore_hostname "handler sees '$(body)', host is $(hostname)"
	fi
	invoke echo after-restore
	if [ "$CODE" = 200 ] && [ "$(body)" = after-restore ]; then
		pass init.restore_then_invoke
	else
		fail init.restore_then_invoke "code $CODE: $(body)"
	fi

	# A new MAC on the same address: applied after the response, and announced, so that the
	# client's neighbour entry (made by the requests above) follows at once.
	restore "{$GOOD,\"mac\":\"$MAC2\"}"
	code=$CODE resp=$(body)
	for _ in $(seq 40); do [ "$(eth0_mac)" = $MAC2 ] && break; sleep 0.025; done
	sleep 0.1
	t0=$(now_ms)
	invoke echo new-mac
	t1=$(now_ms)
	if [ "$code" = 200 ] && [ "$resp" = '{"status":"ok","applied":["entropy","time"],"after_response":["mac"]}' ] &&
		[ "$(eth0_mac)" = $MAC2 ] && ip -n $NSC neigh show $GIP | grep -q "lladdr $MAC2" &&
		[ "$CODE" = 200 ] && [ "$(body)" = new-mac ] && [ $((t1 - t0)) -lt 1000 ]; then
		pass init.restore_mac
	else
		fail init.restore_mac "code $code: $resp; mac $(eth0_mac); neigh $(ip -n $NSC neigh show $GIP); invoke $CODE in $((t1 - t0)) ms"
	fi

	# A new address and MAC: the response comes over the old address, then init moves.
	restore "{$GOOD,\"ip\":\"$GIP2::$CIP:255.255.255.0:fn-net::off\",\"mac\":\"$MAC3\"}"
	code=$CODE resp=$(body)
	for _ in $(seq 40); do ip -n $NSG -4 addr show eth0 | grep -q "inet $GIP2/24" && break; sleep 0.025; done
	GIP=$GIP2
	invoke hostname
	GIP=10.213.0.2
	if [ "$code" = 200 ] &&
		[ "$resp" = '{"status":"ok","applied":["entropy","time","hostname"],"after_response":["mac","ip"]}' ] &&
		[ "$(eth0_mac)" = $MAC3 ] && ip -n $NSG route show default | grep -q "via $CIP dev eth0" &&
		! ip -n $NSG -4 addr show eth0 | grep -q "inet $GIP/" && [ "$CODE" = 200 ] && [ "$(body)" = fn-net ]; then
		pass init.restore_ip
	else
		fail init.restore_ip "code $code: $resp; $(ip -n $NSG -4 -o addr show eth0); invoke $CODE '$(body)'; log: $(grep 'restore:' "$LOG" | tail -n 2 | tr '\n' ' ')"
	fi
fi
stop_init
# The next inits start from the veth as it was: no address, the first MAC, no stale neighbour.
ip -n $NSG addr flush dev eth0
[ -z "${mac0:-}" ] || ip -n $NSG link set eth0 address "$mac0"
ip -n $NSC neigh flush dev veth0

# ------------------------------------------------------------ the handler preloaded
# Before readiness, init reads the handler and what it runs first (here its #! interpreter,
# a copy of a binary) into the page cache, so that a snapshot taken at readiness holds them.
# Both are evicted first; fincore counts their resident pages once init is ready.
cp /bin/true "$T/pre-interp"
printf '#!%s\necho hi\n' "$T/pre-interp" >"$T/pre-handler"
chmod +x "$T/pre-handler"
echo "{ \"handler\": \"$T/pre-handler\" }" >"$T/pre.json"
evict() { python3 -c 'import os, sys
for p in sys.argv[1:]:
    fd = os.open(p, os.O_RDONLY); os.fdatasync(fd); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)' "$@"; }
resident() { fincore -n -b -o RES "$1" 2>/dev/null | tr -d ' '; }
evict "$T/pre-handler" "$T/pre-interp"
r0=$(resident "$T/pre-handler")/$(resident "$T/pre-interp")
if ! command -v fincore >/dev/null; then
	skip init.preloads_handler "fincore (util-linux) is not installed"
elif [ "$r0" != 0/0 ]; then
	skip init.preloads_handler "cannot evict test files from the page cache here ($T: $r0 bytes resident)"
elif start_init pre "$CMDLINE" "$T/pre.json" &&
	[ "$(resident "$T/pre-handler")" -ge "$(stat -c %s "$T/pre-handler")" ] &&
	[ "$(resident "$T/pre-interp")" -ge "$(stat -c %s "$T/pre-interp")" ]; then
	pass init.preloads_handler
else
	fail init.preloads_handler "resident after ready: handler $(resident "$T/pre-handler") of $(stat -c %s "$T/pre-handler"), interpreter $(resident "$T/pre-interp") of $(stat -c %s "$T/pre-interp")"
fi
stop_init

# ------------------------------------------------------------ set-up errors and overrides
echo '{"handler": "/bin/cat", "timeout": 3}' >"$T/bad.json"
if ! start_init badjson "$CMDLINE" "$T/bad.json" && ! kill -0 "$INIT_WRAPPER" 2>/dev/null &&
	grep -q 'FATAL: .*unknown key' "$LOG"; then
	pass init.fatal_bad_config
else
	fail init.fatal_bad_config "$(tail -n 2 "$LOG" | tr '\n' ' ')"
fi
stop_init
if ! start_init badip "ip=10.0.0.300::1.2.3.4" "$T/fn.json" && grep -q 'FATAL: cannot parse ip=' "$LOG"; then
	pass init.fatal_bad_ip
else
	fail init.fatal_bad_ip "$(tail -n 2 "$LOG" | tr '\n' ' ')"
fi
stop_init
out=$(env -u KINDLING_INIT_TEST $INIT 2>&1)
rc=$?
if [ $rc = 2 ] && [[ $out == *"not PID 1"* ]]; then pass init.refuses_not_pid1; else fail init.refuses_not_pid1 "exit $rc: $out"; fi

# ------------------------------------------------------------ the init hook and the scratch disk
# Test mode runs the hook for real; it checks kindling.scratch= and describes the mount
# instead of doing it (init.qemu_scratch_hook below mounts one for real).
MARK2=32.$$ MARK3=33.$$
HOOK=$T/hookdir/hook
mkdir "$T/hookdir"
cat >"$HOOK" <<EOF
#!/bin/sh
case \$1 in
warm)
	echo "hook-stdout \$1 \$FOO \$(pwd) \$(readlink /proc/self/fd/0) \${KINDLING_INVOCATION_ID:-no-id}"
	echo hook-stderr >&2
	echo "\$1" >>"$T/hooked"
	sleep $MARK2 & ;;
exit3) echo failing; exit 3 ;;
kill) kill -KILL \$\$ ;;
hang) sleep $MARK3 & sleep 30 ;;
term) trap 'echo got-term; exit 0' TERM; echo term-waiting; sleep 10 & wait ;;
*) exit 64 ;;
esac
EOF
chmod +x "$HOOK"
hook_json() { # NAME TIMEOUT MODE: $T/NAME.json, the test handler with the hook in MODE
	echo "{ \"handler\": \"$T/handler\", \"env\": {\"FOO\": \"bar\"}, \"timeout_s\": $2,
		\"init\": [\"$HOOK\", \"$3\"] }" >"$T/$1.json"
}

# The hook runs once, with its output on the console, after the scratch disk and before
# readiness; what it wrote is there for the first invocation; its background child is gone.
hook_json hook 5 warm
if ! start_init hook "$CMDLINE kindling.scratch=/dev/vdb" "$T/hook.json"; then
	fail init.hook_before_ready "no ready line: $(tail -n 3 "$LOG" | tr '\n' ' ')"
else
	want="kindling-init: scratch: /dev/vdb on /scratch (ext4, noatime) not mounted: test mode
kindling-init: running init hook $HOOK (timeout 5 s)
kindling-init: init: hook-stdout warm bar $T/hookdir /dev/null no-id
kindling-init: init: hook-stderr
kindling-init: init hook done in N ms
kindling-init: ready"
	got=$(sed -n '/^kindling-init: ready$/q; s/done in [0-9]* ms$/done in N ms/; p' "$LOG"; echo kindling-init: ready)
	if [ "$got" = "$want" ]; then
		pass init.hook_before_ready
	else
		fail init.hook_before_ready "console: $(echo "$got" | tr '\n' '|')"
	fi
	invoke hooked
	first=$CODE/$(body)
	invoke hooked
	if [ "$first" = 200/warm ] && [ "$CODE" = 200 ] && [ "$(body)" = warm ]; then
		pass init.hook_state_seen_once
	else
		fail init.hook_state_seen_once "first invocation $first, second $CODE/$(body)"
	fi
	if ! pgrep -f "^sleep $MARK2\$" >/dev/null; then
		pass init.hook_group_killed
	else
		fail init.hook_group_killed "left running: $(pgrep -af "^sleep $MARK2\$")"
	fi
fi
stop_init

# SIGTERM while the hook runs goes to the hook; when it then exits 0, init goes on.
hook_json hookterm 5 term
launch_init hookterm "$CMDLINE" "$T/hookterm.json"
for _ in $(seq 200); do
	grep -q '^kindling-init: init: term-waiting$' "$LOG" && break
	sleep 0.025
done
kill -TERM "$(init_pid)" 2>/dev/null
if wait_ready && grep -qx 'kindling-init: forwarding signal 15 to the init hook' "$LOG" &&
	grep -qx 'kindling-init: init: got-term' "$LOG" && grep -q '^kindling-init: init hook done in' "$LOG"; then
	invoke echo after-hook-term
	if [ "$CODE" = 200 ] && [ "$(body)" = after-hook-term ]; then
		pass init.hook_gets_sigterm
	else
		fail init.hook_gets_sigterm "invoke: $CODE $(body)"
	fi
else
	fail init.hook_gets_sigterm "console: $(grep kindling-init "$LOG" | tail -n 4 | tr '\n' '|')"
fi
stop_init

# init_fatal NAME MESSAGE FUNCTION_JSON [CMDLINE] [MAX_MS]: init stops before readiness with
# "FATAL: ...MESSAGE..." and powers off (test mode: exit status 1), within MAX_MS (5000).
init_fatal() {
	local t0 t1 rc
	t0=$(now_ms)
	if start_init "$1" "${4:-$CMDLINE}" "$3"; then
		fail "init.$1" "it became ready: $(tail -n 2 "$LOG" | tr '\n' '|')"
		stop_init
		return
	fi
	for _ in $(seq 200); do
		running "$INIT_WRAPPER" || break
		sleep 0.05
	done
	if running "$INIT_WRAPPER"; then
		rc="still running"
		stop_init
	else
		wait "$INIT_WRAPPER"
		rc=$?
		INIT_WRAPPER=
	fi
	t1=$(now_ms)
	if [ $rc = 1 ] && grep -qF -- "kindling-init: FATAL: $2" "$LOG" && grep -qx 'kindling-init: powering off' "$LOG" &&
		! grep -q '^kindling-init: ready' "$LOG" && [ $((t1 - t0)) -lt "${5:-5000}" ]; then
		pass "init.$1"
	else
		fail "init.$1" "exit $rc after $((t1 - t0)) ms: $(grep -e FATAL -e 'init:' "$LOG" | tr '\n' '|')"
	fi
}
hook_json hook_exit_status 5 exit3
init_fatal hook_exit_status "init hook $HOOK exited with status 3" "$T/hook_exit_status.json"
hook_json hook_signal 5 kill
init_fatal hook_signal "init hook $HOOK was killed by signal 9 (Killed)" "$T/hook_signal.json"
hook_json hook_timeout 1 hang
init_fatal hook_timeout "init hook $HOOK did not finish within 1 s (timeout_s); killed with its process group" \
	"$T/hook_timeout.json" "$CMDLINE" 3000
if ! pgrep -f "^sleep $MARK3\$" >/dev/null; then
	pass init.hook_timeout_group_killed
else
	fail init.hook_timeout_group_killed "left running: $(pgrep -af "^sleep $MARK3\$")"
fi

bad_hook() { # NAME INIT_VALUE MESSAGE
	echo "{\"handler\": \"$T/handler\", \"init\": $2}" >"$T/$1.json"
	init_fatal "$1" "$3" "$T/$1.json"
}
many=\"/bin/true\"
for i in $(seq 65); do many+=",\"a$i\""; done
bad_hook init_not_array '"/bin/true"' "$T/init_not_array.json: function.json: init must be an array of strings"
bad_hook init_empty '[]' "$T/init_empty.json: function.json: init is empty"
bad_hook init_relative '["hookdir/hook"]' "$T/init_relative.json: function.json: init's program is not an absolute path at byte "
bad_hook init_not_string '["/bin/true", 1]' "$T/init_not_string.json: function.json: expected a string"
bad_hook init_too_many "[$many]" "$T/init_too_many.json: function.json: more than 64 init args"
bad_hook init_not_executable "[\"$T/fn.json\"]" "init hook $T/fn.json: not executable"

init_fatal scratch_not_virtio "kindling.scratch=/dev/sda: want a whole virtio disk, /dev/vd[a-z]" "$T/fn.json" \
	"$CMDLINE kindling.scratch=/dev/sda"
init_fatal scratch_partition "kindling.scratch=/dev/vdb1: want a whole virtio disk" "$T/fn.json" \
	"$CMDLINE kindling.scratch=/dev/vdb1"
init_fatal scratch_empty "kindling.scratch=: want a whole virtio disk" "$T/fn.json" "$CMDLINE kindling.scratch"

# ------------------------------------------------------------ the examples
# wordfreq directly, then through init: the handler comes from the command line (overriding
# function.json), another port, and eth0 is already configured (as by the kernel's IP_PNP).
if $WORDFREQ <examples/wordfreq/input.txt | cmp -s - examples/wordfreq/expected.txt; then
	pass init.example_wordfreq_direct
else
	fail init.example_wordfreq_direct "output differs from examples/wordfreq/expected.txt"
fi
echo '{"handler": "/nonexistent/overridden"}' >"$T/wf.json"
PORT=9090
if start_init wordfreq "$CMDLINE kindling.handler=$PWD/$WORDFREQ kindling.port=9090 kindling.timeout=5" "$T/wf.json"; then
	call POST /invoke --data-binary @examples/wordfreq/input.txt
	if [ "$CODE" = 200 ] && cmp -s "$T/body" examples/wordfreq/expected.txt; then
		pass init.example_wordfreq_invoke
	else
		fail init.example_wordfreq_invoke "code $CODE body '$(head -c 80 "$T/body")'"
	fi
else
	fail init.example_wordfreq_invoke "no ready line: $(tail -n 2 "$LOG" | tr '\n' ' ')"
fi
stop_init
PORT=8080

BB=$(command -v busybox)
if [ -z "$BB" ]; then
	skip init.example_shell_upper "busybox is not installed (apt-get install busybox-static)"
else
	if $BB sh examples/shell-upper/handler <examples/shell-upper/input.txt | cmp -s - examples/shell-upper/expected.txt; then
		pass init.example_shell_upper_direct
	else
		fail init.example_shell_upper_direct "output differs from examples/shell-upper/expected.txt"
	fi
	echo "{\"handler\": \"$BB\", \"args\": [\"sh\", \"$PWD/examples/shell-upper/handler\"]}" >"$T/su.json"
	if start_init shell-upper "$CMDLINE" "$T/su.json"; then
		call POST /invoke --data-binary @examples/shell-upper/input.txt
		if [ "$CODE" = 200 ] && cmp -s "$T/body" examples/shell-upper/expected.txt; then
			pass init.example_shell_upper_invoke
		else
			fail init.example_shell_upper_invoke "code $CODE body '$(head -c 80 "$T/body")'"
		fi
	else
		fail init.example_shell_upper_invoke "no ready line: $(tail -n 2 "$LOG" | tr '\n' ' ')"
	fi
	stop_init
fi

# ------------------------------------------------------------ guest/mkfunction.sh
# Checks the images with debugfs (read-only, no mount).
img_cat() { debugfs -R "cat $2" "$1" 2>/dev/null; }
img_has() { debugfs -R "stat $2" "$1" 2>/dev/null | grep -q "^Inode:"; }
if ! command -v mkfs.ext4 >/dev/null || ! command -v debugfs >/dev/null; then
	skip init.mkfunction "e2fsprogs (mkfs.ext4, debugfs) is not installed"
else
	img=$T/wf.ext4
	if guest/mkfunction.sh --timeout 7 --env MODE=fast --arg 5 $WORDFREQ "$img" >"$T/mk.out" 2>&1 &&
		img_has "$img" /sbin/init && img_has "$img" /init && img_has "$img" /function/wordfreq &&
		img_has "$img" /proc && img_has "$img" /tmp && img_has "$img" /scratch && img_has "$img" /etc/passwd &&
		img_cat "$img" /sbin/init | cmp -s - build/kindling-init &&
		img_cat "$img" /etc/kindling/function.json | tr -d ' \n' |
		grep -qx '{"handler":"/function/wordfreq","args":\["5"\],"env":{"MODE":"fast"},"timeout_s":7}'; then
		pass init.mkfunction_executable
	else
		fail init.mkfunction_executable "$(tail -n 2 "$T/mk.out")"
	fi
	if [ -n "$BB" ] && guest/mkfunction.sh --busybox examples/shell-upper "$T/su.ext4" >"$T/mk.out" 2>&1 &&
		img_has "$T/su.ext4" /bin/busybox && img_has "$T/su.ext4" /bin/sh && img_has "$T/su.ext4" /usr/bin/tr &&
		img_cat "$T/su.ext4" /function/handler | cmp -s - examples/shell-upper/handler &&
		img_cat "$T/su.ext4" /etc/kindling/function.json | grep -q '"handler": "/function/handler"'; then
		pass init.mkfunction_busybox_dir
	else
		fail init.mkfunction_busybox_dir "$(tail -n 2 "$T/mk.out")"
	fi
	mk_rejects() { # NAME EXPECTED-MESSAGE ARGS...
		local name=$1 want=$2 out
		shift 2
		if out=$(guest/mkfunction.sh "$@" "$T/bad.ext4" 2>&1); then
			fail "init.mkfunction_rejects_$name" "succeeded"
		elif [[ $out != *"$want"* ]] || [ -e "$T/bad.ext4" ]; then
			fail "init.mkfunction_rejects_$name" "said '$out'"
		else
			pass "init.mkfunction_rejects_$name"
		fi
	}
	mk_rejects script_without_sh "script for /bin/sh" examples/shell-upper
	mk_rejects dynamic "dynamically linked" /bin/true
	mk_rejects no_handler "not found in the image" examples/wordfreq
	mk_rejects not_executable "not executable" examples/wordfreq/input.txt
	mk_rejects missing "does not exist" "$T/nonexistent"
	mk_rejects bad_timeout "--timeout" --timeout 5s $WORDFREQ
	mk_rejects bad_env "bad variable name" --env 1X=y $WORDFREQ
	mk_rejects no_init_hook "init hook /function/nope not found in the image" --busybox --init-hook nope \
		examples/shell-upper
	mk_rejects init_hook_arg_alone "--init-hook-arg without --init-hook" --busybox --init-hook-arg x \
		examples/shell-upper

	# A function with an init hook, for init.qemu_scratch_hook: the hook prepares /scratch and
	# /tmp once, the handler shows what it finds.
	mkdir "$T/qfn"
	cat >"$T/qfn/handler" <<'EOF'
#!/bin/sh
cat /scratch/warm /tmp/warm
grep ' /scratch ' /proc/mounts | cut -d' ' -f1-4
echo invoked >/scratch/invoked
EOF
	cat >"$T/qfn/warm" <<'EOF'
#!/bin/sh
echo "warming $1 in $(pwd)"
echo "warm $1" >/scratch/warm
echo "tmp $1" >/tmp/warm
EOF
	chmod +x "$T/qfn/handler" "$T/qfn/warm"
	if [ -n "$BB" ] && guest/mkfunction.sh --busybox --init-hook warm --init-hook-arg 'x "y"' "$T/qfn" "$T/qfn.ext4" \
		>"$T/mk.out" 2>&1 && img_has "$T/qfn.ext4" /function/warm &&
		img_cat "$T/qfn.ext4" /etc/kindling/function.json | grep -qxF '  "init": ["/function/warm", "x \"y\""]'; then
		pass init.mkfunction_init_hook
	else
		fail init.mkfunction_init_hook "$(tail -n 2 "$T/mk.out"; img_cat "$T/qfn.ext4" /etc/kindling/function.json)"
	fi
fi

# ------------------------------------------------------------ a real boot (QEMU TCG)
# The production path that test mode skips: kindling-init as the kernel's PID 1 on a read-only
# ext4 root made by mkfunction (busybox shell handler), /proc/cmdline, ip= already applied by
# the kernel's IP_PNP, mounts (the scratch disk's too), the init hook, power-off through
# reboot(2). QEMU's emulator, no KVM needed; QEMU runs inside our client namespace, so its
# loopback port forward is ours alone.
KERNEL=build/guest/bzImage
# qemu_start LOG ROOT_IMAGE APPEND [QEMU ARGS...]: boots ROOT_IMAGE read-only as /dev/vda with
# APPEND added to the command line, in the background (QEMU_PID), under a deadline of 120 s.
qemu_start() {
	local log=$1 img=$2 append=$3
	shift 3
	ip netns exec $NSC timeout 120 qemu-system-x86_64 -M microvm,acpi=off -accel tcg -m 256 \
		-nodefaults -nographic -no-reboot -serial stdio -kernel $KERNEL \
		-append "console=ttyS0 reboot=t panic=1 pci=off quiet root=/dev/vda ro ip=10.0.2.15::10.0.2.2:255.255.255.0::eth0:off $append" \
		-drive id=d,file="$img",format=raw,if=none -device virtio-blk-device,drive=d \
		-netdev user,id=n,restrict=on,hostfwd=tcp:127.0.0.1:8080-10.0.2.15:8080 \
		-device virtio-net-device,netdev=n "$@" >"$log" 2>&1 </dev/null &
	QEMU_PID=$!
}
# qemu_ready LOG: waits for init's ready line; fails if QEMU ends first.
qemu_ready() {
	for _ in $(seq 240); do
		grep -q '^kindling-init: ready' "$1" && return 0
		kill -0 $QEMU_PID 2>/dev/null || return 1
		sleep 0.5
	done
	return 1
}
# qemu_end: waits at most 30 s for QEMU to end by itself; sets rc (its status, or "still
# running", and then it is stopped).
qemu_end() {
	for _ in $(seq 60); do kill -0 $QEMU_PID 2>/dev/null || break; sleep 0.5; done
	if kill -0 $QEMU_PID 2>/dev/null; then
		rc="still running"
		kill -TERM $QEMU_PID
		reap $QEMU_PID 10
		QEMU_PID=
	else
		wait $QEMU_PID
		rc=$?
		QEMU_PID=
	fi
}
if ! command -v qemu-system-x86_64 >/dev/null; then
	skip init.qemu_boot "qemu-system-x86_64 is not installed"
elif [ ! -f $KERNEL ] || [ ! -f "$T/su.ext4" ]; then
	skip init.qemu_boot "no $KERNEL (make kernel) or no busybox image"
else
	qemu_start "$T/qemu.log" "$T/su.ext4" "kindling.hostname=qemu-fn"
	qemu_ready "$T/qemu.log"
	GIP=127.0.0.1
	call POST /invoke --data-binary @examples/shell-upper/input.txt
	code=$CODE
	cmp -s "$T/body" examples/shell-upper/expected.txt && same=1 || same=0
	call POST /shutdown
	qemu_end
	if [ "$code" = 200 ] && [ $same = 1 ] && [ "$rc" = 0 ] && ! grep -q FATAL "$T/qemu.log"; then
		pass init.qemu_boot
	else
		fail init.qemu_boot "invoke $code (same output: $same), qemu exit $rc; console: $(grep kindling-init "$T/qemu.log" | tail -n 3 | tr '\n' ' ')"
	fi
fi

# The scratch disk and the init hook for real: an empty ext4 image as /dev/vdb, mounted by
# init on the read-only root's /scratch before the hook, which writes there and to /tmp before
# readiness; the invocation finds both; after power-off the disk holds what was written.
if ! command -v qemu-system-x86_64 >/dev/null; then
	skip init.qemu_scratch_hook "qemu-system-x86_64 is not installed"
	skip init.qemu_scratch_readonly_root "qemu-system-x86_64 is not installed"
elif [ ! -f $KERNEL ] || [ ! -f "$T/qfn.ext4" ]; then
	skip init.qemu_scratch_hook "no $KERNEL (make kernel) or no image with an init hook"
	skip init.qemu_scratch_readonly_root "no $KERNEL (make kernel) or no image with an init hook"
else
	truncate -s 16M "$T/scratch.ext4"
	mkfs.ext4 -q -F "$T/scratch.ext4"
	qemu_start "$T/qemu-scratch.log" "$T/qfn.ext4" "kindling.scratch=/dev/vdb" \
		-drive id=s,file="$T/scratch.ext4",format=raw,if=none -device virtio-blk-device,drive=s
	qemu_ready "$T/qemu-scratch.log"
	want='warm x "y"
tmp x "y"
/dev/vdb /scratch ext4 rw,noatime'
	call POST /invoke -d ''
	code=$CODE body=$(body)
	call POST /shutdown
	qemu_end
	console=$(tr -d '\r' <"$T/qemu-scratch.log" | grep '^kindling-init: ' | sed -n '/^kindling-init: ready$/q; s/done in [0-9]* ms$/done in N ms/; p')
	want_console='kindling-init: scratch: /dev/vdb mounted on /scratch
kindling-init: running init hook /function/warm (timeout 30 s)
kindling-init: init: warming x "y" in /function
kindling-init: init hook done in N ms'
	if [ "$code" = 200 ] && [ "$body" = "$want" ] && [ "$console" = "$want_console" ] && [ "$rc" = 0 ] &&
		[ "$(img_cat "$T/scratch.ext4" /warm)" = 'warm x "y"' ] && [ "$(img_cat "$T/scratch.ext4" /invoked)" = invoked ]; then
		pass init.qemu_scratch_hook
	else
		fail init.qemu_scratch_hook "invoke $code '$(echo "$body" | tr '\n' '|')', qemu exit $rc; console: $(echo "$console" | tr '\n' '|')"
	fi

	# A read-only root without /scratch: fatal, and the VM powers itself off.
	cp "$T/qfn.ext4" "$T/noscratch.ext4"
	debugfs -w -R "rmdir /scratch" "$T/noscratch.ext4" >/dev/null 2>&1
	qemu_start "$T/qemu-noscratch.log" "$T/noscratch.ext4" "kindling.scratch=/dev/vdb" \
		-drive id=s,file="$T/scratch.ext4",format=raw,if=none -device virtio-blk-device,drive=s
	qemu_end
	if ! img_has "$T/noscratch.ext4" /scratch && [ "$rc" = 0 ] &&
		tr -d '\r' <"$T/qemu-noscratch.log" | grep -qx 'kindling-init: FATAL: kindling.scratch=/dev/vdb: the root filesystem is read-only and has no /scratch to mount it on (guest/mkfunction.sh images have one)' &&
		! grep -q '^kindling-init: ready' "$T/qemu-noscratch.log"; then
		pass init.qemu_scratch_readonly_root
	else
		fail init.qemu_scratch_readonly_root "qemu exit $rc; console: $(grep kindling-init "$T/qemu-noscratch.log" | tail -n 3 | tr '\n' ' ')"
	fi
fi
