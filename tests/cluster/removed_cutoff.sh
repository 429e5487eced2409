#!/usr/bin/env bash
# removed_cutoff.sh: a member cut off (CONCORD.FAULT block-in and block-out) while it is removed receives none of the entries that remove it; the others refuse its links and say why, so it still learns it was removed and exits with status 3, and the rest is not disturbed; so does a removed learner, which is never sent the entry either.
source "$(dirname "$0")/lib.sh"

cluster_start
wait_leader
for i in 1 2 3; do wait_up "$i"; done
L=$LEADER
V=$(a_follower)
expect_eq "a write before" "$(rc "$L" SET before yes)" OK

log "n$V is cut off (it drops every message in and out), then the leader n$L removes it"
expect_eq "cut n$V off" "$(rc "$V" CONCORD.FAULT SET '*' block-in 1 block-out 1)" OK
expect_eq "remove n$V" "$(rc "$L" CONCORD.MEMBER REMOVE "$V")" OK
expect_eq "a write after" "$(rc "$L" SET after yes)" OK
# Both remaining members close the frozen member's links once they apply the removal.
for i in 1 2 3; do
	[ "$i" = "$V" ] && continue
	tries=0
	until grep -q "n$V was removed from the cluster: " "$DIR/n$i.log" || [ $tries -ge $((50 * SLOW)) ]; do
		sleep 0.1
		tries=$((tries + 1))
	done
	grep -q "n$V was removed from the cluster: " "$DIR/n$i.log" ||
		fail "n$i never noted that n$V left the committed configuration"
done
TERM0=$(info_field "$L" raft_term)

node_wait_removed "$V"
grep -q "this member (node $V) was removed from the cluster by the configuration at index .* refused its link and said so" "$DIR/n$V.log" ||
	fail "n$V's log does not say a peer told it it was removed"
grep -q "telling it so" "$DIR/n$L.log" "$DIR"/n*.log || fail "no member logged refusing n$V's link"

expect_eq "the rest still commits" "$(rc "$L" SET last yes)" OK
expect_eq "and reads" "$(rc "$L" GET before)" yes
expect_eq "nobody campaigned: the term is unchanged" "$(info_field "$L" raft_term)" "$TERM0"

# A learner is removed in one step: the leader stops writing to it at once, so it never
# receives the entry either; only the refusal of its links tells it.
log "n4 joins as a learner, then is removed"
node_join "$L" 4
wait_up 4
wait_applied 4 "$(info_field "$L" commit_index)"
expect_eq "n4 is a learner" "$(info_field 4 raft_role)" learner
expect_eq "remove n4" "$(rc "$L" CONCORD.MEMBER REMOVE 4)" OK
node_wait_removed 4
grep -q "this member (node 4) was removed from the cluster by the configuration at index .* refused its link and said so" "$DIR/n4.log" ||
	fail "n4's log does not say a peer told it it was removed"
expect_eq "the rest still commits" "$(rc "$L" SET final yes)" OK
log "ok"
