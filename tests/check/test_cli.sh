#!/bin/sh
# test_cli.sh: concord-check's exit codes, messages, and --json/--html/--quiet output.
set -u
bin=$1
dir=$(mktemp -d "${TMPDIR:-/tmp}/concord-check-cli.XXXXXX")
trap 'rm -rf "$dir"' EXIT
failures=0

expect() { # name, wanted exit status, command...
	name=$1 want=$2
	shift 2
	"$@" >"$dir/out" 2>"$dir/err"
	got=$?
	if [ "$got" != "$want" ]; then
		echo "FAIL $name: exit $got, wanted $want"
		cat "$dir/out" "$dir/err"
		failures=$((failures + 1))
	else
		echo "ok   $name"
	fi
}

contains() { # name, file, text
	if ! grep -qF -- "$3" "$2"; then
		echo "FAIL $1: '$3' not in output:"
		cat "$2"
		failures=$((failures + 1))
	fi
}

cat >"$dir/ok.jsonl" <<'H'
{"client":3,"op":"put","key":"k1","value":"v7","expect":null,"result":null,"ok":true,"call":1200,"return":1450}
{"client":1,"op":"get","key":"k1","value":null,"expect":null,"result":"v7","ok":true,"call":1450,"return":1500}
{"client":2,"op":"put","key":"k1","value":"v8","expect":null,"result":null,"ok":"unknown","call":1300,"return":null}
H
cat >"$dir/bad.jsonl" <<'H'
{"client":1,"op":"put","key":"k1","value":"v1","ok":true,"call":0,"return":10}
{"client":1,"op":"put","key":"k1","value":"v2","ok":true,"call":20,"return":30}
{"client":2,"op":"get","key":"k1","result":"v1","ok":true,"call":40,"return":50}
H
printf '%s\n' '{"client":1,"op":"put","key":"k1","value":"v1","ok":true,"call":0,"return":10}' \
	'{"client":1,"op":"get","key":"k1","result":"v1","ok":true,"call":40,"return":30}' >"$dir/backwards.jsonl"
printf '%s\n' '{"client":1,"op":"put","key":"k1","value":"v1","ok":true,"call":0,"return":10}' \
	'{"client":1,"op":"rename","key":"k1","ok":true,"call":40,"return":50}' >"$dir/unknown-op.jsonl"
printf '%s\n' '{"client":1,"op":"put","key":"k1"' >"$dir/malformed.jsonl"
# Twenty unknown appends of 1 to 20 a's, and a read of 300 a's (more than all of them make):
# every subset is a prefix of what it read, so the search exhausts any small budget.
: >"$dir/hard.jsonl"
run=""
for c in a b c d e f g h i j k l m n o p q r s t; do
	run="${run}a"
	echo "{\"client\":1,\"op\":\"append\",\"key\":\"k\",\"value\":\"$run\",\"ok\":\"unknown\",\"call\":0,\"return\":null}" >>"$dir/hard.jsonl"
done
long=$(printf 'a%.0s' $(seq 300))
echo "{\"client\":2,\"op\":\"get\",\"key\":\"k\",\"result\":\"$long\",\"ok\":true,\"call\":5,\"return\":6}" >>"$dir/hard.jsonl"

printf '%s\n' '{"client":1,"op":"put","key":"k","value":"a","ok":true,"call":1,"return":10}' \
	'{"client":1,"op":"get","key":"k","result":null,"ok":true,"call":2,"return":9}' >"$dir/pipelined.jsonl"
expect "client order" 1 "$bin" "$dir/pipelined.jsonl"
contains "client order" "$dir/out" "what is violated is client order"
expect "no client order" 0 "$bin" --no-client-order "$dir/pipelined.jsonl"

expect "linearizable history" 0 "$bin" "$dir/ok.jsonl"
contains "linearizable history" "$dir/out" "linearizable"
expect "not linearizable history" 1 "$bin" "$dir/bad.jsonl"
contains "explanation" "$dir/out" 'it read "v1", but the key holds "v2"'
contains "explanation" "$dir/out" "line 3"
expect "budget runs out" 2 "$bin" --budget-ms 100 "$dir/hard.jsonl"
contains "budget reason" "$dir/out" "time budget of 100 ms ran out"
expect "state budget runs out" 2 "$bin" --budget-states 1000 "$dir/hard.jsonl"
expect "return before call" 3 "$bin" "$dir/backwards.jsonl"
contains "return before call" "$dir/err" "backwards.jsonl:2: return 30 is before call 40"
expect "unknown op" 3 "$bin" "$dir/unknown-op.jsonl"
contains "unknown op" "$dir/err" ':2: unknown op "rename"'
expect "malformed json" 3 "$bin" "$dir/malformed.jsonl"
contains "malformed json" "$dir/err" "malformed.jsonl:1:"
expect "missing file" 3 "$bin" "$dir/nope.jsonl"
expect "no arguments" 3 "$bin"
expect "bad option" 3 "$bin" --frobnicate "$dir/ok.jsonl"
expect "bad budget" 3 "$bin" --budget-ms abc "$dir/ok.jsonl"
expect "help" 0 "$bin" --help
contains "help" "$dir/out" "exit status"
expect "quiet" 1 "$bin" --quiet "$dir/bad.jsonl"
if [ "$(wc -l <"$dir/out")" -ne 1 ]; then
	echo "FAIL quiet: more than one line"
	failures=$((failures + 1))
fi
expect "json" 1 "$bin" --json "$dir/bad.jsonl"
contains "json" "$dir/out" '"verdict":"not linearizable"'
contains "json" "$dir/out" '"stuck":[{"index":2,"line":3'
if command -v python3 >/dev/null 2>&1; then
	if ! python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$dir/out"; then
		echo "FAIL json: not valid JSON"
		failures=$((failures + 1))
	fi
fi
expect "stdin" 0 sh -c "\"$bin\" - <\"$dir/ok.jsonl\""
expect "html" 1 "$bin" --html "$dir/t.html" "$dir/bad.jsonl"
contains "html" "$dir/t.html" "<svg"
contains "html" "$dir/t.html" "cannot be placed"
contains "html" "$dir/t.html" "client 2"
expect "html unwritable" 1 "$bin" --html "$dir/no/such/dir/t.html" "$dir/bad.jsonl"
contains "html unwritable" "$dir/err" "cannot write"

if [ "$failures" -ne 0 ]; then
	echo "$failures failures"
	exit 1
fi
echo "all passed"
