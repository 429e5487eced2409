#!/usr/bin/env bash
# disk_stall.sh: a hung disk on a real process (/v1/admin/faults/disk, cleared with RESP CONCORD.FAULT DISK): a stalled leader steps down within the bound, a new leader takes writes, the stalled node acknowledges nothing and says so, and it rejoins once the stall clears.
source "$(dirname "$0")/lib.sh"
command -v redis-cli >/dev/null && command -v curl >/dev/null || { echo "redis-cli or curl missing"; exit 77; }

BOUND=1000 # --disk-stall-ms
CLUSTER_FLAGS="--disk-stall-ms $BOUND"
cluster_start
wait_leader
L=$LEADER
log "leader is n$L"
expect_eq "a write before the stall" "$(rc "$L" SET before 1)" OK

metric() { # i name
	hc "$(url "$1" /metrics)" | sed -n "s/^$2 //p"
}
stalls0=$(metric "$L" concord_disk_stalls_total)

log "stall n$L's disk for $((15 * SLOW)) s"
out=$(hc -X PUT -d "{\"stall_ms\": $((15000 * SLOW))}" "$(url "$L" /v1/admin/faults/disk)")
expect_match "stall set" "$out" '"stall_ms_left": [1-9]'
# A write now cannot become durable on n$L; it must not be acknowledged there.
(rc "$L" SET during 1 >"$DIR/during.out" 2>&1) &
WPID=$!

log "n$L steps down within the bound plus a few election timeouts"
t0=$(date +%s)
deadline=$((t0 + 10 * SLOW))
while [ "$(date +%s)" -lt "$deadline" ] && [ "$(info_field "$L" raft_role)" = leader ]; do
	sleep 0.1
done
[ "$(info_field "$L" raft_role)" = leader ] && fail "stalled n$L still leads $((10 * SLOW)) s after its disk stalled"
log "n$L is $(info_field "$L" raft_role) after $(($(date +%s) - t0)) s"
wait_leader
L2=$LEADER
[ "$L2" -ne "$L" ] || fail "the stalled node leads again"
log "new leader n$L2"
expect_eq "a write on the new leader" "$(rc "$L2" SET after 1)" OK
expect_eq "stall counted on n$L" "$(metric "$L" concord_disk_stalls_total)" $((stalls0 + 1))
expect_eq "n$L says stalled" "$(metric "$L" concord_disk_stalled)" 1
grep -q "disk stalled: .*stepping down" "$DIR/n$L.log" || fail "n$L did not log its stall"

log "the stalled node acknowledges nothing: with the third node down, no write commits"
F=0
for i in $(seq 1 "$N"); do [ "$i" -ne "$L" ] && [ "$i" -ne "$L2" ] && F=$i; done
node_stop "$F"
out=$(RC_FLAGS="" timeout 3 redis-cli -h 127.0.0.1 -p "${CLIENT[$L2]##*:}" SET blocked 1 2>&1)
[ "$out" = OK ] && fail "a write was acknowledged by n$L2 with only the stalled n$L as its peer"
log "n$L2 answered '$out' (not acknowledged)"
[ -s "$DIR/during.out" ] && grep -qx OK "$DIR/during.out" && fail "n$L acknowledged a write while stalled"

log "clear the stall: n$L rejoins, the third node restarts, every node has every write"
# Over RESP this time: the fault is the same one.
left=$(rc "$L" CONCORD.FAULT DISK STATUS | head -1)
[ "$left" -gt 0 ] 2>/dev/null || fail "CONCORD.FAULT DISK STATUS on n$L: '$left' ms left, want > 0"
expect_eq "CONCORD.FAULT DISK CLEAR" "$(rc "$L" CONCORD.FAULT DISK CLEAR)" OK
expect_eq "CONCORD.FAULT DISK STATUS after" "$(rc "$L" CONCORD.FAULT DISK STATUS | head -1)" 0
expect_match "HTTP sees it cleared" "$(hc "$(url "$L" /v1/admin/faults/disk)")" '"stall_ms_left": 0'
expect_match "a bad disk fault" "$(rc "$L" CONCORD.FAULT DISK STALL 600001)" "^ERR usage"
node_start "$F"
wait_up "$F"
wait "$WPID" 2>/dev/null
wait_leader
L3=$LEADER
expect_eq "a write after" "$(rc "$L3" SET last 1)" OK
commit=$(info_field "$L3" commit_index)
for i in $(seq 1 "$N"); do
	wait_applied "$i" "$commit"
	out=$(rc "$i" MGET before after last | tr '\n' ' ')
	expect_eq "n$i has the writes" "$out" "1 1 1 "
done
expect_eq "n$L no longer stalled" "$(metric "$L" concord_disk_stalled)" 0
grep -q "disk no longer stalled" "$DIR/n$L.log" || fail "n$L did not log the end of its stall"
log "ok"
