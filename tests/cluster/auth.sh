#!/usr/bin/env bash
# auth.sh: users, roles and auth enable on a 3-node cluster (issue 13): redis-cli --user/--pass and -a, redis-py, curl -u and concordctl --user; NOAUTH/NOPERM/401/403; a prefix-limited role; a read-only user on a follower's relay; CONCORD.RELAY without AUTH on the leader; records on every node after a restart (snapshot + log); Origin/Host refusal; protected mode.
source "$(dirname "$0")/lib.sh"

CTL=${CONCORDCTL:-$(dirname "$CONCORD")/../concordctl/concordctl}
PY_REDIS=""
for py in python3 /usr/bin/python3; do
	if "$py" -c 'import redis' 2>/dev/null; then
		PY_REDIS=$py
		break
	fi
done
[ -n "$PY_REDIS" ] || fail "redis-py missing: install Debian python3-redis (scripts/deps.sh)"

# A leader change under load answers CLUSTERDOWN/TRYAGAIN (nothing applied) or HTTP 503:
# retried, a bounded number of times.
retrying() { # command...
	local out tries=0
	while :; do
		out=$("$@" 2>/dev/null)
		[[ "$out" =~ ^(CLUSTERDOWN|TRYAGAIN|503$) ]] && [ $tries -lt 30 ] || break
		tries=$((tries + 1))
		sleep 0.3
	done
	printf '%s\n' "$out"
}
rc1() { local i=$1; shift; timeout $((10 * SLOW)) redis-cli -h 127.0.0.1 -p "${CLIENT[$i]##*:}" "$@"; }
rc() { retrying rc1 "$@"; }
hcode() { retrying hc -o /dev/null -w '%{http_code}' "$@"; }

# Small snapshots, so that the restart below recovers the records from a snapshot and a log.
CLUSTER_FLAGS="--snapshot-entries 8 --snapshot-trailing 2"
cluster_start
wait_leader
for i in 1 2 3; do wait_up "$i"; done
L=$LEADER
F=$(a_follower)
ctl() { timeout $((30 * SLOW)) "$CTL" --endpoints "$(list_of CLIENT | sed 's/n[0-9]=//g')" "$@"; }

log "users and roles, before auth is on (anyone may)"
expect_eq "root user" "$(rc "$F" CONCORD.USER ADD root root-pw root)" OK
expect_eq "role app" "$(ctl role add app)" OK
expect_eq "grant app/" "$(ctl role grant-permission app readwrite app/)" OK
expect_eq "role reader" "$(rc "$L" CONCORD.ROLE ADD reader)" OK
expect_eq "grant read" "$(rc "$L" CONCORD.ROLE GRANT reader read "")" OK
expect_eq "alice" "$(ctl user add alice alice-pw app)" OK
expect_eq "ro" "$(rc "$L" CONCORD.USER ADD ro ro-pw reader)" OK
expect_eq "default" "$(rc "$L" CONCORD.USER ADD default default-pw app)" OK
expect_match "auth needs root" "$(rc "$L" CONCORD.USER REVOKE root root; rc "$L" CONCORD.AUTH ENABLE)" "needs a user named root"
expect_eq "root again" "$(rc "$L" CONCORD.USER GRANT root root)" OK
rc "$L" SET other/k secret >/dev/null
expect_eq "auth enable" "$(ctl auth enable)" OK

log "anonymous requests are refused: NOAUTH, 401 with WWW-Authenticate"
for i in 1 2 3; do
	expect_eq "n$i GET anonymous" "$(rc "$i" GET other/k)" "NOAUTH Authentication required."
done
code=$(hcode "$(url "$F" /v1/kv/other/k)")
expect_eq "HTTP anonymous" "$code" 401
hc -si "$(url "$L" /v1/kv/other/k)" | grep -qi '^WWW-Authenticate: Basic' || fail "no WWW-Authenticate"
expect_eq "web page stays open" "$(hcode "$(url "$F" /)")" 200

# From here the helpers speak as root.
export REDISCLI_AUTH=root-pw
rc1() { local i=$1; shift; timeout $((10 * SLOW)) redis-cli -h 127.0.0.1 -p "${CLIENT[$i]##*:}" --user root "$@"; }
rcu1() { local u=$1 p=$2 i=$3; shift 3; REDISCLI_AUTH=$p timeout $((10 * SLOW)) redis-cli -h 127.0.0.1 -p "${CLIENT[$i]##*:}" --user "$u" "$@"; }
rcu() { retrying rcu1 "$@"; }

log "redis-cli --user/--pass and -a; a role limited to app/"
out=$(retrying timeout 10 redis-cli -h 127.0.0.1 -p "${CLIENT[$F]##*:}" --user alice --pass alice-pw SET app/a 1)
expect_eq "alice writes app/ through a follower" "$out" OK
expect_eq "alice reads app/" "$(rcu alice alice-pw "$L" GET app/a)" 1
expect_match "alice reads other/" "$(rcu alice alice-pw "$F" GET other/k)" "^NOPERM"
expect_match "alice writes other/" "$(rcu alice alice-pw "$F" SET other/k x)" "^NOPERM"
expect_match "alice MSET across" "$(rcu alice alice-pw "$L" MSET app/b 1 other/b 2)" "^NOPERM"
expect_match "alice step-down" "$(rcu alice alice-pw "$L" CONCORD.STEPDOWN)" "^NOPERM"
expect_match "alice SCAN" "$(rcu alice alice-pw "$L" SCAN 0)" "^NOPERM"
expect_match "alice user admin" "$(rcu alice alice-pw "$L" CONCORD.USER ADD eve x)" "^NOPERM"
expect_eq "-a is the default user" "$(retrying timeout 10 redis-cli -h 127.0.0.1 -p "${CLIENT[$L]##*:}" -a default-pw --no-auth-warning GET app/a)" 1
expect_match "wrong password" "$(timeout 10 redis-cli -h 127.0.0.1 -p "${CLIENT[$L]##*:}" --user alice --pass nope --no-auth-warning GET app/a 2>&1)" "WRONGPASS"
expect_eq "whoami" "$(rcu alice alice-pw "$F" ACL WHOAMI)" alice
expect_eq "other/k unchanged" "$(rc "$L" GET other/k)" secret

log "a read-only user on a follower: reads, cannot write through its relay"
expect_eq "ro reads on the follower" "$(rcu ro ro-pw "$F" GET other/k)" secret
expect_match "ro writes on the follower" "$(rcu ro ro-pw "$F" SET other/k hacked)" "^NOPERM"
expect_match "ro writes in MULTI" "$(printf 'MULTI\nSET other/k hacked\nEXEC\n' | rcu1 ro ro-pw "$F")" "NOPERM"
expect_eq "other/k unchanged after ro" "$(rc "$L" GET other/k)" secret
log "the relay greeting alone does not authenticate: the leader asks for AUTH"
out=$(printf '*1\r\n$13\r\nCONCORD.RELAY\r\n*3\r\n$3\r\nSET\r\n$7\r\nother/k\r\n$6\r\nhacked\r\n' |
	timeout 5 python3 -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(sys.stdin.buffer.read())
time.sleep(0.5)
print(s.recv(4096).decode(errors="replace"))' "${CLIENT[$L]##*:}")
expect_match "relay without AUTH" "$out" "NOAUTH"
expect_eq "other/k unchanged after relay" "$(rc "$L" GET other/k)" secret

log "wrong passwords from 6 connections: the node keeps answering; 10 failures close a connection"
out=$(timeout $((60 * SLOW)) python3 "$(dirname "$0")/auth_flood.py" "${CLIENT[$L]##*:}" root root-pw 2>&1) || fail "$out"
log "$out"

log "redis-py username=/password="
out=$(timeout $((60 * SLOW)) "$PY_REDIS" "$(dirname "$0")/auth.py" "${CLIENT[$F]##*:}" 2>&1) || fail "$out"
log "$out"

log "curl -u: 200, 401, 403; HTTP auth routes; relays from a follower"
expect_eq "curl alice PUT app/" "$(hcode -u alice:alice-pw -XPUT --data-binary v "$(url "$F" /v1/kv/app/c)")" 200
expect_eq "curl alice GET other/" "$(hcode -u alice:alice-pw "$(url "$F" /v1/kv/other/k)")" 403
expect_eq "curl bad password" "$(hcode -u alice:bad "$(url "$F" /v1/kv/app/c)")" 401
expect_eq "curl ro PUT via follower" "$(hcode -u ro:ro-pw -XPUT --data-binary v "$(url "$F" /v1/kv/other/k)")" 403
expect_eq "curl alice step-down" "$(hcode -u alice:alice-pw -XPOST "$(url "$L" /v1/admin/step-down)")" 403
expect_eq "curl root adds bob" "$(hcode -u root:root-pw -XPUT -d '{"password": "bob-pw", "roles": ["app"]}' "$(url "$F" /v1/auth/users/bob)")" 200
expect_match "curl bob whoami" "$(hc -u bob:bob-pw "$(url "$L" /v1/auth/whoami)")" '"user": "bob"'

log "concordctl --user"
expect_eq "ctl put as alice" "$(ctl --user alice:alice-pw put app/ctl yes)" OK
expect_eq "ctl get as alice" "$(ctl --user alice:alice-pw get app/ctl)" yes
ctl --user alice:alice-pw get other/k >/dev/null 2>&1 && fail "ctl read other/ as alice"
ctl --user alice:wrong get app/ctl >/dev/null 2>&1 && fail "ctl with a wrong password"
ctl get app/ctl >/dev/null 2>&1 && fail "ctl anonymous"
expect_eq "ctl user list" "$(CONCORD_PASSWORD=root-pw ctl --user root user list | tr '\n' ' ')" "alice bob default ro root "
out=$(CONCORD_PASSWORD=root-pw ctl --user root snapshot save "$DIR/auth.snap" 2>&1) ||
	fail "snapshot save as root: $out"
out=$(ctl --user alice:alice-pw snapshot save "$DIR/alice.snap" 2>&1)
expect_eq "snapshot save as alice (no root role): exit status" "$?" 1
expect_match "snapshot save as alice is refused" "$out" "answered 403"
out=$(ctl snapshot save "$DIR/anon.snap" 2>&1)
expect_eq "snapshot save without credentials: exit status" "$?" 1

log "browser safety: foreign Origin and Host refused with 403"
body=$(hc -s -u root:root-pw -XPUT -H 'Origin: http://evil.example' --data-binary x "$(url "$L" /v1/kv/app/o)")
expect_match "foreign Origin" "$body" "cross-site"
expect_eq "foreign Host" "$(hcode -u root:root-pw -XPOST -H 'Host: evil.example:80' "$(url "$L" /v1/admin/step-down)")" 403
expect_eq "own Origin" "$(hcode -u root:root-pw -XPUT -H "Origin: http://${HTTP[$L]}" --data-binary x "$(url "$L" /v1/kv/app/o)")" 200

m=$(hc -u root:root-pw "$(url "$L" /metrics)")
expect_match "metrics: browser refusals" "$(grep '^concord_http_browser_refused_total' <<<"$m")" ' [1-9]'
expect_match "metrics: failed passwords" "$(grep '^concord_auth_failures_total' <<<"$m")" ' [1-9]'
expect_match "metrics: auth on" "$(grep '^concord_auth_enabled' <<<"$m")" ' 1$'

log "the records on every node, after a restart of all three (snapshot + log)"
idx=$(info_field "$L" commit_index)
for i in 1 2 3; do wait_applied "$i" "$idx"; done
for i in 1 2 3; do node_stop "$i"; done
for i in 1 2 3; do node_start "$i"; done
for i in 1 2 3; do
	tries=0
	until [ "$(rc "$i" PING 2>/dev/null)" = PONG ] || [ $tries -ge $((100 * SLOW)) ]; do sleep 0.1; tries=$((tries + 1)); done
done
wait_leader
grep -q "snapshot" "$DIR"/n1.log || fail "no snapshot was taken"
for i in 1 2 3; do
	expect_eq "n$i users" "$(rc "$i" ACL USERS | tr '\n' ' ')" "alice bob default ro root "
	expect_eq "n$i auth" "$(rc "$i" ACL STATUS)" enabled
	expect_eq "n$i anonymous" "$(retrying timeout 10 redis-cli -h 127.0.0.1 -p "${CLIENT[$i]##*:}" GET app/a)" "NOAUTH Authentication required."
	expect_eq "n$i bob" "$(rcu bob bob-pw "$i" GET app/c)" v
done

log "auth disable: anonymous again"
expect_eq "disable" "$(CONCORD_PASSWORD=root-pw ctl --user root auth disable)" OK
sleep 0.5
expect_eq "anonymous after disable" "$(retrying timeout 10 redis-cli -h 127.0.0.1 -p "${CLIENT[$L]##*:}" GET other/k)" secret

log "clean stops (under the sanitizers: no leak, no runtime error)"
for i in 1 2 3; do node_stop "$i"; done
if grep -l "AddressSanitizer\|runtime error\|LeakSanitizer" "$DIR"/n*.log; then fail "sanitizer reports"; fi

log "protected mode: 0.0.0.0 without auth, TLS or --insecure refuses to start"
read -r -a pp <<<"$(free_ports 3)"
out=$(timeout 20 "$CONCORD" --name p1 --data-dir "$DIR/p1" --listen-peer "127.0.0.1:${pp[0]}" \
	--listen-client "0.0.0.0:${pp[1]}" --listen-http "127.0.0.1:${pp[2]}" 2>&1)
rcode=$?
[ "$rcode" -ne 0 ] || fail "protected mode: a node on 0.0.0.0 started"
expect_match "protected mode log" "$out" "protected mode: --listen-client 0.0.0.0"
out=$(timeout 20 "$CONCORD" --name p1 --data-dir "$DIR/p2" --listen-peer "127.0.0.1:${pp[0]}" \
	--listen-client "127.0.0.1:${pp[1]}" --listen-http "0.0.0.0:${pp[2]}" 2>&1)
expect_match "protected mode HTTP" "$out" "protected mode: --listen-http 0.0.0.0"
log "pass"
