#!/usr/bin/env bash
# snapshot_catchup.sh: the leader's snapshot is sent from the stored file mapped into memory rather than a copy in the heap: a learner joining after the log was compacted installs it and holds every key with the leader's values; a follower that missed the compacted writes catches up too; the leader maps its recovered snapshot after a restart.
source "$(dirname "$0")/lib.sh"

export CLUSTER_FLAGS="--snapshot-entries 300 --snapshot-trailing 20"
cluster_start
wait_leader
L=$LEADER
F=$(a_follower)
log "leader n$L; n$F stops and misses 3000 writes"
node_stop "$F"

# 3000 SETs of distinct keys with distinct 300 B values, pipelined; every reply checked.
python3 - <<'PY' | rc "$L" --pipe >"$DIR/load.out" 2>&1 || fail "load: $(tail -n 2 "$DIR/load.out")"
import sys
out = sys.stdout.buffer
for k in range(3000):
    key = b"cu:%05d" % k
    val = (b"%05d-" % k) * 50
    out.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, len(val), val))
PY
grep -q "errors: 0, replies: 3000" "$DIR/load.out" || fail "load: $(tail -n 1 "$DIR/load.out")"
commit=$(info_field "$L" commit_index)
log "leader at commit $commit"

# The leader's snapshot file is mapped (a line of /proc/PID/maps names it), not copied.
mapped() { # i
	grep -c "n$1/snap/snapshot-" "/proc/${PIDS[$1]}/maps" 2>/dev/null || true
}
tries=0
until [ "$(mapped "$L")" -ge 1 ]; do
	tries=$((tries + 1))
	[ $tries -lt $((100 * SLOW)) ] || fail "the leader maps no snapshot file: $(grep -c 'stays in memory' "$DIR/n$L.log") 'stays in memory' lines"
	sleep 0.1
done
log "the leader maps its stored snapshot"

node_start "$F"
wait_up "$F"
wait_applied "$F" "$commit" $((60 * SLOW))
# Whether n$F needed the snapshot depends on timing: the leader's link queues frames for
# an unreachable peer, and appends sent before the compaction may arrive on reconnect.
# A member that joins now has no such frames and must install the snapshot.
node_join "$L" 4 --initial-cluster-client "$(list_of CLIENT)" --initial-cluster-http "$(list_of HTTP)"
wait_up 4
wait_applied 4 "$commit" $((60 * SLOW))
grep -q "installed the leader's snapshot" "$DIR/n4.log" || fail "n4 caught up without a snapshot"
[ "$(mapped 4)" -ge 1 ] || fail "n4 does not map the snapshot it installed"
expect_eq "n$F's key count" "$(rc "$F" DBSIZE)" "$(rc "$L" DBSIZE)"
want=$(python3 -c 'import sys; [print(("%05d-" % k) * 50) for k in (0, 777, 1500, 2222, 2999)]' | md5sum)
keys="cu:00000 cu:00777 cu:01500 cu:02222 cu:02999"
# shellcheck disable=SC2086
expect_eq "values on the leader" "$(rc "$L" MGET $keys | md5sum)" "$want"
# A follower's read is served from its own applied state (after a ReadIndex round).
# shellcheck disable=SC2086
expect_eq "values on n$F" "$(rc "$F" MGET $keys | md5sum)" "$want"
# shellcheck disable=SC2086
expect_eq "values on n4" "$(rc 4 MGET $keys | md5sum)" "$want"

log "the leader restarts: the snapshot it recovers is mapped too"
node_stop "$L"
node_start "$L"
wait_up "$L"
[ "$(mapped "$L")" -ge 1 ] || fail "n$L does not map its recovered snapshot"
wait_leader
# shellcheck disable=SC2086
expect_eq "values after the restart" "$(rc "$L" MGET $keys | md5sum)" "$want"
if grep -h "stays in memory\|does not match the core" "$DIR"/n*.log; then
	fail "a snapshot was not mapped"
fi
log "PASS"
