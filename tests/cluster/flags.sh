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
expect 2 "out of range" --max-frame-bytes 10
expect 2 "cannot carry" --max-frame-bytes 2000000 --max-value-bytes 4000000
expect 2 "cannot carry" --max-value-bytes 60000000
expect 2 "" --no-such-flag
exit $fail
