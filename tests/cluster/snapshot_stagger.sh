#!/usr/bin/env bash
# snapshot_stagger.sh: members written at the same pace snapshot at different indexes (--snapshot-bytes, raised by an eighth per member), and by bytes with the default entry count.
source "$(dirname "$0")/lib.sh"
command -v redis-benchmark >/dev/null || { echo "redis-benchmark missing"; exit 77; }

# 200,000 bytes of commands: member 1 snapshots every ~200 KB, 2 every ~225 KB, 3 every ~250 KB.
export CLUSTER_FLAGS="--snapshot-bytes 200000 --snapshot-trailing 100"
cluster_start
wait_leader
L=$LEADER
PORT=${CLIENT[$L]##*:}
log "leader n$L: 3000 SETs of 256 B"
timeout $((60 * SLOW)) redis-benchmark -h 127.0.0.1 -p "$PORT" -t set -d 256 -r 100000 -n 3000 \
	-c 8 -q >/dev/null 2>&1 || fail "redis-benchmark failed"

first_snapshot() { # i: the index of the member's first snapshot, or nothing
	sed -n 's/.*snapshot at index \([0-9]*\) .*stored.*/\1/p' "$DIR/n$1.log" | head -n 1
}
declare -a FIRST=()
for i in 1 2 3; do
	tries=0
	until [ -n "$(first_snapshot "$i")" ]; do
		tries=$((tries + 1))
		[ $tries -lt $((100 * SLOW)) ] || fail "n$i took no snapshot"
		sleep 0.1
	done
	FIRST[$i]=$(first_snapshot "$i")
	log "n$i: first snapshot at index ${FIRST[$i]}"
done
# The entries are the same on every member, so the byte thresholds order the indexes.
[ "${FIRST[1]}" -lt "${FIRST[2]}" ] || fail "n1 (${FIRST[1]}) not before n2 (${FIRST[2]})"
[ "${FIRST[2]}" -lt "${FIRST[3]}" ] || fail "n2 (${FIRST[2]}) not before n3 (${FIRST[3]})"
# An eighth of ~700 entries apart: not a coincidence of batching.
[ $((FIRST[3] - FIRST[1])) -ge 100 ] || fail "n1 and n3 only $((FIRST[3] - FIRST[1])) entries apart"
log "PASS"
