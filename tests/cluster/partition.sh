#!/usr/bin/env bash
# partition.sh: the leader cut off both ways through the admin APIs (HTTP, then RESP) cannot commit; the majority elects another leader and serves; after healing the minority converges and its uncommitted write is gone.
source "$(dirname "$0")/lib.sh"
command -v redis-cli >/dev/null && command -v curl >/dev/null || { echo "redis-cli or curl missing"; exit 77; }

cluster_start
wait_leader
M=$LEADER # the future minority: the current leader
log "leader is n$M; isolating it both ways through PUT /v1/admin/faults"
expect_eq "write before" "$(rc "$M" SET before 1)" OK
for j in 1 2 3; do
	[ "$j" -eq "$M" ] && continue
	out=$(hc -X PUT -H 'Content-Type: application/json' \
		-d "{\"to\": $j, \"block_outbound\": true, \"block_inbound\": true}" "$(url "$M" /v1/admin/faults)")
	expect_eq "fault on n$M -> n$j" "$out" "{}"
done
expect_match "faults listed" "$(hc "$(url "$M" /v1/admin/faults)")" '"block_outbound":true'

log "a write on the isolated n$M cannot commit"
out=$(rc "$M" SET minority x)
expect_match "minority write" "$out" '^(UNKNOWN|CLUSTERDOWN)'
log "  n$M answered: $out"

log "the majority elects a leader and serves"
deadline=$(($(date +%s) + 20 * SLOW))
NL=0
while [ "$(date +%s)" -lt "$deadline" ]; do
	for j in 1 2 3; do
		[ "$j" -eq "$M" ] && continue
		if [ "$(info_field "$j" raft_role)" = leader ]; then NL=$j; fi
	done
	[ "$NL" -ne 0 ] && break
	sleep 0.1
done
[ "$NL" -ne 0 ] || fail "the majority elected no leader"
log "majority leader n$NL"
expect_eq "majority write" "$(rc "$NL" SET majority y)" OK
O=$((6 - M - NL)) # the third node
expect_eq "majority write via n$O" "$(rc "$O" INCR mcount)" 1
expect_eq "majority read" "$(rc "$O" GET majority)" y

log "the isolated n$M gave up leadership (check-quorum) and still cannot commit"
tries=0
while [ "$(info_field "$M" raft_role)" = leader ] && [ $tries -lt $((100 * SLOW)) ]; do
	sleep 0.1
	tries=$((tries + 1))
done
expect_match "n$M role" "$(info_field "$M" raft_role)" '^(follower|candidate)$'
out=$(rc "$M" SET minority2 x)
expect_match "second minority write" "$out" '^(UNKNOWN|CLUSTERDOWN)'
expect_eq "minority local view has no majority write" \
	"$(hc -o /dev/null -w '%{http_code}' "$(url "$M" '/v1/kv/majority?serializable=1')")" 404

log "heal with CONCORD.FAULT CLEAR * on n$M"
expect_eq "clear" "$(rc "$M" CONCORD.FAULT CLEAR '*')" OK
wait_leader
commit=$(info_field "$LEADER" commit_index)
wait_applied "$M" "$commit"
expect_match "n$M caught up" "$(hc "$(url "$M" '/v1/kv/majority?serializable=1')")" '"value":"y"'
expect_eq "the minority's write never happened" "$(rc "$LEADER" EXISTS minority minority2)" 0
expect_eq "earlier write kept" "$(rc "$LEADER" GET before)" 1

log "a one-way partition through CONCORD.FAULT SET on a follower, then cleared"
F=$(a_follower)
expect_eq "fault set" "$(rc "$F" CONCORD.FAULT SET '*' block-out 1 drop 0.5 delay-req 10)" OK
expect_eq "write with a follower cut off" "$(rc "$LEADER" SET oneway 1)" OK
expect_eq "fault clear" "$(rc "$F" CONCORD.FAULT CLEAR '*')" OK
commit=$(info_field "$LEADER" commit_index)
wait_applied "$F" "$commit"
for i in 1 2 3; do node_stop "$i"; done
log "PASS"
