#!/usr/bin/env bash
# damage_sweep.sh: a seeded sweep of damage to real data directories: DAMAGE_TRIALS (50) times, one member of a 3-node cluster under writes is killed, its directory gets 4 bit flips (WAL segments, meta, snapshots) and 1 truncation (damage.py), and it restarts; it must repair itself from its peers or refuse, naming a file and an offset (then its directory from before the damage is put back). In the end every acknowledged write reads back.
source "$(dirname "$0")/lib.sh"

TRIALS=${DAMAGE_TRIALS:-50}
SEED=${DAMAGE_SEED:-1}
FLIPS=4 CUTS=1
HERE=$(cd "$(dirname "$0")" && pwd)
CLUSTER_FLAGS="--snapshot-entries 150 --snapshot-trailing 40 --wal-segment-bytes 32768"
cluster_start
wait_leader
for i in 1 2 3; do wait_up "$i"; done

# 30 writes through the leader, pipelined; the acknowledged ones are kept in $DIR/acked.
n=0
writes() {
	local L out
	wait_leader
	L=$LEADER
	: >"$DIR/batch"
	for _ in $(seq 1 30); do
		n=$((n + 1))
		printf 'SET d%d v%d-%s\r\n' "$n" "$n" "$(head -c 40 /dev/zero | tr '\0' x)" >>"$DIR/batch"
	done
	out=$(timeout $((20 * SLOW)) redis-cli -h 127.0.0.1 -p "${CLIENT[$L]##*:}" <"$DIR/batch" 2>&1)
	local k=$((n - 30)) line
	while IFS= read -r line; do
		k=$((k + 1))
		[ "$line" = OK ] && echo "$k" >>"$DIR/acked"
	done <<<"$out"
}

repaired=0 refused=0 quiet=0
for t in $(seq 1 "$TRIALS"); do
	writes
	V=$(((t % 3) + 1))
	node_kill9 "$V"
	rm -rf "$DIR/before"
	cp -a "$DIR/n$V" "$DIR/before"
	lines=$(wc -l <"$DIR/n$V.log")
	{ echo "trial $t: n$V"; python3 "$HERE/damage.py" "$DIR/n$V" $((SEED * 100000 + t)) $FLIPS $CUTS; } >>"$DIR/damage.log" ||
		fail "damage.py failed in trial $t"
	node_start "$V"
	# It serves, or it exits refusing.
	up=0
	for _ in $(seq 1 $((100 * SLOW))); do
		[ "$(rc "$V" PING 2>/dev/null)" = PONG ] && up=1 && break
		node_alive "$V" || break
		sleep 0.1
	done
	new=$(tail -n +$((lines + 1)) "$DIR/n$V.log")
	if [ "$up" = 0 ]; then
		node_alive "$V" && fail "trial $t: n$V neither serves nor exits"
		wait "${PIDS[$V]}" 2>/dev/null
		PIDS[$V]=""
		grep -qiE "(wal/|snap/|meta).*offset|offset.*(wal/|snap/|meta)" <<<"$new" ||
			fail "trial $t: n$V refused without naming a file and an offset: $(tail -n 3 <<<"$new")"
		refused=$((refused + 1))
		[ -n "${DAMAGE_VERBOSE:-}" ] && log "trial $t: n$V refused: $(grep -iE "offset" <<<"$new" | tail -n 1 | cut -c1-240)"
		rm -rf "$DIR/n$V"
		mv "$DIR/before" "$DIR/n$V"
		node_start "$V"
		wait_up "$V"
	elif grep -qE "recovery (repaired|found damage)" <<<"$new"; then
		repaired=$((repaired + 1))
	else
		quiet=$((quiet + 1)) # the damage fell where recovery did not need it (the unused tail)
	fi
	wait_leader
done
writes
wait_leader
L=$LEADER
log "trials $TRIALS ($((TRIALS * FLIPS)) flips, $((TRIALS * CUTS)) cuts): $repaired repaired, $refused refused, $quiet needed nothing"

# Every acknowledged write, read through the leader (linearizable), and every member
# catches up to the same state.
acked=$(wc -l <"$DIR/acked")
[ "$acked" -ge $((TRIALS * 20)) ] || fail "only $acked writes were acknowledged"
missing=$(python3 - "${CLIENT[$L]##*:}" "$DIR/acked" <<'PY'
import socket, sys
keys = [int(x) for x in open(sys.argv[2]).read().split()]
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
f = s.makefile("rb")
def value():
    head = f.readline()
    if head.startswith(b"$-1"):
        return None
    n = int(head[1:])
    data = f.read(n + 2)[:-2]
    return data.decode()
lost = 0
for i in range(0, len(keys), 200):
    chunk = keys[i:i + 200]
    args = [b"MGET"] + [b"d%d" % k for k in chunk]
    s.sendall(b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args))
    assert f.readline().startswith(b"*%d" % len(chunk))
    for k in chunk:
        if value() != "v%d-%s" % (k, "x" * 40):
            lost += 1
print(lost)
PY
)
expect_eq "acknowledged writes lost" "$missing" 0
commit=$(info_field "$L" commit_index)
for i in 1 2 3; do wait_applied "$i" "$commit"; done
log "ok: $acked acknowledged writes all read back"
