#!/usr/bin/env bash
# auth_members.sh: with auth on, the members' own requests authenticate as the members' identity (a token the leader drew at auth enable): a follower restarted on a new client address publishes it through the leader, and the web page's /v1/live gathers every member's live numbers; the identity is refused for anything else, and no user can take its name.
source "$(dirname "$0")/lib.sh"

ra() { local i=$1; shift; timeout $((10 * SLOW)) redis-cli -h 127.0.0.1 -p "${CLIENT[$i]##*:}" --user root --pass root-pw --no-auth-warning "$@"; }

cluster_start
wait_leader
for i in 1 2 3; do wait_up "$i"; done
L=$LEADER
F=$(a_follower)
expect_eq "root user" "$(rc "$L" CONCORD.USER ADD root root-pw root)" OK
expect_match "no user takes the members' name" "$(rc "$L" CONCORD.USER ADD +member pw root)" "^ERR"
expect_eq "auth enable" "$(rc "$L" CONCORD.AUTH ENABLE)" OK
for k in 1 2 3 4 5; do ra "$L" SET "k$k" v >/dev/null; done
WANT=$(ra "$L" INFO | tr -d '\r' | sed -n 's/^applied_index://p')
[ -n "$WANT" ] || fail "no applied index in INFO"

log "the page's live view on follower n$F gathers all three members (applied >= $WANT)"
ok=0
for _ in $(seq 1 $((50 * SLOW))); do
	live=$(curl -s -m 5 -u root:root-pw "$(url "$F" /v1/live)")
	if python3 - "$live" "$WANT" <<'PY'; then
import json, sys
d = json.loads(sys.argv[1])
want = int(sys.argv[2])
ms = d["members"]
sys.exit(0 if len(ms) == 3 and all(m["answered"] and m["error"] == "" and m["applied"] >= want for m in ms) else 1)
PY
		ok=1
		break
	fi
	sleep 0.2
done
[ "$ok" = 1 ] || fail "/v1/live on n$F never showed every member's live state: $live"

log "n$F restarts on a new client address, given to nobody: it publishes it itself"
node_stop "$F"
read -r -a ports <<<"$(free_ports 1)"
NEW=127.0.0.1:${ports[0]}
"$CONCORD" --name "n$F" --data-dir "$DIR/n$F" --cluster-id "test-$TEST_NAME" \
	--initial-cluster "$(list_of PEER)" --listen-client "$NEW" --listen-http "${HTTP[$F]}" \
	--tick-ms 25 --election-ticks $((20 * SLOW)) --heartbeat-ticks 2 \
	--request-timeout-ms $((3000 * SLOW)) >>"$DIR/n$F.log" 2>&1 &
PIDS[$F]=$!
CLIENT[$F]=$NEW
ok=0
for _ in $(seq 1 $((75 * SLOW))); do
	if ra "$L" CONCORD.STATUS 2>/dev/null | grep -q "\"id\":$F,[^}]*\"client\":\"$NEW\""; then
		ok=1
		break
	fi
	sleep 0.2
done
[ "$ok" = 1 ] || fail "the leader's book never got n$F's new address $NEW: $(grep -i publish "$DIR/n$F.log" | tail -2)"
grep -q "NOAUTH" "$DIR/n$F.log" && fail "n$F's publication met NOAUTH"

log "the identity itself: a wrong token is refused; a right one may do nothing else"
expect_match "RESP, wrong token" "$(rc "$L" AUTH +member "$(printf '%064d' 0)" 2>&1)" "WRONGPASS"
code=$(curl -s -o /dev/null -w '%{http_code}' -u "+member:$(printf '%064d' 0)" "$(url "$L" /v1/cluster)")
expect_eq "HTTP, wrong token" "$code" 401
log "ok"
