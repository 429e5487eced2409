#!/usr/bin/env bash
# flags.sh: concord refuses bad command lines with a clear message and exit status 2,
# before it touches any data directory; --help documents the limits.
set -uo pipefail
: "${CONCORD:?set CONCORD to the concord binary}"
fail=0
expect() { # status pattern args...
	local want=$1 pattern=$2 out rc
	shift 2
	out=$("$CONCORD" "$@" 2>&1 </dev/null)
	rc=$?
	if [ "$rc" != "$want" ] || ! grep -q -- "$pattern" <<<"$out"; then
		echo "FAIL: concord $* -> status $rc (want $want), output: $out"
		fail=1
	fi
}
expect 0 "--max-frame-bytes" --help

# --help: each flag's description (its line and the indented lines under it) names
# at most one default, and the right one: a flag's default must not drift under its
# neighbour.
help_blocks() { # one line per flag: "--flag<TAB>its whole description"
	awk '/^  --/ { if (f) print f "\t" d; f = $1; $1 = ""; d = $0; next }
	     /^       +[^ ]/ && f { d = d " " $0; next }
	     { if (f) print f "\t" d; f = "" }
	     END { if (f) print f "\t" d }'
}
blocks=$("$CONCORD" --help 2>&1 | help_blocks)
while IFS=$'\t' read -r flag desc; do
	n=$(grep -o "(default" <<<"$desc" | wc -l)
	if [ "$n" -gt 1 ]; then
		echo "FAIL: --help: $flag names $n defaults: $desc"
		fail=1
	fi
done <<<"$blocks"
default_is() { # flag text: the flag's description contains text
	local desc
	desc=$(awk -F'\t' -v f="$1" '$1 == f { print $2 }' <<<"$blocks" | tr -s ' ')
	if ! grep -qF -- "$2" <<<"$desc"; then
		echo "FAIL: --help: $1 should say \"$2\": $desc"
		fail=1
	fi
}
default_is --snapshot-entries "(default 10000000)"
default_is --snapshot-bytes "(default 67108864; 0: entries only)"
default_is --snapshot-trailing "(default 10000; no more than a quarter of --snapshot-bytes of commands)"
default_is --wal-segment-bytes "(default 67108864; at least 4096)"
default_is --tick-ms "(default 50)"
default_is --election-ticks "(default 10)"
default_is --heartbeat-ticks "(default 2)"
default_is --request-timeout-ms "(default 5000)"
default_is --max-key-bytes "(default 4096, at most 65536)"
default_is --max-value-bytes "(default 1048576, at most 67108864)"
default_is --max-keys-per-command "(default 1024)"
default_is --max-frame-bytes "(default 16777216, from 1024 to 1073741824)"
default_is --max-clients "(default 4096)"
default_is --relay-reserve "(default 64)"
default_is --client-idle-timeout "(default 300; 0: never)"
default_is --client-read-timeout "(default 30; 0: never)"
default_is --log-level "info (default)"
if grep -q "entries only" <<<"$(awk -F'\t' '$1 == "--wal-segment-bytes"' <<<"$blocks")"; then
	echo "FAIL: --help: --wal-segment-bytes carries --snapshot-bytes's default"
	fail=1
fi
expect 2 "out of range" --max-frame-bytes 10
expect 2 "cannot carry" --max-frame-bytes 2000000 --max-value-bytes 4000000
expect 2 "cannot carry" --max-value-bytes 60000000
expect 2 "" --no-such-flag
exit $fail
