#!/usr/bin/env bash
# snapshot_trailing.sh: the entries kept behind a snapshot stop at a quarter of --snapshot-bytes of commands even when --snapshot-trailing allows more (concord_raft_first_index); a follower that missed the compacted entries still catches up.
source "$(dirname "$0")/lib.sh"

# About 330 B per SET: a quarter of 40,000 bytes is about 30 entries. --snapshot-trailing
# is also capped at --snapshot-entries (100), so without the byte cap 100 entries stay.
export CLUSTER_FLAGS="--snapshot-entries 100 --snapshot-trailing 1000 --snapshot-bytes 40000"
cluster_start
wait_leader
L=$LEADER
F=$(a_follower)
node_stop "$F"
log "leader n$L; n$F stopped; 600 SETs of 300 B"
python3 - <<'PY' | rc "$L" --pipe >"$DIR/load.out" 2>&1 || fail "load: $(tail -n 2 "$DIR/load.out")"
import sys
out = sys.stdout.buffer
for k in range(600):
    key = b"tr:%04d" % k
    val = b"v" * 300
    out.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, len(val), val))
PY
grep -q "errors: 0, replies: 600" "$DIR/load.out" || fail "load: $(tail -n 1 "$DIR/load.out")"
metric() { # i name
	hc "$(url "$1" /metrics)" | awk -v m="$2" '$1 == m {print $2}'
}
# Until the leader has stored a snapshot past index 500 (a job takes a moment).
tries=0
until [ "$(metric "$L" concord_raft_snapshot_index)" -ge 500 ] 2>/dev/null; do
	tries=$((tries + 1))
	[ $tries -lt $((100 * SLOW)) ] || fail "the leader stored no snapshot past 500"
	sleep 0.1
done
snap=$(metric "$L" concord_raft_snapshot_index)
first=$(metric "$L" concord_raft_first_index)
log "leader: snapshot at $snap, log held from $first"
[ $((snap - first)) -le 40 ] ||
	fail "the leader keeps $((snap - first)) entries behind its snapshot, more than a quarter of --snapshot-bytes (about 30)"
[ $((snap - first)) -ge 10 ] || fail "the leader keeps only $((snap - first)) entries behind its snapshot"
commit=$(metric "$L" concord_raft_commit_index)
node_start "$F"
wait_up "$F"
wait_applied "$F" "$commit" $((30 * SLOW))
expect_eq "n$F's key count" "$(rc "$F" DBSIZE)" "$(rc "$L" DBSIZE)"
log "PASS"
