#!/usr/bin/env bash
# membership.sh: a fourth node joins with --join after CONCORD.MEMBER ADD, catches up as a learner, is promoted, serves; then a member is removed and the cluster keeps committing.
source "$(dirname "$0")/lib.sh"
command -v redis-cli >/dev/null || { echo "redis-cli missing"; exit 77; }

cluster_start
wait_leader
L=$LEADER
log "leader is n$L"
out=$(for i in $(seq 1 50); do printf 'SET mk%d v%d\r\n' "$i" "$i"; done | rc "$L" --pipe 2>&1)
expect_match "50 writes" "$out" "errors: 0, replies: 50"

log "adding n4 as a learner"
node_join "$L" 4 --initial-cluster-client "$(list_of CLIENT)" --initial-cluster-http "$(list_of HTTP)"
N=4
wait_up 4
wait_applied 4 "$(info_field "$L" commit_index)"
expect_eq "n4 is a learner" "$(info_field 4 raft_role)" learner
expect_match "n4 in the status" "$(rc "$L" CONCORD.STATUS)" '"id":4,"name":"n4","role":"learner","voter":false'

log "promoting n4"
tries=0
while :; do
	out=$(rc "$L" CONCORD.MEMBER PROMOTE 4)
	[ "$out" = OK ] && break
	tries=$((tries + 1))
	[ $tries -lt $((50 * SLOW)) ] || fail "PROMOTE: $out"
	sleep 0.2
done
tries=0
until rc "$L" CONCORD.STATUS | grep -q '"id":4,"name":"n4","role":"follower","voter":true'; do
	tries=$((tries + 1))
	[ $tries -lt $((100 * SLOW)) ] || fail "n4 never became a voter: $(rc "$L" CONCORD.STATUS)"
	sleep 0.1
done
expect_eq "write via n4" "$(rc 4 SET from4 yes)" OK
expect_eq "read via n4" "$(rc 4 GET mk50)" v50

log "admin refusals name their reason"
expect_eq "TRANSFER to the leader" "$(rc "$L" CONCORD.TRANSFER "$L")" "OK already the leader"
expect_eq "TRANSFER via a follower" "$(rc 4 CONCORD.TRANSFER "$L")" "OK already the leader"
expect_eq "TRANSFER to no member" "$(rc "$L" CONCORD.TRANSFER 7)" "ERR no such member 7"
expect_eq "PROMOTE a voter" "$(rc "$L" CONCORD.MEMBER PROMOTE 4)" "ERR member 4 is already a voter"
expect_eq "PROMOTE no member" "$(rc "$L" CONCORD.MEMBER PROMOTE 9)" "ERR no such member 9"
expect_eq "REMOVE no member" "$(rc "$L" CONCORD.MEMBER REMOVE 9)" "ERR no such member 9"
expect_eq "ADD a member" "$(rc "$L" CONCORD.MEMBER ADD 4 n4 "${PEER[4]}" "" "")" "ERR 4 is already a member"
if command -v curl >/dev/null; then
	out=$(hc -w ' %{http_code}' -X POST -d "{\"to\": $L}" "$(url "$L" /v1/admin/transfer)")
	expect_match "HTTP transfer to the leader" "$out" '"note": *"already the leader".* 200$'
	out=$(hc -w ' %{http_code}' -X POST -d '{"to": 7}' "$(url "$L" /v1/admin/transfer)")
	expect_match "HTTP transfer to no member" "$out" 'no such member 7.* 404$'
	out=$(hc -w ' %{http_code}' -X DELETE "$(url "$L" /v1/members/9)")
	expect_match "HTTP remove no member" "$out" 'no such member 9.* 404$'
	out=$(hc -w ' %{http_code}' -X POST "$(url "$L" /v1/members/4/promote)")
	expect_match "HTTP promote a voter" "$out" 'already a voter.* 409$'
fi

R=$((L == 3 ? 2 : 3))
log "removing n$R"
tries=0
while :; do
	out=$(rc "$L" CONCORD.MEMBER REMOVE "$R")
	[ "$out" = OK ] && break
	tries=$((tries + 1))
	[ $tries -lt $((50 * SLOW)) ] || fail "REMOVE: $out"
	sleep 0.2
done
tries=0
while rc "$L" CONCORD.STATUS | grep -q "\"id\":$R,"; do
	tries=$((tries + 1))
	[ $tries -lt $((100 * SLOW)) ] || fail "n$R is still a member"
	sleep 0.1
done
node_wait_removed "$R"
expect_eq "write after the removal" "$(rc "$L" INCR after)" 1
expect_eq "read on n4" "$(rc 4 GET after)" 1
for i in 1 2 3 4; do node_stop "$i"; done
log "PASS"
