#!/usr/bin/env bash
# removed.sh: a removed member knows it: it logs it, answers RESP and HTTP clients that it was removed, stops campaigning and exits with status 3; so does a removed leader, and the rest keeps committing.
source "$(dirname "$0")/lib.sh"

cluster_start
wait_leader
for i in 1 2 3; do wait_up "$i"; done
L=$LEADER
V=$(a_follower)
expect_eq "a write before" "$(rc "$L" SET before yes)" OK
TERM0=$(info_field "$L" raft_term)
[ -n "$TERM0" ] || fail "no raft_term in INFO"
log "leader n$L removes follower n$V"
expect_eq "remove n$V" "$(rc "$L" CONCORD.MEMBER REMOVE "$V")" OK

# Until it exits: its answers (bounded in tries and time).
saw_resp=0 saw_http=0 tries=0
while node_alive "$V" && [ $tries -lt $((100 * SLOW)) ]; do
	tries=$((tries + 1))
	out=$(rc "$V" SET x 1 2>&1)
	if [[ "$out" == *"was removed from the cluster"* ]]; then
		# Its term no longer moves: it does not campaign.
		t=$(info_field "$V" raft_term)
		[ -n "$t" ] && [ -z "${VTERM:-}" ] && VTERM=$t
		[ -n "$t" ] && [ "$t" != "$VTERM" ] && fail "removed n$V campaigned: term $VTERM -> $t"
		saw_resp=$((saw_resp + 1))
	fi
	code=$(curl -s -o "$DIR/body" -w '%{http_code}' --max-time 2 "$(url "$V" /v1/kv/x)" 2>/dev/null)
	[ "$code" = 410 ] && grep -q "was removed from the cluster" "$DIR/body" && saw_http=1
	sleep 0.05
done
[ "$saw_resp" -ge 1 ] || fail "RESP clients of n$V were never told it was removed"
log "n$V said it was removed $saw_resp times, at term ${VTERM:-?}"
expect_eq "HTTP clients of n$V told it was removed (410)" "$saw_http" 1
pid=${PIDS[$V]}
tries=0
while kill -0 "$pid" 2>/dev/null && [ $tries -lt $((100 * SLOW)) ]; do
	sleep 0.1
	tries=$((tries + 1))
done
kill -0 "$pid" 2>/dev/null && fail "n$V still runs $((10 * SLOW)) s after its removal"
wait "$pid"
expect_eq "n$V's exit status" "$?" 3
PIDS[$V]=""
grep -q "this member (node $V) was removed from the cluster by the configuration at index" "$DIR/n$V.log" ||
	fail "n$V's log does not say it was removed"

expect_eq "a write after" "$(rc "$L" SET after yes)" OK
sleep 1
expect_eq "nobody campaigned: the term is unchanged" "$(info_field "$L" raft_term)" "$TERM0"

log "the leader n$L removes itself"
expect_eq "remove the leader" "$(rc "$L" CONCORD.MEMBER REMOVE "$L")" OK
node_wait_removed "$L"
grep -q "this member (node $L) was removed from the cluster" "$DIR/n$L.log" ||
	fail "n$L's log does not say it was removed"
wait_leader
expect_eq "the last member commits" "$(rc "$LEADER" SET last yes)" OK
expect_eq "and reads" "$(rc "$LEADER" GET before)" yes
log "ok"
