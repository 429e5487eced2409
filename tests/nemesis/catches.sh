#!/usr/bin/env bash
# catches.sh: the nemesis must fail a cluster that breaks linearizability on purpose.
#
# Every node runs with --stale-reads (reads from each node's local state, no ReadIndex),
# under leader partitions and pauses. The harness must end with exit status 1 and the
# checker's verdict "NOT linearizable": this proves the path from the clients' history
# to the verdict can fail, not only pass.
# Usage: catches.sh NEMESIS CONCORD CONCORD_WAL DIR SLOW
set -uo pipefail
nemesis=$1 concord=$2 wal=$3 dir=$4 slow=$5
out=$("$nemesis" --seed 3 --duration 15 --clients 5 --deadline-ms 1000 --no-disks \
	--faults partition-leader,pause-leader --hold 1500:3000 --quiet 500:1000 \
	--slow "$slow" --dir "$dir" --concord "$concord" --concord-wal "$wal" \
	--concord-arg=--stale-reads 2>&1)
rc=$?
echo "$out" | tail -n 30
if [ "$rc" -ne 1 ]; then
	echo "FAIL: the nemesis exited $rc with stale reads on every node; expected 1"
	exit 1
fi
if ! grep -q "checker: NOT linearizable" <<<"$out"; then
	echo "FAIL: the nemesis failed, but not on linearizability"
	exit 1
fi
echo "ok: stale reads were caught"
