#!/usr/bin/env bash
# failover.sh: kill -9 the leader: a new one is elected, every acknowledged write survives, a session write retried across the change applies once, the old leader catches up, and a full SIGTERM restart keeps everything.
source "$(dirname "$0")/lib.sh"
command -v redis-cli >/dev/null && command -v curl >/dev/null || { echo "redis-cli or curl missing"; exit 77; }

cluster_start
wait_leader
L=$LEADER
log "leader is n$L"

# 60 writes in one pipeline: each OK is an acknowledgement (fsynced on a quorum).
out=$(for i in $(seq 1 60); do printf 'SET fk%d v%d\r\nINCR counter\r\n' "$i" "$i"; done | rc "$L" --pipe 2>&1)
expect_match "60 SETs and 60 INCRs acknowledged" "$out" "errors: 0, replies: 120"
acked=60

log "exactly-once: a session write, acknowledged before the crash"
sid=$(rc "$L" CONCORD.SESSION)
expect_match "session id" "$sid" '^[0-9]+$'
expect_eq "EXEC 1" "$(rc "$L" CONCORD.EXEC "$sid" 1 INCR once)" 1
expect_eq "EXEC 2" "$(rc "$L" CONCORD.EXEC "$sid" 2 APPEND log a)" 1

log "kill -9 n$L"
node_kill9 "$L"
wait_leader
L2=$LEADER
[ "$L2" -ne "$L" ] || fail "the killed node is still the leader"
log "new leader n$L2 (term $(info_field "$L2" raft_term))"

log "every acknowledged write is there"
keys=$(for i in $(seq 1 $acked); do printf 'fk%d ' "$i"; done)
# shellcheck disable=SC2086
vals=$(rc "$L2" MGET $keys | tr '\n' ' ')
want=$(for i in $(seq 1 $acked); do printf 'v%d ' "$i"; done)
expect_eq "MGET after failover" "$vals" "$want"
expect_eq "counter" "$(rc "$L2" GET counter)" 60

log "the session write retried on the new leader (and through a follower) applies once"
F=$(a_follower)
expect_eq "EXEC 2 retried on n$L2" "$(rc "$L2" CONCORD.EXEC "$sid" 2 APPEND log a)" 1
expect_eq "EXEC 2 retried via n$F" "$(rc "$F" CONCORD.EXEC "$sid" 2 APPEND log a)" 1
expect_eq "EXEC 1 retried" "$(rc "$L2" CONCORD.EXEC "$sid" 1 INCR once)" "STALE sequence 1 is older than the last one session $sid applied"
expect_eq "once" "$(rc "$L2" GET once)" 1
expect_eq "log" "$(rc "$L2" GET log)" a
expect_eq "EXEC 3" "$(rc "$F" CONCORD.EXEC "$sid" 3 INCR once)" 2

log "writes continue on the new leader"
out=$(for i in $(seq 61 80); do printf 'SET fk%d v%d\r\n' "$i" "$i"; done | rc "$F" --pipe 2>&1)
expect_match "20 more via n$F" "$out" "errors: 0, replies: 20"
acked=80
commit=$(info_field "$L2" commit_index)

log "n$L restarts and catches up"
node_start "$L"
wait_up "$L"
wait_applied "$L" "$commit"
out=$(hc "$(url "$L" '/v1/kv/fk80?serializable=1')")
expect_match "local read on the restarted n$L" "$out" '"value":"v80"'
wait_leader

log "SIGTERM every node, restart, data intact"
for i in 1 2 3; do node_stop "$i"; done
for i in 1 2 3; do node_start "$i"; done
wait_leader
log "leader after restart: n$LEADER"
keys=$(for i in $(seq 1 $acked); do printf 'fk%d ' "$i"; done)
want=$(for i in $(seq 1 $acked); do printf 'v%d ' "$i"; done)
# shellcheck disable=SC2086
expect_eq "MGET after restart" "$(rc "$LEADER" MGET $keys | tr '\n' ' ')" "$want"
expect_eq "counter after restart" "$(rc "$LEADER" GET counter)" 60
expect_eq "once after restart" "$(rc "$LEADER" GET once)" 2
expect_eq "session survives restart" "$(rc "$LEADER" CONCORD.EXEC "$sid" 3 INCR once)" 2
for i in 1 2 3; do node_stop "$i"; done
log "PASS"
