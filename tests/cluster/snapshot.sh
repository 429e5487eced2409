#!/usr/bin/env bash
# snapshot.sh: backup and restore: concordctl snapshot save from a follower under write load, snapshot status, concord restore into a fresh 3-node cluster with every key and revision as the snapshot holds them; a damaged file refused.
source "$(dirname "$0")/lib.sh"
CTL=${CONCORDCTL:-$(dirname "$CONCORD")/../concordctl/concordctl}
PY=/usr/bin/python3

cluster_start
wait_leader
L=$LEADER
F=$(a_follower)
for i in 1 2 3; do wait_up "$i"; done
log "leader n$L; the backup comes from n$F"

# Write load on the leader: new keys, overwrites, deletes, until told to stop (bounded).
"$PY" - "${CLIENT[$L]##*:}" "$DIR/stop" "$DIR/writes" <<'PY' &
import os, sys, time, redis
port, stop, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
r = redis.Redis(host="127.0.0.1", port=port, socket_timeout=10)
n, t0 = 0, time.time()
while not os.path.exists(stop) and n < 20000 and time.time() - t0 < 40:
    p = r.pipeline(transaction=False)
    for _ in range(20):
        p.set("w/%06d" % n, "v%d" % n)
        p.set("hot/%d" % (n % 7), "h%d" % n)
        if n % 5 == 0:
            p.delete("w/%06d" % (n - 3))
        n += 1
    p.execute()
    time.sleep(0.01)  # the history the check reads back (10000 revisions) must outlast the save
open(out, "w").write(str(n))
PY
PIDS[90]=$!

tries=0
until [ "$(rc "$L" DBSIZE 2>/dev/null)" -gt 200 ] 2>/dev/null; do
	tries=$((tries + 1))
	[ $tries -lt $((100 * SLOW)) ] || fail "the write load did not start"
	sleep 0.1
done
SAVE=$("$CTL" --endpoints "${CLIENT[$F]}" snapshot save --from-endpoint "$DIR/backup.snap" 2>&1)
rcode=$?
log "$SAVE"
expect_eq "snapshot save exit status" "$rcode" 0
expect_match "--from-endpoint reads the follower" "$SAVE" "from ${HTTP[$F]}\)"
# Without it, the follower named as the endpoint sends the save to the leader.
LSAVE=$("$CTL" --endpoints "${CLIENT[$F]}" snapshot save "$DIR/leader.snap" 2>&1)
expect_eq "snapshot save via the follower, exit status" "$?" 0
expect_match "the save reads the leader" "$LSAVE" "from ${HTTP[$L]}\)"
[ -f "$DIR/backup.snap.part" ] && fail "the partial file was left behind"
sleep 0.2
touch "$DIR/stop"
wait "${PIDS[90]}" || fail "the write load failed"
PIDS[90]=""
WRITES=$(cat "$DIR/writes")

ST=$("$CTL" -w json snapshot status "$DIR/backup.snap") || fail "snapshot status: $ST"
log "status: $ST"
field() { "$PY" -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$ST" "$1"; }
SREV=$(field revision)
SKEYS=$(field keys)
expect_eq "checksum_ok" "$(field checksum_ok)" True
expect_eq "the configuration's voters" "$(field voters)" "[1, 2, 3]"
FINAL=$(curl -s "$(url "$L" /v1/kv?limit=1)" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["revision"])')
log "writes $WRITES; snapshot at revision $SREV with $SKEYS keys; the cluster went on to $FINAL"
[ "$SREV" -gt 200 ] || fail "the snapshot is from before the load ($SREV)"
[ "$FINAL" -gt "$SREV" ] || fail "no write after the snapshot: it was not taken under load"
TABLE=$("$CTL" snapshot status "$DIR/backup.snap")
expect_match "status table" "$TABLE" "REVISION.*KEYS"
expect_match "status table row" "$TABLE" "\| *$SREV *\| *$SKEYS *\|"

# Every key as the original cluster had it at the snapshot's revision.
dump() { # http-address revision out-file
	"$PY" - "$1" "$2" "$3" <<'PY'
import json, sys, urllib.parse, urllib.request
base, rev, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
kvs, start = {}, None
for _ in range(10000):
    q = {"limit": "1000"}
    if rev:
        q["rev"] = str(rev)
    if start is not None:
        q["start"] = start
    with urllib.request.urlopen("http://%s/v1/kv?%s" % (base, urllib.parse.urlencode(q)), timeout=20) as f:
        page = json.load(f)
    for kv in page["kvs"]:
        kvs[kv["key"]] = [kv["value"], kv["create_revision"], kv["mod_revision"], kv["version"]]
    if not page.get("more"):
        break
    start = page["next"]
json.dump({"revision": page["revision"], "kvs": kvs}, open(out, "w"), sort_keys=True)
PY
}
dump "${HTTP[$L]}" "$SREV" "$DIR/want.json" || fail "reading the original cluster at revision $SREV"
NWANT=$("$PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["kvs"]))' "$DIR/want.json")
expect_eq "keys at revision $SREV" "$NWANT" "$SKEYS"

log "damaged copies are refused"
cp "$DIR/backup.snap" "$DIR/bad.snap"
SIZE=$(stat -c %s "$DIR/bad.snap")
printf '\x5a' | dd of="$DIR/bad.snap" bs=1 seek=$((SIZE / 2)) conv=notrunc 2>/dev/null
cmp -s "$DIR/backup.snap" "$DIR/bad.snap" && printf '\xa5' | dd of="$DIR/bad.snap" bs=1 seek=$((SIZE / 2)) conv=notrunc 2>/dev/null
OUT=$("$CTL" snapshot status "$DIR/bad.snap" 2>&1)
expect_eq "status of a damaged file" "$?" 1
expect_match "status names the damage" "$OUT" "checksum mismatch"
head -c $((SIZE - 10)) "$DIR/backup.snap" >"$DIR/short.snap"
OUT=$("$CTL" snapshot status "$DIR/short.snap" 2>&1)
expect_eq "status of a truncated file" "$?" 1

log "restore into a fresh 3-node cluster"
for i in 1 2 3; do node_kill9 "$i"; done
rm -rf "$DIR"/n1 "$DIR"/n2 "$DIR"/n3
cluster_addresses
OUT=$("$CONCORD" restore "$DIR/bad.snap" --name n1 --data-dir "$DIR/n1" \
	--initial-cluster "$(list_of PEER)" --cluster-id restored 2>&1)
expect_eq "restore of a damaged file" "$?" 1
expect_match "restore names the damage" "$OUT" "checksum mismatch"
[ -e "$DIR/n1/meta" ] && fail "a damaged restore left a data directory"
rm -rf "$DIR/n1"
for i in 1 2 3; do
	OUT=$("$CONCORD" restore "$DIR/backup.snap" --name "n$i" --data-dir "$DIR/n$i" \
		--initial-cluster "$(list_of PEER)" --initial-cluster-client "$(list_of CLIENT)" \
		--initial-cluster-http "$(list_of HTTP)" --cluster-id restored 2>&1) ||
		fail "restore n$i: $OUT"
	log "$OUT"
done
OUT=$("$CONCORD" restore "$DIR/backup.snap" --name n1 --data-dir "$DIR/n1" \
	--initial-cluster "$(list_of PEER)" --cluster-id restored 2>&1)
expect_eq "restore over an existing data directory" "$?" 1
expect_match "restore refuses an existing directory" "$OUT" "already holds a data directory"
# What a crash during a backup leaves behind goes when the node starts.
mkdir -p "$DIR/n1/backup/job-99999"
echo partial >"$DIR/n1/backup/job-99999/snapshot-10-2.tmp"
CLUSTER_FLAGS="--cluster-id restored"
for i in 1 2 3; do node_start "$i"; done
wait_leader
[ -e "$DIR/n1/backup/job-99999" ] && fail "the leftover backup job directory is still there"
grep -q "backup: removed .*/backup/job-99999 (1 file)" "$DIR/n1.log" || fail "n1 did not log removing the leftover job"
L=$LEADER
F=$(a_follower)
for i in 1 2 3; do wait_up "$i"; done
dump "${HTTP[$L]}" 0 "$DIR/got.json" || fail "reading the restored cluster"
"$PY" - "$DIR/want.json" "$DIR/got.json" "$SREV" <<'PY' || fail "the restored keys differ from the snapshot's"
import json, sys
want, got, srev = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), int(sys.argv[3])
w, g = want["kvs"], got["kvs"]
missing = sorted(set(w) - set(g))[:5]
extra = sorted(set(g) - set(w))[:5]
diff = [k for k in w if k in g and w[k] != g[k]][:5]
if missing or extra or diff:
    print("missing", missing, "extra", extra, "differ", [(k, w[k], g[k]) for k in diff])
    sys.exit(1)
if got["revision"] <= srev:
    print("restored revision", got["revision"], "not above", srev)
    sys.exit(1)
print("%d keys equal, values and create/mod revisions and versions; revision %d -> %d" % (len(w), srev, got["revision"]))
PY
expect_match "the restored cluster's id" "$(curl -s "$(url "$L" /v1/cluster)")" '"cluster_id": *"restored"'
expect_eq "write via a follower of the restored cluster" "$(rc "$F" SET after-restore yes)" OK
expect_eq "read it back" "$(rc "$L" GET after-restore)" yes
log "ok"
