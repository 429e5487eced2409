#!/usr/bin/env bash
# tls.sh: a 3-node cluster with TLS on every port: redis-cli --tls, curl --cacert, python3-redis with ssl=True and concordctl over TLS (watch included); client certificates under --client-cert-auth (a client without one is refused); peers over mutual TLS elect and replicate, and a peer whose certificate comes from another CA is refused.
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CONCORDCTL=${CONCORDCTL:-$(dirname "$CONCORD")/../concordctl/concordctl}

C=$DIR/certs
bash "$ROOT/scripts/make-test-certs.sh" "$C" n1 n2 n3 client >/dev/null || fail "making certificates"
bash "$ROOT/scripts/make-test-certs.sh" "$DIR/rogue" n3 >/dev/null || fail "making the other CA"

log "bad TLS flags exit 2 with a sentence naming the flag"
bad() { # expected-regex flags...
	local want=$1
	shift
	local out rc
	out=$("$CONCORD" --data-dir "$DIR/bad" "$@" 2>&1)
	rc=$?
	expect_eq "exit status of $*" "$rc" 2
	expect_match "message of $*" "$out" "$want"
}
bad "go together" --cert-file "$C/n1.pem"
bad "No such file" --cert-file "$DIR/none.pem" --key-file "$C/n1.key"
bad "key values mismatch|does not match" --cert-file "$C/n1.pem" --key-file "$C/n2.key"
bad "always mutual" --peer-cert-file "$C/n1.pem" --peer-key-file "$C/n1.key"
bad "needs --cert-file" --client-cert-auth
echo short >"$DIR/short"
bad "16 to 1024 bytes" --peer-secret-file "$DIR/short"

tls_flags() { # i [cert-dir]
	local d=${2:-$C}
	echo "--cert-file $d/n$1.pem --key-file $d/n$1.key --trusted-ca-file $C/ca.pem" \
		"--peer-cert-file $d/n$1.pem --peer-key-file $d/n$1.key --peer-trusted-ca-file $d/ca.pem"
}
NODE_FLAGS_1=$(tls_flags 1)
NODE_FLAGS_2=$(tls_flags 2)
# n3 also requires client certificates (the followers' relays present their own).
NODE_FLAGS_3="$(tls_flags 3) --client-cert-auth"
RC_FLAGS="--tls --cacert $C/ca.pem --cert $C/client.pem --key $C/client.key"
HC_FLAGS="--cacert $C/ca.pem --cert $C/client.pem --key $C/client.key"
URL_SCHEME=https

cluster_start
wait_leader
log "leader is n$LEADER over peer TLS"
for i in 1 2 3; do wait_up "$i"; done
L=$LEADER

log "redis-cli --tls: writes through every node (followers relay to the leader over TLS)"
for i in 1 2 3; do
	expect_eq "SET via n$i" "$(rc "$i" SET "k$i" "v$i")" OK
done
for i in 1 2 3; do
	for j in 1 2 3; do
		expect_eq "GET k$j on n$i" "$(rc "$i" GET "k$j")" "v$j"
	done
done

log "the peers replicate: every node applies the same index"
idx=$(info_field "$L" applied_index)
for i in 1 2 3; do wait_applied "$i" "$idx"; done

log "redis-cli without a client certificate: served by n1, refused by n3 (--client-cert-auth)"
p1=${CLIENT[1]##*:} p3=${CLIENT[3]##*:}
expect_eq "n1 no client cert" "$(timeout 10 redis-cli --tls --cacert "$C/ca.pem" -p "$p1" GET k1)" v1
out=$(timeout 10 redis-cli --tls --cacert "$C/ca.pem" -p "$p3" GET k1 2>&1)
[ "$out" != v1 ] || fail "n3 served a client without a certificate"
log "  n3 said: $(echo "$out" | head -1)"
log "plain TCP on a TLS port gets nothing"
out=$(timeout 10 redis-cli -p "$p1" GET k1 2>&1)
[ "$out" != v1 ] || fail "a plaintext client was served"
log "redis-cli --tls with a CA that did not sign the server's certificate fails"
out=$(timeout 10 redis-cli --tls --cacert "$DIR/rogue/ca.pem" -p "$p1" GET k1 2>&1)
[ "$out" != v1 ] || fail "the client accepted a certificate of another CA"

log "curl --cacert over HTTPS, with and without a client certificate"
expect_match "curl GET" "$(hc 1 "$(url 1 /v1/kv/k2)")" '"value":"v2"'
expect_match "curl PUT on n3 (client cert)" "$(hc 3 -X PUT --data-binary hello "$(url 3 /v1/kv/h)")" '"revision"'
code=$(timeout 10 curl -s -o /dev/null -w '%{http_code}' --cacert "$C/ca.pem" "https://${HTTP[1]}/v1/kv/h")
expect_eq "curl n1 no client cert" "$code" 200
if timeout 10 curl -s -S --cacert "$C/ca.pem" "https://${HTTP[3]}/v1/kv/h" >/dev/null 2>&1; then
	fail "n3 served curl without a client certificate"
fi
if timeout 10 curl -s "http://${HTTP[1]}/v1/kv/h" 2>/dev/null | grep -q hello; then
	fail "plain HTTP was served on a TLS port"
fi
expect_match "tls failures counted" "$(hc 3 "$(url 3 /metrics)")" 'concord_http_tls_failures_total [1-9]'

log "python3-redis with ssl=True"
out=$(timeout 30 /usr/bin/python3 - "${CLIENT[1]##*:}" "$C" <<'PY'
import sys, redis
port, c = int(sys.argv[1]), sys.argv[2]
r = redis.Redis(host="127.0.0.1", port=port, ssl=True, ssl_ca_certs=c + "/ca.pem",
                socket_timeout=10)
r.set("py", "tls")
print(r.get("py").decode(), r.incr("n"), r.incr("n"))
r3 = redis.Redis(host="127.0.0.1", port=port, ssl=True, ssl_ca_certs=c + "/ca.pem",
                 ssl_certfile=c + "/client.pem", ssl_keyfile=c + "/client.key", socket_timeout=10)
print(r3.get("k3").decode())
# Large values and a deep pipeline: TLS records split across reads, input held in the
# session while the parser is full, replies larger than one record.
big = bytes(range(256)) * 3000
r.set("big", big)
p = r.pipeline(transaction=False)
for i in range(3000):
    p.set("p%d" % i, "x" * (i % 97))
p.execute()
p = r.pipeline(transaction=False)
for i in range(0, 3000, 7):
    p.get("p%d" % i)
got = p.execute()
ok = all(g == b"x" * (i % 97) for g, i in zip(got, range(0, 3000, 7)))
print(r.get("big") == big, ok, len(r.mget(["big"] * 6)[5]))
PY
)
expect_eq "python3-redis" "$(echo "$out" | tr '\n' ' ')" "tls 1 2 v3 True True 768000 "

log "concordctl --cacert --cert --key"
ctl() { timeout 20 "$CONCORDCTL" --endpoints "${CLIENT[3]},${CLIENT[1]}" --cacert "$C/ca.pem" \
	--cert "$C/client.pem" --key "$C/client.key" "$@"; }
expect_eq "concordctl put" "$(ctl put ctl yes)" OK
expect_eq "concordctl get" "$(ctl get ctl)" yes
st=$(ctl status)
expect_match "concordctl status" "$st" "leader"
# Each member's own numbers come from a probe of its own: over TLS it must carry the
# same TLS options, or the member shows "down?".
expect_eq "concordctl status: members answering their probes" \
	"$(echo "$st" | grep -cE '^[0-9]+ +[^ ]+ +(leader|follower) ')" 3
if echo "$st" | grep -q 'down?'; then
	fail "concordctl status over TLS shows a member down: $st"
fi
ctl endpoint health >/dev/null || fail "concordctl endpoint health over TLS failed"
out=$(ctl snapshot save "$DIR/tls.snap" 2>&1) || fail "concordctl snapshot save over TLS: $out"
expect_match "snapshot save over TLS reads the leader over https" "$out" "snapshot saved at"
expect_match "the TLS backup checks" "$(ctl snapshot status "$DIR/tls.snap")" "\| ok "
# watch over TLS, on n3 (which wants the client certificate): the pushes that follow the
# first reply come through the same TLS session.
ctl put tw/a 1 >/dev/null || fail "concordctl put tw/a"
ctl put tw/a 2 >/dev/null || fail "concordctl put tw/a again"
rev=$(ctl -w json watch tw/a --rev 1 --count 1 | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["revision"])')
[[ "$rev" =~ ^[0-9]+$ ]] || fail "concordctl watch over TLS: no revision ('$rev')"
expect_eq "concordctl watch over TLS" "$(ctl watch tw/a --rev "$rev" --prev-kv --count 2 | paste -sd' ')" \
	"PUT tw/a 1 PUT tw/a 1 tw/a 2"
if timeout 20 "$CONCORDCTL" --timeout-ms 2000 --endpoints "${CLIENT[1]}" get ctl >/dev/null 2>&1; then
	fail "concordctl without TLS was served by a TLS port"
fi

log "a peer whose certificate comes from another CA is refused"
before=$(hc "$L" "$(url "$L" /metrics)" | sed -n 's/^concord_net_auth_failed_total //p')
term=$(info_field "$L" raft_term)
V=3
[ "$L" -eq 3 ] && V=2
node_kill9 "$V"
NODE_FLAGS_R="--cert-file $DIR/rogue/n3.pem --key-file $DIR/rogue/n3.key --peer-cert-file $DIR/rogue/n3.pem --peer-key-file $DIR/rogue/n3.key --peer-trusted-ca-file $DIR/rogue/ca.pem"
declare -n flags="NODE_FLAGS_$V"
saved=$flags
flags=$NODE_FLAGS_R
node_start "$V"
ok=0
for _ in $(seq 1 $((100 * SLOW))); do
	now=$(hc "$L" "$(url "$L" /metrics)" | sed -n 's/^concord_net_auth_failed_total //p')
	if [ -n "$now" ] && [ "$now" -gt "$before" ]; then ok=1; break; fi
	sleep 0.1
done
[ "$ok" -eq 1 ] || fail "the leader did not refuse the rogue peer (auth_failed $before -> $now)"
expect_eq "SET with the rogue peer around" "$(rc "$L" SET after rogue)" OK
sleep 1
expect_eq "the term did not move" "$(info_field "$L" raft_term)" "$term"
expect_eq "n$L still leads" "$(info_field "$L" raft_role)" leader
grep -q "certificate" "$DIR/n$V.log" || fail "the rogue peer's log does not say why it was refused"

log "the member back with its own certificate catches up"
node_kill9 "$V"
flags=$saved
node_start "$V"
wait_up "$V"
idx=$(info_field "$L" applied_index)
wait_applied "$V" "$idx"
expect_eq "GET after on n$V" "$(rc "$V" GET after)" rogue
log "PASS"
