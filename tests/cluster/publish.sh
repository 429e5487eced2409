#!/usr/bin/env bash
# publish.sh: 3 nodes started without --initial-cluster-client/-http: the leader publishes its own addresses in the replicated address book, so a write through a follower succeeds.
source "$(dirname "$0")/lib.sh"
command -v redis-cli >/dev/null || { echo "redis-cli missing"; exit 77; }

cluster_addresses
for i in $(seq 1 "$N"); do
	"$CONCORD" --name "n$i" --data-dir "$DIR/n$i" --cluster-id "test-$TEST_NAME" \
		--initial-cluster "$(list_of PEER)" --listen-client "${CLIENT[$i]}" \
		--listen-http "${HTTP[$i]}" \
		--tick-ms 25 --election-ticks $((20 * SLOW)) --heartbeat-ticks 2 \
		--request-timeout-ms $((3000 * SLOW)) >>"$DIR/n$i.log" 2>&1 &
	PIDS[$i]=$!
done
wait_leader
L=$LEADER
F=$(a_follower)
for i in 1 2 3; do wait_up "$i"; done
log "leader n$L, writing through n$F"
tries=0
until [ "$(rc "$F" SET via-follower yes 2>&1)" = OK ]; do
	tries=$((tries + 1))
	[ $tries -lt $((50 * SLOW)) ] || fail "write via n$F: $(rc "$F" SET via-follower yes 2>&1)"
	sleep 0.2
done
expect_eq "read via n$F" "$(rc "$F" GET via-follower)" yes
expect_match "n$F names the leader's client address" "$(info_field "$F" leader_client_addr)" "^${CLIENT[$L]}$"
expect_match "status: the leader's client address" "$(rc "$F" CONCORD.STATUS)" "\"client\": *\"${CLIENT[$L]}\""
log "a follower publishes its own addresses with CONCORD.MEMBER PUBLISH"
expect_eq "PUBLISH" "$(rc "$F" CONCORD.MEMBER PUBLISH "$F" "n$F" "${PEER[$F]}" "${CLIENT[$F]}" "${HTTP[$F]}")" OK
expect_eq "PUBLISH no member" "$(rc "$F" CONCORD.MEMBER PUBLISH 9 n9 "${PEER[$F]}" "" "")" "ERR no such member 9"
tries=0
until rc "$L" CONCORD.STATUS | grep -q "\"client\": *\"${CLIENT[$F]}\""; do
	tries=$((tries + 1))
	[ $tries -lt $((50 * SLOW)) ] || fail "n$F's address never published: $(rc "$L" CONCORD.STATUS)"
	sleep 0.1
done
log "ok"
