#!/usr/bin/env bash
# test_ctl.sh: concordctl against a fake node: every command's output and exit code, usage errors, an unreachable cluster.
# Usage: test_ctl.sh CONCORDCTL FAKE_NODE
set -uo pipefail
ctl=$1
fake=$2
tmp=$(mktemp -d)
fake_pid=
cleanup() {
	exec 3>&- 2>/dev/null
	if [ -n "$fake_pid" ]; then
		kill "$fake_pid" 2>/dev/null
		wait "$fake_pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

# The fake node serves until its stdin (a fifo we hold open) closes.
mkfifo "$tmp/in"
"$fake" <"$tmp/in" >"$tmp/port" &
fake_pid=$!
exec 3>"$tmp/in"
for _ in $(seq 100); do
	[ -s "$tmp/port" ] && break
	sleep 0.05
done
port=$(head -n1 "$tmp/port")
[ -n "$port" ] || { echo "FAIL: the fake node did not start"; exit 1; }
ep="127.0.0.1:$port"

failures=0
# expect CODE PATTERN -- ARGS...: runs concordctl, checks the exit code and that the
# output (stdout and stderr) matches the extended regex PATTERN ('' matches anything).
expect() {
	local want=$1 pattern=$2
	shift 3
	local out code
	out=$("$ctl" "$@" 2>&1)
	code=$?
	if [ "$code" != "$want" ]; then
		echo "FAIL: concordctl $* exited $code, expected $want; output: $out"
		failures=$((failures + 1))
	elif [ -n "$pattern" ] && ! grep -Eq -- "$pattern" <<<"$out"; then
		echo "FAIL: concordctl $*: output does not match /$pattern/: $out"
		failures=$((failures + 1))
	else
		echo "ok: concordctl $* -> $code"
	fi
}

E=(--endpoints "$ep" --timeout-ms 3000)
expect 0 '^OK$' -- "${E[@]}" put greeting hello
expect 0 '^hello$' -- "${E[@]}" get greeting
expect 0 '^OK$' -- "${E[@]}" put 'key with spaces' 'a value'
expect 0 '^a value$' -- "${E[@]}" get 'key with spaces'
expect 1 'not found' -- "${E[@]}" get missing
expect 0 '^deleted$' -- "${E[@]}" del greeting
expect 1 'not found' -- "${E[@]}" del greeting
expect 0 '' -- "${E[@]}" put user/1 ann
expect 0 '' -- "${E[@]}" put user/2 bob
expect 0 '' -- "${E[@]}" put other x
expect 0 $'^user/1\tann\nuser/2\tbob$' -- "${E[@]}" scan user/
expect 0 $'^user/1\nuser/2$' -- "${E[@]}" scan user/ --keys-only
expect 0 '^other' -- "${E[@]}" scan
expect 0 '^5$' -- "${E[@]}" incr counter 5
expect 0 '^6$' -- "${E[@]}" incr counter
expect 1 'value differs' -- "${E[@]}" cas other y z
expect 0 '^OK$' -- "${E[@]}" cas other x y
expect 0 'leader 1, term 3' -- "${E[@]}" status
expect 0 'n1 +leader +voter +3 +9 +9 +9' -- "${E[@]}" status
expect 0 'n2 +down\? +learner' -- "${E[@]}" status
expect 0 '"cluster_id": "fake"' -- "${E[@]}" status --json
expect 0 'n2 +learner' -- "${E[@]}" members
expect 0 'added 6' -- "${E[@]}" members add 6 n6 127.0.0.1:7006 127.0.0.1:6006 127.0.0.1:8006
expect 0 'promoted 6' -- "${E[@]}" members promote 6
expect 0 'removed 2' -- "${E[@]}" members remove 2
expect 0 'transfer to 2' -- "${E[@]}" transfer 2
expect 0 'stepped down' -- "${E[@]}" step-down
expect 0 'faults set on the links to \*' -- "${E[@]}" faults set '*' --drop 0.01 --delay-req 50 --delay-req-p 0.05
expect 0 'faults set on the link to 3' -- "${E[@]}" faults set 3 --block-out --block-in
expect 0 'faults cleared' -- "${E[@]}" faults clear '*'

# Usage errors: exit 2, and a message.
expect 2 'no command' -- "${E[@]}"
expect 2 'unknown command' -- "${E[@]}" frobnicate
expect 2 'missing arguments' -- "${E[@]}" put onlykey
expect 2 'too many arguments' -- "${E[@]}" get a b c
expect 2 'too many arguments' -- "${E[@]}" del a b c
expect 2 'unknown option' -- "${E[@]}" get a --bogus
expect 2 'a key is needed' -- "${E[@]}" get --prefix
expect 2 'one of END, --prefix, --from-key' -- "${E[@]}" get a b --prefix
expect 2 'not a number|between|--limit' -- "${E[@]}" get a --prefix --limit x
expect 2 'missing arguments|too many arguments' -- "${E[@]}" txn extra
expect 2 'not a probability' -- "${E[@]}" faults set '*' --drop 2
expect 2 'unknown option' -- "${E[@]}" faults set '*' --explode 1
expect 2 'needs a value' -- "${E[@]}" faults set '*' --drop
expect 2 'not a number' -- "${E[@]}" faults set x
expect 2 'not a number' -- "${E[@]}" transfer abc
expect 2 'unknown subcommand' -- "${E[@]}" members frob
expect 2 'not a number' -- --timeout-ms abc get k
expect 2 'endpoints' -- --endpoints 'nonsense' get k
expect 0 'Usage: concordctl' -- --help
expect 2 '' -- --bogus-option get k

# Nothing listens on port 1: unavailable, within the timeout.
start=$(date +%s%N)
expect 3 'unavailable' -- --endpoints 127.0.0.1:1 --timeout-ms 300 get k
spent_ms=$((($(date +%s%N) - start) / 1000000))
if [ "$spent_ms" -gt 3000 ]; then
	echo "FAIL: an unreachable cluster took ${spent_ms} ms to report"
	failures=$((failures + 1))
fi
expect 3 'unavailable' -- --endpoints 127.0.0.1:1 --timeout-ms 300 faults clear '*'
# The environment names the endpoints when the flag does not.
CONCORD_ENDPOINTS=$ep expect 0 '^6$' -- get counter

if [ "$failures" -ne 0 ]; then
	echo "$failures check(s) failed"
	exit 1
fi
echo "all concordctl checks passed"
