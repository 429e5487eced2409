#!/usr/bin/env bash
# txn_moved.sh: --resp-follower moved: a follower answers MULTI and WATCH with -MOVED, and what a client sends after such a MULTI is queued and aborted by EXEC, never run one by one; redis-cli -c follows the redirect to the leader.
source "$(dirname "$0")/lib.sh"

command -v redis-cli >/dev/null || { echo "redis-cli missing (scripts/deps.sh)"; exit 77; }

CLUSTER_FLAGS="--resp-follower moved"
cluster_start
wait_leader
L=$LEADER
F=$((L == 1 ? 2 : 1))
for i in 1 2 3; do wait_up "$i"; done
LADDR=${CLIENT[$L]}

# One connection: the lines of stdin in order, one reply per line.
session() { # i
	rc "$1" --no-raw
}

log "MULTI on follower n$F"
out=$(printf 'MULTI\nSET mk v\nINCR mn\nEXEC\n' | session "$F") || fail "redis-cli: $out"
expect_match "MULTI" "$(sed -n 1p <<<"$out")" "MOVED [0-9]+ $LADDR"
expect_eq "SET" "$(sed -n 2p <<<"$out")" "QUEUED"
expect_eq "INCR" "$(sed -n 3p <<<"$out")" "QUEUED"
expect_match "EXEC" "$(sed -n 4p <<<"$out")" "^\(error\) EXECABORT"
expect_eq "mk on the leader" "$(rc "$L" EXISTS mk mn)" "0"

log "DISCARD ends it: commands are redirected one by one again"
out=$(printf 'MULTI\nSET mk v\nDISCARD\nSET mk v\n' | session "$F") || fail "redis-cli: $out"
expect_eq "DISCARD" "$(sed -n 3p <<<"$out")" "OK"
expect_match "SET after DISCARD" "$(sed -n 4p <<<"$out")" "MOVED [0-9]+ $LADDR"
expect_eq "mk on the leader" "$(rc "$L" EXISTS mk)" "0"

log "WATCH on the follower"
out=$(printf 'WATCH mk\nMULTI\nSET mk v\nEXEC\n' | session "$F") || fail "redis-cli: $out"
expect_match "WATCH" "$(sed -n 1p <<<"$out")" "MOVED [0-9]+ $LADDR"
expect_match "MULTI" "$(sed -n 2p <<<"$out")" "MOVED [0-9]+ $LADDR"
expect_eq "SET" "$(sed -n 3p <<<"$out")" "QUEUED"
expect_match "EXEC" "$(sed -n 4p <<<"$out")" "EXECABORT"
expect_eq "mk on the leader" "$(rc "$L" EXISTS mk)" "0"

log "redis-cli -c follows MULTI's -MOVED: the transaction runs on the leader"
out=$(printf 'MULTI\nSET mc 1\nINCR mc\nEXEC\n' | rc "$F" -c --no-raw) || fail "redis-cli -c: $out"
expect_match "EXEC" "$(tr '\n' ' ' <<<"$out")" "OK QUEUED QUEUED 1\) OK 2\) \(integer\) 2"
expect_eq "mc on the leader" "$(rc "$L" GET mc)" "2"

log "the leader serves MULTI itself"
out=$(printf 'MULTI\nSET ml 1\nEXEC\n' | session "$L") || fail "redis-cli: $out"
expect_eq "leader" "$(tr '\n' ' ' <<<"$out")" "OK QUEUED 1) OK "
log "pass"
