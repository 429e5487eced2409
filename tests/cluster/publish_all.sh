#!/usr/bin/env bash
# publish_all.sh: 3 nodes without --initial-cluster-client/-http: every member (followers through the leader) publishes its own addresses, so followers relay to whichever member leads and -MOVED names it, after a leadership transfer too.
source "$(dirname "$0")/lib.sh"

cluster_addresses
for i in $(seq 1 "$N"); do
	extra=""
	[ "$i" -eq 3 ] && extra="--resp-follower moved"
	# shellcheck disable=SC2086
	"$CONCORD" --name "n$i" --data-dir "$DIR/n$i" --cluster-id "test-$TEST_NAME" \
		--initial-cluster "$(list_of PEER)" --listen-client "${CLIENT[$i]}" \
		--listen-http "${HTTP[$i]}" $extra \
		--tick-ms 25 --election-ticks $((20 * SLOW)) --heartbeat-ticks 2 \
		--request-timeout-ms $((3000 * SLOW)) >>"$DIR/n$i.log" 2>&1 &
	PIDS[$i]=$!
done
wait_leader
for i in 1 2 3; do wait_up "$i"; done

# Every member's record reaches every member's address book, no operator involved.
for i in 1 2 3; do
	tries=0
	while :; do
		st=$(rc "$i" CONCORD.STATUS)
		ok=1
		for j in 1 2 3; do
			[[ "$st" =~ \"client\":\ *\"${CLIENT[$j]}\" ]] || ok=0
			[[ "$st" =~ \"http\":\ *\"${HTTP[$j]}\" ]] || ok=0
		done
		[ $ok -eq 1 ] && break
		tries=$((tries + 1))
		[ $tries -lt $((100 * SLOW)) ] || fail "n$i's address book lacks some member's addresses: $st"
		sleep 0.1
	done
done
log "every member's addresses are in every address book"
grep -q "published this member's addresses" "$DIR"/n*.log || fail "no follower logged its publication"

check_routes() { # leader
	local l=$1
	for i in 1 2 3; do
		[ "$i" -eq "$l" ] && continue
		out=$(rc "$i" SET "via-n$i-to-n$l" yes 2>&1)
		if [ "$i" -eq 3 ]; then
			expect_match "n3 (moved mode) names the leader n$l" "$out" "^MOVED [0-9]+ ${CLIENT[$l]}$"
		else
			expect_eq "write through follower n$i to n$l" "$out" OK
			expect_eq "read back on the leader" "$(rc "$l" GET "via-n$i-to-n$l")" yes
		fi
	done
}
L=$LEADER
check_routes "$L"

# A follower takes over: the others must know its addresses, which only it published.
T=1
[ "$L" -eq 1 ] && T=2
log "leadership moves from n$L to n$T"
expect_match "transfer" "$(rc "$L" CONCORD.TRANSFER "$T")" "^OK"
tries=0
while [ "$(info_field "$T" raft_role)" != leader ]; do
	tries=$((tries + 1))
	[ $tries -lt $((100 * SLOW)) ] || fail "n$T did not take over"
	sleep 0.1
done
wait_leader
expect_eq "the new leader" "$LEADER" "$T"
check_routes "$T"
expect_match "HTTP through a follower" \
	"$(curl -s -X PUT --data-binary v "$(url "$L" /v1/kv/http-via-follower)" -w ' %{http_code}')" ' 200$'
log "ok"
