#!/usr/bin/env bash
# watch.sh: watch and pub/sub on a 3-node cluster (issue 14): curl -N on a follower's /v1/watch, redis-cli SUBSCRIBE, CONCORD.WATCH, a compacted start revision, keyspace notifications from redis-py on every node, and a stream checked against the applied history across a resume and a leader change.
source "$(dirname "$0")/lib.sh"

PY_REDIS=""
for py in python3 /usr/bin/python3; do
	if "$py" -c 'import redis' 2>/dev/null; then
		PY_REDIS=$py
		break
	fi
done
[ -n "$PY_REDIS" ] || fail "redis-py missing: install Debian python3-redis (scripts/deps.sh)"
command -v curl >/dev/null || fail "curl missing (scripts/deps.sh)"
command -v redis-cli >/dev/null || fail "redis-cli missing (scripts/deps.sh)"
PY=$(dirname "$0")/watch.py

CLUSTER_FLAGS="--history-revisions 1000"
cluster_start
wait_leader
L=$LEADER
F=$(a_follower)
for i in 1 2 3; do wait_up "$i"; done

# curl -N on a follower: writes through the leader stream out of the follower's state.
log "curl -N on the follower n$F"
timeout $((20 * SLOW)) curl -sN "$(url "$F" '/v1/watch?prefix=c/&prev_kv=true')" >"$DIR/curl.out" 2>&1 &
CURL=$!
PIDS+=("$CURL")
sleep 0.5
rc "$L" SET c/a 1 >/dev/null
rc "$L" SET c/a 2 >/dev/null
rc "$L" SET other 1 >/dev/null
rc "$L" DEL c/a >/dev/null
tries=0
while [ "$(grep -c '"revision"' "$DIR/curl.out")" -lt 4 ] && [ $tries -lt $((100 * SLOW)) ]; do
	sleep 0.1
	tries=$((tries + 1))
done
kill "$CURL" 2>/dev/null
out=$(cat "$DIR/curl.out")
log "$out"
expect_match "first line" "$(sed -n 1p "$DIR/curl.out")" '^\{"watching": true, "start_revision": [0-9]+'
expect_match "put c/a 1" "$(sed -n 2p "$DIR/curl.out")" '"type":"put","key":"c/a","value":"1","create_revision":([0-9]+),"mod_revision":\1,"version":1\}'
expect_match "put c/a 2" "$(sed -n 3p "$DIR/curl.out")" '"type":"put","key":"c/a","value":"2".*"version":2,"prev_kv":\{"value":"1"'
expect_match "delete c/a" "$(sed -n 4p "$DIR/curl.out")" '"type":"delete","key":"c/a","value":"","create_revision":0,.*"version":0,"prev_kv":\{"value":"2"'
[[ "$out" != *other* ]] || fail "a key outside the prefix was streamed"

# The same history again from a revision, on another node, by key.
REV=$(sed -n 2p "$DIR/curl.out" | sed 's/^{"revision":\([0-9]*\).*/\1/')
got=$(timeout 3 curl -sN "$(url "$L" "/v1/watch?key=c/a&rev=$REV")" | grep -c '"key":"c/a"')
expect_eq "catch-up of c/a from $REV on the leader" "$got" 3

# redis-cli SUBSCRIBE; PUBLISH on the same node reaches it. It goes through the log, and
# its reply counts the leader's receivers: none here.
log "redis-cli SUBSCRIBE on n$F"
timeout $((10 * SLOW)) redis-cli -p "${CLIENT[$F]##*:}" SUBSCRIBE news >"$DIR/sub.out" 2>&1 &
SUB=$!
PIDS+=("$SUB")
tries=0
until [ "$(rc "$F" PUBSUB NUMSUB news | sed -n 2p)" = 1 ] || [ $tries -ge $((50 * SLOW)) ]; do
	sleep 0.1
	tries=$((tries + 1))
done
expect_eq "PUBLISH receivers (the leader's)" "$(rc "$F" PUBLISH news hello)" 0
expect_eq "PUBSUB CHANNELS" "$(rc "$F" PUBSUB CHANNELS 'n*')" news
sleep 0.3
kill "$SUB" 2>/dev/null
expect_eq "redis-cli SUBSCRIBE output" "$(tr '\n' ' ' <"$DIR/sub.out")" "subscribe news 1 message news hello "

# CONCORD.WATCH from a revision (redis-cli prints the pushes of a one-shot command's
# first reply only: read them with a raw socket through python).
log "CONCORD.WATCH on n$F"
out=$("$PY_REDIS" - "${CLIENT[$F]##*:}" "$REV" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"*4\r\n$13\r\nCONCORD.WATCH\r\n$3\r\nc/a\r\n$3\r\nREV\r\n$%d\r\n%s\r\n" % (len(sys.argv[2]), sys.argv[2].encode()))
data, end = b"", time.time() + 10
while time.time() < end and data.count(b"concord.events") < 3:
    data += s.recv(65536)
print(data.decode().replace("\r\n", " "))
PY
)
expect_match "CONCORD.WATCH" "$out" "^\*3 \\\$13 concord.watch :1 :$REV \*4 \\\$14 concord.events :1 :$REV \*1 \*7 \\\$3 put \\\$3 c/a \\\$1 1 "
expect_match "CONCORD.WATCH delete" "$out" '\$6 delete \$3 c/a \$0  :0 :[0-9]+ :0 \$-1 $'

log "keyspace notifications through redis-py on every node"
out=$(timeout $((60 * SLOW)) "$PY_REDIS" "$PY" keyspace "${CLIENT[$F]##*:}" "${CLIENT[1]##*:}" "${CLIENT[2]##*:}" "${CLIENT[3]##*:}" 2>&1) || fail "$out"
log "$out"

log "a watch stream against the applied history, across a resume and a leader change"
others=()
for i in 1 2 3; do [ "$i" -ne "$L" ] && others+=("${HTTP[$i]##*:}"); done
out=$(WATCH_DEADLINE_S=$((30 * SLOW)) timeout $((120 * SLOW)) "$PY_REDIS" "$PY" check "${HTTP[$L]##*:}" \
	"${others[0]}" "${others[1]}" "${HTTP[$L]##*:}" "${CLIENT[$F]##*:}" 2>&1) || fail "$out"
log "$out"
wait_leader
log "leader after the step-down: n$LEADER (was n$L)"
expect_match "metrics" "$(hc "$F" "$(url "$F" /metrics)" | grep '^concord_watchers_created_total')" 'concord_watchers_created_total [1-9]'
# A compacted start revision is refused naming the compaction point.
log "compaction: 1010 writes past a 1000-revision history"
"$PY_REDIS" -c "
import redis
r = redis.Redis(port=${CLIENT[$L]##*:})
p = r.pipeline(transaction=False)
for i in range(1010):
    p.set('fill', i)
p.execute()
"
code=$(curl -s -o "$DIR/410.out" -w '%{http_code}' "$(url "$F" '/v1/watch?prefix=c/&rev=1')")
expect_eq "status of a compacted start" "$code" 410
expect_match "compacted body" "$(cat "$DIR/410.out")" 'required revision 1 has been compacted; compacted revision [1-9][0-9]*'
expect_match "CONCORD.WATCH compacted" "$(rc "$F" CONCORD.WATCH c/a REV 1)" '^COMPACTED required revision 1 has been compacted; compacted revision [1-9]'

log "pass"
