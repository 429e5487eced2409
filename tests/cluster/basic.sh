#!/usr/bin/env bash
# basic.sh: a 3-node cluster serves RESP and HTTP: writes and reads on the leader, through a forwarding follower and a redirecting one, pipelining, redis-benchmark, malformed input, clean SIGTERM.
source "$(dirname "$0")/lib.sh"
command -v redis-cli >/dev/null && command -v curl >/dev/null || { echo "redis-cli or curl missing"; exit 77; }

# n3 redirects (-MOVED, 421); n1 and n2 forward.
NODE_FLAGS_3="--resp-follower moved --http-follower redirect"
cluster_start
wait_leader
log "leader is n$LEADER"
if [ "$LEADER" -eq 3 ]; then
	# The redirecting node must be a follower for this test: hand leadership to n1.
	expect_eq "transfer" "$(rc 3 CONCORD.TRANSFER 1)" OK
	sleep 0.5
	wait_leader
	log "leader is now n$LEADER"
fi
L=$LEADER
F=$((L == 1 ? 2 : 1)) # the forwarding follower
for i in 1 2 3; do wait_up "$i"; done

log "RESP on the leader"
expect_eq "SET" "$(rc "$L" SET a 1)" OK
expect_eq "GET" "$(rc "$L" GET a)" 1
expect_eq "INCR" "$(rc "$L" INCR a)" 2
expect_eq "INCRBY" "$(rc "$L" INCRBY a 40)" 42
expect_eq "APPEND" "$(rc "$L" APPEND s hello)" 5
expect_eq "STRLEN" "$(rc "$L" STRLEN s)" 5
expect_eq "MSET" "$(rc "$L" MSET m1 x m2 y)" OK
expect_eq "MGET" "$(rc "$L" MGET m1 m2 nope | tr '\n' ' ')" "x y  "
expect_eq "EXISTS" "$(rc "$L" EXISTS m1 m2 nope)" 2
expect_eq "SET NX" "$(rc "$L" SET m1 z NX)" ""
expect_eq "SETNX" "$(rc "$L" SETNX fresh 1)" 1
expect_eq "CAS" "$(rc "$L" CAS m1 x x2)" 1
expect_eq "CAS miss" "$(rc "$L" CAS m1 x x3)" 0
expect_eq "DEL" "$(rc "$L" DEL m2 nope)" 1
expect_eq "INCR on text" "$(rc "$L" INCR s)" "ERR value is not an integer or out of range"
expect_match "CONCORD.GET" "$(rc "$L" CONCORD.GET a | tr '\n' ' ')" "^42 [0-9]+ [0-9]+ 3 $"
expect_match "SCAN" "$(rc "$L" SCAN 0 MATCH 'm*' COUNT 10 | tr '\n' ' ')" "^0 m1 $"
expect_match "unknown" "$(rc "$L" FROB x)" "^ERR unknown command 'FROB'"
expect_match "unsupported" "$(rc "$L" LPUSH l x)" "^ERR unsupported command 'lpush'"
expect_match "HELLO 4" "$(rc "$L" HELLO 4)" "^NOPROTO"

log "RESP through the forwarding follower n$F"
expect_eq "SET via n$F" "$(rc "$F" SET fw 1)" OK
expect_eq "GET via n$F" "$(rc "$F" GET fw)" 1
expect_eq "GET on leader" "$(rc "$L" GET fw)" 1
expect_eq "INCR via n$F" "$(rc "$F" INCR fw)" 2
expect_eq "INFO role on n$F" "$(info_field "$F" raft_role)" follower

log "RESP on the redirecting follower n3"
slot=$(rc 3 CLUSTER KEYSLOT mv)
expect_eq "MOVED" "$(rc 3 SET mv 1)" "MOVED $slot ${CLIENT[$L]}"
expect_eq "redis-cli -c follows MOVED" "$(rc 3 -c SET mv 2)" OK
expect_eq "GET on leader" "$(rc "$L" GET mv)" 2
expect_match "CLUSTER SLOTS" "$(rc 3 CLUSTER SLOTS | head -4 | tr '\n' ' ')" "^0 16383 127.0.0.1 ${CLIENT[$L]##*:} "
expect_eq "PING on n3" "$(rc 3 PING)" PONG

log "HTTP"
out=$(hc -X PUT --data-binary 'hello world' "$(url "$L" /v1/kv/h1)")
expect_match "PUT on leader" "$out" '"created":true'
out=$(hc -X PUT -H 'Content-Type: application/json' -d '{"value": "j"}' "$(url "$F" /v1/kv/h2)")
expect_match "PUT via n$F" "$out" '"key":"h2"'
expect_match "GET via n$F" "$(hc "$(url "$F" /v1/kv/h1)")" '"value":"hello world"'
expect_eq "GET raw" "$(hc "$(url "$L" '/v1/kv/h2?raw=1')")" j
expect_eq "RESP sees HTTP" "$(rc "$L" GET h1)" "hello world"
head=$(hc -D - -o /dev/null "$(url 3 /v1/kv/h1)" | tr -d '\r')
expect_match "421 from n3" "$head" "^HTTP/1.1 421"
expect_match "Location from n3" "$head" "Location: http://${HTTP[$L]}/v1/kv/h1"
expect_match "serializable on n3" "$(hc "$(url 3 '/v1/kv/h1?serializable=1')")" '"stale":true'
expect_eq "404" "$(hc -o /dev/null -w '%{http_code}' "$(url "$L" /v1/kv/absent)")" 404
out=$(hc -X PUT -o /dev/null -w '%{http_code}' --data-binary x "$(url "$L" '/v1/kv/h1?if_absent=1')")
expect_eq "412" "$out" 412
expect_match "DELETE" "$(hc -X DELETE "$(url "$L" /v1/kv/h2)")" '"deleted":1'
expect_match "list" "$(hc "$(url "$F" '/v1/kv?prefix=h')")" '"kvs":\[\{"key":"h1"'
expect_match "cluster" "$(hc "$(url 3 /v1/cluster)")" "\"leader\":$L,"
expect_match "healthz" "$(hc "$(url 3 /healthz)")" '"status": "ok"'
expect_match "metrics" "$(hc "$(url "$L" /metrics)")" 'concord_raft_term [0-9]+'
expect_match "web page" "$(hc "$(url "$F" /)")" '<html'
expect_match "CONCORD.STATUS" "$(rc "$F" CONCORD.STATUS)" '"nodes":\['

log "pipelining: 200 commands in one redis-cli --pipe, through the leader and n$F"
for target in "$L" "$F"; do
	out=$(for i in $(seq 1 100); do printf 'SET pk%d v%d\r\nINCR pipe%d\r\n' "$i" "$i" "$target"; done |
		rc "$target" --pipe 2>&1)
	expect_match "--pipe to n$target" "$out" "errors: 0, replies: 200"
	expect_eq "INCR count via n$target" "$(rc "$L" GET "pipe$target")" 100
done
out=$(rc "$F" <<'EOF'
SET hd 1
INCR hd
INCR hd
GET hd
EOF
)
expect_eq "heredoc via n$F, replies in order" "$(echo "$out" | tr '\n' ' ')" "OK 2 3 3 "

log "redis-benchmark against the leader"
out=$(timeout $((60 * SLOW)) redis-benchmark -h 127.0.0.1 -p "${CLIENT[$L]##*:}" \
	-t ping,set,get,incr,mset -n 2000 -c 20 -q 2>&1 | tr '\r' '\n')
echo "$out" | grep 'requests per second'
[ "$(echo "$out" | grep -c 'requests per second')" -ge 6 ] || fail "redis-benchmark: $out"
echo "$out" | grep -qi 'error' && fail "redis-benchmark reported an error: $out"
out=$(timeout $((60 * SLOW)) redis-benchmark -h 127.0.0.1 -p "${CLIENT[$F]##*:}" \
	-t set,get -n 1000 -c 8 -P 4 -q 2>&1 | tr '\r' '\n')
[ "$(echo "$out" | grep -c 'requests per second')" -ge 2 ] || fail "redis-benchmark via n$F: $out"

log "malformed RESP"
raw() { # port bytes: sends, then prints what comes back until the server closes
	local port=$1
	shift
	timeout $((10 * SLOW)) bash -c 'exec 3<>/dev/tcp/127.0.0.1/'"$port"'; printf "%b" "$1" >&3; cat <&3' _ "$1" 2>/dev/null
}
P=${CLIENT[$L]##*:}
expect_match "bad bulk length" "$(raw "$P" 'PING\r\n*2\r\n$3\r\nGET\r\n$abc\r\n')" '^\+PONG.*-ERR Protocol error'
expect_match "negative bulk" "$(raw "$P" '*1\r\n$-5\r\n')" '^-ERR Protocol error'
expect_match "huge bulk" "$(raw "$P" '*1\r\n$99999999999\r\n')" '^-ERR Protocol error'
expect_match "unbalanced quotes" "$(raw "$P" 'SET "a b\r\n')" '^-ERR Protocol error'
expect_match "binary junk" "$(raw "$P" '*\xff\xfe\x00\r\n')" '^-ERR Protocol error'
expect_eq "still serving" "$(rc "$L" GET a)" 42

log "malformed HTTP"
H=${HTTP[$L]##*:}
expect_match "garbage" "$(raw "$H" 'GARBAGE\r\n\r\n')" '^HTTP/1.1 400'
expect_match "version" "$(raw "$H" 'GET / HTTP/9.9\r\n\r\n')" '^HTTP/1.1 505'
expect_match "chunked" "$(raw "$H" 'PUT /v1/kv/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n')" '^HTTP/1.1 411'
big=$(head -c 40000 /dev/zero | tr '\0' a)
expect_match "huge header" "$(raw "$H" "GET / HTTP/1.1\r\nX: $big\r\n\r\n")" '^HTTP/1.1 431'
expect_match "bad escape" "$(raw "$H" 'GET /v1/kv/%zz HTTP/1.1\r\n\r\n')" '^HTTP/1.1 400'
expect_match "bad JSON" "$(raw "$H" 'PUT /v1/kv/j HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 5\r\nConnection: close\r\n\r\n{"a":')" '^HTTP/1.1 400'
expect_match "still serving" "$(hc "$(url "$L" /v1/kv/a)")" '"value":"42"'

log "SIGTERM stops every node cleanly"
for i in 1 2 3; do node_stop "$i"; done
log "PASS"
