#!/usr/bin/env bash
# auth_ranges.sh: with auth on, a range, a listing or an etcd transaction is allowed only if the user's permissions cover every key it can touch: CONCORD.RANGE/DELRANGE past a prefix, a CONCORD.TXN writing outside it (or by a read-only user), an HTTP range delete by a reader are refused; KEYS and SCAN MATCH within a prefix are served.
source "$(dirname "$0")/lib.sh"

rcu() { local u=$1 p=$2 i=$3; shift 3; REDISCLI_AUTH=$p timeout $((10 * SLOW)) redis-cli -h 127.0.0.1 -p "${CLIENT[$i]##*:}" --user "$u" "$@"; }
hcode() { curl -s -m 10 -o "$DIR/body" -w '%{http_code}' "$@"; }

cluster_start
wait_leader
for i in 1 2 3; do wait_up "$i"; done
L=$LEADER
F=$(a_follower)
for k in app/a app/b app/c other/k zz; do rc "$L" SET "$k" v >/dev/null; done
expect_eq "root" "$(rc "$L" CONCORD.USER ADD root root-pw root)" OK
expect_eq "role app" "$(rc "$L" CONCORD.ROLE ADD app)" OK
expect_eq "grant app/" "$(rc "$L" CONCORD.ROLE GRANT app readwrite app/)" OK
expect_eq "role reader" "$(rc "$L" CONCORD.ROLE ADD reader)" OK
expect_eq "grant read all" "$(rc "$L" CONCORD.ROLE GRANT reader read "")" OK
expect_eq "alice" "$(rc "$L" CONCORD.USER ADD alice alice-pw app)" OK
expect_eq "ro" "$(rc "$L" CONCORD.USER ADD ro ro-pw reader)" OK
expect_eq "auth enable" "$(rc "$L" CONCORD.AUTH ENABLE)" OK
applied() { rcu root root-pw "$1" INFO | tr -d '\r' | sed -n 's/^applied_index://p'; }
want=$(applied "$L")
for _ in $(seq 1 $((50 * SLOW))); do
	[ "$(applied "$F")" -ge "$want" ] 2>/dev/null && break
	sleep 0.1
done

log "alice (readwrite app/): ranges within app/ only"
expect_eq "RANGE app/ PREFIX" "$(rcu alice alice-pw "$F" CONCORD.RANGE app/ PREFIX KEYSONLY COUNTONLY | sed -n 2p)" 3
expect_match "RANGE app/ END zzz" "$(rcu alice alice-pw "$F" CONCORD.RANGE app/ END zzz)" "^NOPERM"
expect_match "RANGE app/ FROMKEY" "$(rcu alice alice-pw "$L" CONCORD.RANGE app/ FROMKEY)" "^NOPERM"
expect_eq "RANGE app/a END app/c" "$(rcu alice alice-pw "$L" CONCORD.RANGE app/a END app/c COUNTONLY | sed -n 2p)" 2
expect_match "DELRANGE app/ END zzz" "$(rcu alice alice-pw "$L" CONCORD.DELRANGE app/ END zzz)" "^NOPERM"
expect_eq "other/k survived" "$(rcu root root-pw "$L" GET other/k)" v
expect_eq "KEYS app/*" "$(rcu alice alice-pw "$F" KEYS 'app/*' | sort | tr '\n' ' ')" "app/a app/b app/c "
expect_match "KEYS *" "$(rcu alice alice-pw "$F" KEYS '*')" "^NOPERM"
expect_match "KEYS a*" "$(rcu alice alice-pw "$F" KEYS 'a*')" "^NOPERM"
expect_match "SCAN MATCH app/*" "$(rcu alice alice-pw "$L" SCAN 0 MATCH 'app/*' COUNT 100 | tr '\n' ' ')" "app/"
expect_match "SCAN without MATCH" "$(rcu alice alice-pw "$L" SCAN 0)" "^NOPERM"
expect_match "TXN writing other/" "$(rcu alice alice-pw "$L" CONCORD.TXN 0 1 PUT other/x v 0)" "^NOPERM"
expect_match "TXN comparing other/" "$(rcu alice alice-pw "$L" CONCORD.TXN 1 other/k VALUE = v 1 PUT app/x v 0)" "^NOPERM"
expect_match "TXN deleting past app/ in the else branch" "$(rcu alice alice-pw "$L" CONCORD.TXN 0 0 1 DEL app/ zzz)" "^NOPERM"
expect_eq "TXN within app/" "$(rcu alice alice-pw "$L" CONCORD.TXN 1 app/a VALUE = v 1 PUT app/x v2 0 | head -1)" 1

log "alice: watches and keyspace notifications within app/ only"
sub() { timeout 1 redis-cli -h 127.0.0.1 -p "${CLIENT[$F]##*:}" --user alice --pass alice-pw --no-auth-warning "$@" 2>&1 | head -3 | tr '\n' ' '; }
expect_match "WATCH PREFIX other/" "$(sub CONCORD.WATCH PREFIX other/)" "NOPERM"
expect_match "WATCH RANGE app/ to the end" "$(sub CONCORD.WATCH RANGE app/ "")" "NOPERM"
expect_match "WATCH other/k" "$(sub CONCORD.WATCH other/k)" "NOPERM"
expect_match "WATCH PREFIX app/" "$(sub CONCORD.WATCH PREFIX app/)" "^concord.watch"
expect_match "SUBSCRIBE to other/k's notifications" "$(sub SUBSCRIBE __keyspace@0__:other/k)" "NOPERM"
expect_match "PSUBSCRIBE *" "$(sub PSUBSCRIBE '*')" "NOPERM"
expect_match "PSUBSCRIBE __keyevent@0__:*" "$(sub PSUBSCRIBE '__keyevent@0__:*')" "NOPERM"
expect_match "PSUBSCRIBE app/'s notifications" "$(sub PSUBSCRIBE '__keyspace@0__:app/*')" "^psubscribe"
expect_match "SUBSCRIBE a plain channel" "$(sub SUBSCRIBE news)" "^subscribe news"

log "ro (read on every key): reads, never writes, even through a transaction or a range delete"
expect_eq "ro RANGE everything" "$(rcu ro ro-pw "$F" CONCORD.RANGE "" FROMKEY COUNTONLY | sed -n 2p)" 6
expect_match "ro TXN PUT" "$(rcu ro ro-pw "$L" CONCORD.TXN 0 1 PUT zz hacked 0)" "^NOPERM"
expect_match "ro DELRANGE" "$(rcu ro ro-pw "$L" CONCORD.DELRANGE "" FROMKEY)" "^NOPERM"
expect_eq "ro HTTP range delete" "$(hcode -u ro:ro-pw -X DELETE "$(url "$L" '/v1/kv?prefix=app/')")" 403
expect_eq "alice HTTP delete past app/" "$(hcode -u alice:alice-pw -X DELETE "$(url "$L" '/v1/kv?key=app/&range_end=zzz')")" 403
expect_eq "alice HTTP list of everything" "$(hcode -u alice:alice-pw "$(url "$F" '/v1/kv?key=a&range_end=zzz')")" 403
expect_eq "alice HTTP prefix listing" "$(hcode -u alice:alice-pw "$(url "$F" '/v1/kv?prefix=app/')")" 200
expect_eq "zz survived" "$(rcu root root-pw "$L" GET zz)" v
expect_eq "alice HTTP delete of app/" "$(hcode -u alice:alice-pw -X DELETE "$(url "$L" '/v1/kv?prefix=app/')")" 200
expect_eq "app/ is gone" "$(rcu root root-pw "$L" KEYS 'app/*')" ""
log "ok"
