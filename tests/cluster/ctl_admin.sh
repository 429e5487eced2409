#!/usr/bin/env bash
# ctl_admin.sh: concordctl's admin commands against 3 real nodes: endpoint health and status over every endpoint (table, simple, json), version, members sorted by id, compaction, and their exit codes.
source "$(dirname "$0")/lib.sh"
CTL=${CONCORDCTL:-$(dirname "$CONCORD")/../concordctl/concordctl}
PY=/usr/bin/python3

cluster_start
wait_leader
for i in 1 2 3; do wait_up "$i"; done
L=$LEADER
E="${CLIENT[1]},${CLIENT[2]},${CLIENT[3]}"
ctl() { timeout $((20 * SLOW)) "$CTL" --endpoints "$E" "$@"; }
for i in $(seq 1 20); do rc "$L" SET "k$i" "v$i" >/dev/null; done

out=$(ctl endpoint health) || fail "endpoint health: $out"
expect_eq "healthy rows" "$(grep -c '| true ' <<<"$out")" 3
out=$(ctl -w json endpoint health) || fail "endpoint health json: $out"
"$PY" -c 'import json,sys; d=json.loads(sys.argv[1]); assert len(d)==3 and all(e["health"] for e in d), d' "$out" ||
	fail "endpoint health json: $out"
expect_eq "simple lines" "$(ctl -w simple endpoint health | grep -c ', true, ')" 3

out=$(ctl -w json endpoint status) || fail "endpoint status: $out"
"$PY" - "$out" "$L" <<'PY' || fail "endpoint status json: $out"
import json, sys
d, leader = json.loads(sys.argv[1]), int(sys.argv[2])
assert len(d) == 3, d
assert sorted(e["id"] for e in d) == [1, 2, 3], d
assert [e["id"] for e in d if e["is_leader"]] == [leader], d
for e in d:
    assert e["version"] and e["error"] == "", e
    assert e["raft_applied_index"] <= e["raft_commit_index"] <= e["raft_index"], e
    assert e["raft_applied_index"] >= 20, e
    assert e["kv_bytes"] > 0 and e["data_dir_bytes"] >= e["kv_bytes"], e
PY
expect_match "endpoint status table" "$(ctl endpoint status)" "RAFT APPLIED INDEX"
expect_match "version" "$(ctl version)" $'concordctl version: [0-9.]+\nserver version: [0-9.]+'
expect_match "version json" "$(ctl -w json version)" '"server": "[0-9.]+"'

# Learners added as 9 then 4: the configuration lists them in that order, members by id.
expect_eq "add 9" "$(rc "$L" CONCORD.MEMBER ADD 9 n9 127.0.0.1:1 127.0.0.1:1 127.0.0.1:1)" OK
tries=0
until [ "$(rc "$L" CONCORD.MEMBER ADD 4 n4 127.0.0.1:2 127.0.0.1:2 127.0.0.1:2)" = OK ]; do
	tries=$((tries + 1))
	[ $tries -lt $((50 * SLOW)) ] || fail "adding 4"
	sleep 0.1
done
tries=0
until ctl -w simple members | grep -q '^4, n4'; do
	tries=$((tries + 1))
	[ $tries -lt $((100 * SLOW)) ] || fail "4 never listed: $(ctl -w simple members)"
	sleep 0.1
done
expect_eq "members sorted by id" "$(ctl -w simple members | cut -d, -f1 | tr '\n' ' ')" "1 2 3 4 9 "
expect_eq "members table sorted" "$(ctl members | awk 'NR>1{print $1}' | tr '\n' ' ')" "1 2 3 4 9 "
"$PY" -c 'import json,sys; d=json.loads(sys.argv[1]); assert [m["id"] for m in d["members"]]==[1,2,3,4,9], d' \
	"$(ctl -w json members)" || fail "members json"

REV=$(info_field "$L" revision)
out=$(ctl compaction 5) || fail "compaction: $out"
expect_eq "compaction" "$out" "compacted revision 5"
expect_match "reading below it" "$(rc "$L" CONCORD.GET k1 REV 3 2>&1)" "COMPACTED"
out=$(ctl compaction $((REV + 1000)) 2>&1)
expect_eq "compaction past the revision: exit" "$?" 1
expect_match "compaction past the revision: why" "$out" "newer than the store"
out=$(ctl compaction x 2>&1)
expect_eq "compaction usage: exit" "$?" 2

node_kill9 "$(a_follower)"
out=$(ctl endpoint health)
expect_eq "one endpoint down: exit" "$?" 1
expect_eq "one unhealthy row" "$(grep -c '| false ' <<<"$out")" 1
out=$(timeout $((20 * SLOW)) "$CTL" --endpoints 127.0.0.1:1 endpoint health 2>&1)
expect_eq "no endpoint answers: exit" "$?" 3
log "ok"
