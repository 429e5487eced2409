#!/usr/bin/env bash
# ranges.sh: etcd-style ranges (issue 14 item 4) on a real cluster: CONCORD.RANGE/DELRANGE with redis-cli, KEYS/SCAN MATCH globs with redis-py against a model of Redis's rules, GET/DELETE /v1/kv ranges with curl, and concordctl get/del ranges.
source "$(dirname "$0")/lib.sh"

CTL=${CONCORDCTL:-$(cd "$(dirname "$0")/../.." && pwd)/build/tools/concordctl/concordctl}
PY_REDIS=""
for py in python3 /usr/bin/python3; do
	if "$py" -c 'import redis' 2>/dev/null; then
		PY_REDIS=$py
		break
	fi
done
[ -n "$PY_REDIS" ] || fail "redis-py missing: install Debian python3-redis (scripts/deps.sh)"

cluster_start
wait_leader
L=$LEADER
F=$((L == 1 ? 2 : 1))
for i in 1 2 3; do wait_up "$i"; done

# First, on an empty store: the model knows every key.
log "KEYS and SCAN MATCH globs (redis-py) on the leader and the follower"
for node in "$L" "$F"; do
	out=$(timeout $((60 * SLOW)) "$PY_REDIS" "$(dirname "$0")/glob.py" "${CLIENT[$node]##*:}" 2>&1) ||
		fail "glob.py on n$node: $out"
	log "n$node: $out"
done

# eq WHAT GOT WANT
eq() { [ "$2" == "$3" ] || fail "$1: got [$2], want [$3]"; }
flat() { tr -d '\r' | paste -sd' ' -; }

rc "$L" CONCORD.DELRANGE "" FROMKEY >/dev/null || fail "clearing the glob keys"
log "CONCORD.RANGE and CONCORD.DELRANGE (redis-cli, through the follower n$F)"
rc "$F" MSET r/a 1 r/b 2 r/c 3 r/d 4 s 5 >/dev/null || fail "mset"
rev=$(rc "$L" CONCORD.RANGE r/a | head -n1)
eq "range [r/b, r/d)" "$(rc "$F" CONCORD.RANGE r/b END r/d | flat)" "$rev 2 0 r/b 2 r/c 3"
eq "prefix, limit" "$(rc "$L" CONCORD.RANGE r/ PREFIX LIMIT 2 KEYSONLY | flat)" "$rev 4 1 r/a r/b"
eq "from key, count only" "$(rc "$L" CONCORD.RANGE r/c FROMKEY COUNTONLY | flat)" "$rev 3 0 "
eq "single key" "$(rc "$L" CONCORD.RANGE s | flat)" "$rev 1 0 s 5"
eq "delrange" "$(rc "$F" CONCORD.DELRANGE r/b END r/d PREVKV | flat)" "2 r/b 2 r/c 3"
eq "revision after" "$(rc "$L" CONCORD.RANGE r/ PREFIX KEYSONLY | flat)" "$((rev + 1)) 2 0 r/a r/d"
eq "at the old revision" "$(rc "$L" CONCORD.RANGE r/ PREFIX KEYSONLY REV "$rev" | flat)" \
	"$rev 4 0 r/a r/b r/c r/d"
eq "delrange of nothing" "$(rc "$L" CONCORD.DELRANGE r/b END r/d)" "0"
rc "$L" CONCORD.RANGE a BOGUS | grep -q "syntax error" || fail "bad option accepted"
rc "$L" CONCORD.RANGE a REV 999999 | grep -q "future" || fail "future revision accepted"

log "HTTP ranges (curl)"
U=$(url "$L" /v1/kv)
rc "$L" MSET h/1 a h/2 b h/3 c i 1 >/dev/null
j=$(hc "$U?key=h/1&range_end=h/3") || fail "curl"
jq_keys() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("count"), d.get("more"), " ".join(k["key"] for k in d.get("kvs", d.get("prev_kvs", []))))'; }
eq "GET range" "$(jq_keys <<<"$j")" "2 False h/1 h/2"
eq "GET prefix count_only" "$(hc "$U?prefix=h/&count_only=1" | jq_keys)" "3 False "
eq "GET from key, limit" "$(hc "$U?key=h/2&range_end=%00&limit=1&keys_only=1" | jq_keys)" \
	"$(printf '%s' "$(hc "$U?key=h/2&range_end=%00&count_only=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])') True h/2")"
eq "GET one key" "$(hc "$U?key=i" | jq_keys)" "1 False i"
d=$(hc -X DELETE "$U?prefix=h/&prev_kv=1") || fail "curl delete"
eq "DELETE prefix" "$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["deleted"], " ".join(k["key"] for k in d["prev_kvs"]))' <<<"$d")" "3 h/1 h/2 h/3"
code=$(hc -o /dev/null -w '%{http_code}' -X DELETE "$U")
eq "DELETE without a range" "$code" "400"
eq "DELETE range on a follower" "$(hc -L -X DELETE "$(url "$F" /v1/kv)?key=i&range_end=j" | python3 -c 'import json,sys; print(json.load(sys.stdin)["deleted"])')" "1"

log "concordctl get/del ranges"
E="${CLIENT[1]},${CLIENT[2]},${CLIENT[3]}"
ctl() { timeout $((20 * SLOW)) "$CTL" --endpoints "$E" "$@"; }
ctl put c/1 x >/dev/null && ctl put c/2 y >/dev/null && ctl put c/3 z >/dev/null || fail "ctl put"
crev=$(rc "$L" CONCORD.RANGE c/1 | head -n1)
eq "get KEY (value only, as before)" "$(ctl get c/1)" "x"
eq "get --prefix" "$(ctl get c/ --prefix | flat)" "c/1 x c/2 y c/3 z"
eq "get KEY END" "$(ctl get c/1 c/3 --keys-only | flat)" "c/1 c/2"
eq "get --limit" "$(ctl get c/ --prefix --limit 2 --keys-only | flat)" "c/1 c/2"
eq "get --count-only" "$(ctl get c/ --prefix --count-only)" "3"
eq "get --from-key" "$(ctl get c/2 --from-key --keys-only | flat)" "c/2 c/3 r/a r/d s"
ctl put c/1 x2 >/dev/null
eq "get --rev" "$(ctl get c/1 --prefix --rev "$crev" --limit 1 | flat)" "c/1 x"
eq "del --prefix --prev-kv" "$(ctl del c/ --prefix --prev-kv | flat)" "3 c/1 x2 c/2 y c/3 z"
eq "del KEY END" "$(ctl del r/a r/e)" "2"
eq "get after" "$(ctl get '' --from-key --keys-only | flat)" "s"
ctl get --bogus x >/dev/null 2>&1
eq "usage error" "$?" "2"
log "pass"
