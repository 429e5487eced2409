#!/bin/sh
# client_order.sh: concord-check must reject a pipeline that read stale data.
#
# The histories are what the nemesis's pipelining clients write (tools/nemesis/workload.c):
# one batch is one `client`, its operations overlap, and their calls are in the order the
# commands were sent. A server that applies one connection's commands in order cannot
# answer "absent" to a GET sent after a SET on the same connection: the checker's client
# order rule (completed operations of one client take effect in call order, per key;
# "unknown" ones exempt) must say NOT linearizable. The same operations split between two
# clients are linearizable (the GET may go first), which shows it is that rule alone that
# catches them; an unknown write stays exempt.
# Usage: client_order.sh CONCORD_CHECK
set -u
bin=$1
dir=$(mktemp -d "${TMPDIR:-/tmp}/concord-client-order.XXXXXX")
trap 'rm -rf "$dir"' EXIT
failures=0

expect() { # name, wanted exit status, history file
	"$bin" "$3" >"$dir/out" 2>&1
	got=$?
	if [ "$got" != "$2" ]; then
		echo "FAIL $1: concord-check exited $got, wanted $2"
		cat "$dir/out"
		failures=$((failures + 1))
	else
		echo "ok   $1"
	fi
}

# A batch: SET k0.0 4-1, then GET k0.0, written together; the GET answered "absent".
cat >"$dir/stale-get.jsonl" <<'H'
{"client":4,"op":"put","key":"k0.0","value":"4-1,","expect":null,"result":null,"ok":true,"call":1000,"return":5000}
{"client":4,"op":"get","key":"k0.0","value":null,"expect":null,"result":null,"ok":true,"call":1001,"return":5001}
H
# A batch: SET, APPEND, GET that saw the SET but not the APPEND before it.
cat >"$dir/stale-append.jsonl" <<'H'
{"client":5,"op":"put","key":"k3.1","value":"5-7,","expect":null,"result":null,"ok":true,"call":2000,"return":6000}
{"client":5,"op":"append","key":"k3.1","value":"5-8,","expect":null,"result":null,"ok":true,"call":2001,"return":6001}
{"client":5,"op":"get","key":"k3.1","value":null,"expect":null,"result":"5-7,","ok":true,"call":2002,"return":6002}
H
# A batch: DEL, then a CAS that swapped a value the DEL had removed.
cat >"$dir/stale-cas.jsonl" <<'H'
{"client":2,"op":"put","key":"k1.0","value":"1-1,","expect":null,"result":null,"ok":true,"call":100,"return":200}
{"client":4,"op":"delete","key":"k1.0","value":null,"expect":null,"result":true,"ok":true,"call":1000,"return":5000}
{"client":4,"op":"cas","key":"k1.0","value":"4-2,","expect":"1-1,","result":null,"ok":true,"call":1001,"return":5001}
H
# Controls. The first batch split between two clients: the GET may take effect first.
sed 's/"client":4,"op":"get"/"client":3,"op":"get"/' "$dir/stale-get.jsonl" >"$dir/two-clients.jsonl"
# The SET timed out (unknown): exempt from the order, it may take effect after the GET.
sed 's/"ok":true,"call":1000,"return":5000/"ok":"unknown","call":1000,"return":null/' \
	"$dir/stale-get.jsonl" >"$dir/unknown-set.jsonl"
# A batch that read its own writes, in order.
cat >"$dir/in-order.jsonl" <<'H'
{"client":4,"op":"put","key":"k0.0","value":"4-1,","expect":null,"result":null,"ok":true,"call":1000,"return":5000}
{"client":4,"op":"get","key":"k0.0","value":null,"expect":null,"result":"4-1,","ok":true,"call":1001,"return":5001}
{"client":4,"op":"append","key":"k0.0","value":"4-2,","expect":null,"result":null,"ok":true,"call":1002,"return":5002}
{"client":4,"op":"cas","key":"k0.0","value":"4-3,","expect":"4-1,4-2,","result":null,"ok":true,"call":1003,"return":5003}
{"client":4,"op":"cas","key":"k0.0","value":"4-4,","expect":"4-1,","result":null,"ok":false,"call":1004,"return":5004}
{"client":4,"op":"get","key":"k0.0","value":null,"expect":null,"result":"4-3,","ok":true,"call":1005,"return":5005}
H

expect "two clients, stale order allowed" 0 "$dir/two-clients.jsonl"
expect "unknown write exempt from the order" 0 "$dir/unknown-set.jsonl"
expect "a pipeline read its own writes" 0 "$dir/in-order.jsonl"
expect "pipelined GET missed the SET before it" 1 "$dir/stale-get.jsonl"
expect "pipelined GET missed the APPEND before it" 1 "$dir/stale-append.jsonl"
expect "pipelined CAS saw a value the DEL before it removed" 1 "$dir/stale-cas.jsonl"

if [ "$failures" -ne 0 ]; then
	echo "$failures failed"
	if [ "$failures" -eq 3 ] && grep -q '^linearizable' "$dir/out"; then
		echo "(every stale pipeline was accepted: this concord-check has no client-order rule)"
	fi
	exit 1
fi
echo "ok: the checker holds a pipelining client to the order of its calls"
