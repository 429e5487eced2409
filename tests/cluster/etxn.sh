#!/usr/bin/env bash
# etxn.sh: etcd-style transactions (issue 14 item 3) on a real cluster: POST /v1/txn with curl (compares on value, version, create and mod revision; success and failure branches; ranges and range deletes inside; atomic, one revision), CONCORD.TXN with redis-cli, and concordctl txn with etcdctl's stdin format, on the leader and through a follower.
source "$(dirname "$0")/lib.sh"

CTL=${CONCORDCTL:-$(cd "$(dirname "$0")/../.." && pwd)/build/tools/concordctl/concordctl}
cluster_start
wait_leader
L=$LEADER
F=$((L == 1 ? 2 : 1))
for i in 1 2 3; do wait_up "$i"; done
wait_revision_still "$L"
eq() { [ "$2" == "$3" ] || fail "$1: got [$2], want [$3]"; }
flat() { tr -d '\r' | paste -sd' ' -; }
# post NODE BODY: the JSON answer of POST /v1/txn, following a follower's redirect.
post() { hc -L -X POST "$(url "$1" /v1/txn)" -H 'Content-Type: application/json' -d "$2"; }
# py EXPR < json: evaluates EXPR on the parsed answer d.
py() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

rc "$L" MSET a 1 b 2 c 3 >/dev/null || fail "mset"
rev=$(rc "$L" CONCORD.RANGE a | head -n1)

log "POST /v1/txn on the follower n$F: every compare kind, the success branch"
body='{"compare": [{"key": "a", "target": "VALUE", "result": "EQUAL", "value": "1"},
  {"key": "a", "target": "VERSION", "result": "EQUAL", "version": 1},
  {"key": "b", "target": "CREATE", "result": "=", "create_revision": '$rev'},
  {"key": "c", "target": "MOD", "result": "<", "mod_revision": '$((rev + 1))'},
  {"key": "zz", "target": "MOD", "result": "EQUAL", "mod_revision": 0},
  {"key": "b", "target": "value", "result": "!=", "value": "x"},
  {"key": "c", "target": "VALUE", "result": "GREATER", "value": "2"}],
 "success": [{"request_put": {"key": "a", "value": "one"}},
  {"request_range": {"key": "a", "range_end": "c"}},
  {"request_delete_range": {"key": "b", "range_end": "\u0000"}},
  {"request_range": {"key": "", "range_end": "\u0000", "count_only": true}}],
 "failure": [{"request_put": {"key": "failed", "value": "1"}}]}'
j=$(post "$F" "$body") || fail "curl"
eq "succeeded" "$(py 'd["succeeded"], d["revision"]' <<<"$j")" "True $((rev + 1))"
eq "range sees the put" "$(py '" ".join(k["key"]+"="+k["value"] for k in d["responses"][1]["response_range"]["kvs"])' <<<"$j")" "a=one b=2"
eq "delete range" "$(py 'd["responses"][2]["response_delete_range"]["deleted"]' <<<"$j")" "2"
eq "count after" "$(py 'd["responses"][3]["response_range"]["count"]' <<<"$j")" "1"
eq "one revision" "$(rc "$L" CONCORD.RANGE "" FROMKEY | flat)" "$((rev + 1)) 1 0 a one"

log "a failing compare runs the failure branch only"
for cmp in '"target": "VALUE", "result": "EQUAL", "value": "1"' \
	'"target": "VERSION", "result": ">", "version": 2' \
	'"target": "CREATE", "result": "!=", "create_revision": '$rev \
	'"target": "MOD", "result": "LESS", "mod_revision": '$((rev + 1)); do
	j=$(post "$L" '{"compare": [{"key": "a", '"$cmp"'}], "success": [{"request_put": {"key": "s", "value": "1"}}],
	  "failure": [{"request_range": {"key": "a"}}]}') || fail "curl"
	eq "failure on $cmp" "$(py 'd["succeeded"], d["responses"][0]["response_range"]["kvs"][0]["value"]' <<<"$j")" "False one"
done
eq "nothing written" "$(rc "$L" EXISTS s)" "0"
code=$(hc -o /dev/null -w '%{http_code}' -X POST "$(url "$L" /v1/txn)" -d '{"compare": [{"key": "a", "target": "NOPE", "result": "EQUAL"}]}')
eq "a bad compare" "$code" "400"
code=$(hc -o /dev/null -w '%{http_code}' -X POST "$(url "$L" /v1/txn)" -d '{"success": [{"request_put": {"key": "\u0000concord/member/9", "value": "x"}}]}')
eq "a reserved key" "$code" "400"

log "CONCORD.TXN with redis-cli"
eq "CONCORD.TXN" "$(rc "$F" CONCORD.TXN 1 a VALUE = one 2 PUT a two GET a '' 1 PUT x 1 | flat)" "1 $((rev + 2)) OK 1 a two"
eq "CONCORD.TXN failure" "$(rc "$L" CONCORD.TXN 1 a MOD '>' 999 1 PUT x 1 1 DEL a '' | flat)" "0 $((rev + 3)) 1"
rc "$L" CONCORD.TXN 1 a BOGUS = 1 0 0 | grep -q "syntax error" || fail "bad CONCORD.TXN accepted"

log "range deletes that list what they deleted (etcd's prev_kv) inside transactions"
rc "$L" MSET pk/1 one pk/2 two pk/3 three >/dev/null
eq "CONCORD.TXN DELPREV" "$(rc "$F" CONCORD.TXN 0 1 DELPREV pk/1 pk/3 0 | flat | cut -d' ' -f1,3-)" "1 2 pk/1 one pk/2 two"
eq "DELPREV deleted them" "$(rc "$L" EXISTS pk/1 pk/2 pk/3)" "1"
eq "DELPREV of nothing lists nothing" "$(rc "$L" CONCORD.TXN 0 1 DELPREV pk/1 pk/3 0 | flat | cut -d" " -f1,3- | sed "s/ *$//")" "1 0"
out=$(post "$F" '{"success": [{"request_delete_range": {"key": "pk/3", "prev_kv": true}}, {"request_delete_range": {"key": "nokey", "prev_kv": true}}, {"request_delete_range": {"key": "nokey"}}]}')
eq "HTTP delete_range prev_kv" "$(py "[(r['response_delete_range']['deleted'], [(k['key'], k['value']) for k in r['response_delete_range'].get('prev_kvs', [None])] if r['response_delete_range'].get('prev_kvs') is not None else None) for r in d['responses']]" <<<"$out")" "[(1, [('pk/3', 'three')]), (0, []), (0, None)]"

log "concordctl txn (etcdctl's input)"
E="${CLIENT[1]},${CLIENT[2]},${CLIENT[3]}"
ctl() { timeout $((20 * SLOW)) "$CTL" --endpoints "$E" "$@"; }
ctl put key1 v1 >/dev/null && ctl put p/a 1 >/dev/null && ctl put p/b 2 >/dev/null || fail "ctl put"
out=$(printf 'mod("key1") > "0"\nval("key1") = "v1"\n\nput key1 "overwrote key1"\nget key1\nget p/ --prefix\ndel p/ --prefix\n\nput key1 "created-key1"\n' | ctl txn) || fail "ctl txn: $out"
eq "ctl txn success" "$(flat <<<"$out")" "SUCCESS  OK  key1 overwrote key1  p/a 1 p/b 2  2"
out=$(printf 'value("key1") = "v1"\n\nput key1 x\n\nget key1\n' | ctl txn) || fail "ctl txn: $out"
eq "ctl txn failure" "$(flat <<<"$out")" "FAILURE  key1 overwrote key1"
out=$(printf 'ver("nokey") = "0"\nc("key1") > "0"\nm("key1") != "0"\n\nput k2 "a \\"quoted\\" value"\n' | ctl txn) || fail "ctl txn: $out"
eq "ctl txn abbreviations" "$(flat <<<"$out")" "SUCCESS  OK"
eq "quoted value" "$(ctl get k2)" 'a "quoted" value'
ctl put dp/a 1 >/dev/null && ctl put dp/b 2 >/dev/null || fail "ctl put dp/"
out=$(printf '\ndel dp/ --prefix --prev-kv\ndel dp/ --prefix --prev-kv\nget dp/ --prefix\n' | ctl txn) || fail "ctl txn: $out"
eq "ctl txn del --prev-kv" "$(flat <<<"$out")" "SUCCESS  2 dp/a 1 dp/b 2  0"
printf '\nget k --prev-kv\n' | ctl txn >/dev/null 2>&1
eq "ctl txn --prev-kv on a get is a usage error" "$?" "2"
printf 'bad("k") = "1"\n' | ctl txn >/dev/null 2>&1
eq "ctl txn usage error" "$?" "2"
log "pass"
