#!/usr/bin/env bash
# bench-server.sh: redis-benchmark SET/GET against a local 3-node concord cluster (fsync on), and the resident memory of an idle node and of one holding 1M keys of 256 B.
#
# Usage: scripts/bench-server.sh [requests-per-run]   (default 100000; -c 1 runs use a tenth)
# Builds nothing: run `make build` first. Starts its own cluster under a temporary
# directory and stops it (by pid) whatever happens. Environment: CONCORD (the binary),
# KEYS (default 1000000), VALUE_BYTES (default 256), SKIP_MEMORY=1 to skip the load.
set -uo pipefail
cd "$(dirname "$0")/.."
export CONCORD=${CONCORD:-$PWD/build/tools/concord/concord}
export TEST_NAME=bench
[ -x "$CONCORD" ] || { echo "no $CONCORD: run make build first" >&2; exit 1; }
command -v redis-benchmark >/dev/null || { echo "redis-benchmark missing (apt-get install redis-tools)" >&2; exit 1; }
# shellcheck source=../tests/cluster/lib.sh
source tests/cluster/lib.sh
REQUESTS=${1:-100000}
# The node's default timing (50 ms ticks, elections after 0.5 to 1 s), not the tests' faster one.
# A long request timeout: a deep pipeline of large MSETs may queue for seconds behind a
# snapshot on two shared CPUs, and a timed-out write would only be loaded again.
export CLUSTER_FLAGS=${CLUSTER_FLAGS:-"--tick-ms 50 --election-ticks 10 --request-timeout-ms 60000"}
KEYS=${KEYS:-1000000}
VALUE_BYTES=${VALUE_BYTES:-256}

rss_kib() { # pid
	awk '/^VmRSS:/ {print $2}' "/proc/$1/status"
}

cluster_start
wait_leader
L=$LEADER
P=${CLIENT[$L]##*:}
log "3 nodes on loopback, leader n$L (RESP port $P), data under $DIR; $(nproc) CPUs"
log "fsync: every acknowledged write is fsynced on the leader and a follower"

echo
[ "${SKIP_BENCH:-0}" = 1 ] || {
printf '%-6s %-6s %14s %14s %10s %10s\n' clients pipe "SET req/s" "GET req/s" "SET p50" "GET p50"
for p in 1 16; do
	for c in 1 16 64 256; do
		n=$REQUESTS
		[ "$c" -eq 1 ] && [ "$p" -eq 1 ] && n=$((REQUESTS / 10))
		out=$(redis-benchmark -h 127.0.0.1 -p "$P" -t set,get -n "$n" -c "$c" -P "$p" -r 100000 -q 2>&1 |
			tr '\r' '\n' | grep 'requests per second')
		set_rps=$(echo "$out" | awk '/^SET/ {print $2}')
		get_rps=$(echo "$out" | awk '/^GET/ {print $2}')
		set_p50=$(echo "$out" | sed -n 's/^SET.*p50=\([0-9.]*\) msec.*/\1/p')
		get_p50=$(echo "$out" | sed -n 's/^GET.*p50=\([0-9.]*\) msec.*/\1/p')
		printf '%-6s %-6s %14s %14s %8s ms %8s ms\n' "$c" "$p" "$set_rps" "$get_rps" "$set_p50" "$get_p50"
	done
done
echo
}

[ "${SKIP_MEMORY:-0}" = 1 ] && exit 0
# A fresh cluster for the memory figures, so that the benchmark's keys do not count.
for i in 1 2 3; do node_stop "$i"; done
rm -rf "$DIR"/n1 "$DIR"/n2 "$DIR"/n3
cluster_start
wait_leader
L=$LEADER
sleep 2
idle=$(rss_kib "${PIDS[$L]}")
log "idle leader: RSS $idle KiB"

load() {
# Not rc(): its 10 s bound is shorter than a load that shares two CPUs with snapshots.
python3 - "$KEYS" "$VALUE_BYTES" <<'PY' | timeout 600 redis-cli -h 127.0.0.1 -p "${CLIENT[$LEADER]##*:}" --pipe >"$DIR/load.out" 2>&1
import sys
keys, vb = int(sys.argv[1]), int(sys.argv[2])
value = b"x" * vb
out = sys.stdout.buffer
batch = 100
for start in range(0, keys, batch):
    n = min(batch, keys - start)
    parts = [b"*%d\r\n$4\r\nMSET\r\n" % (1 + 2 * n)]
    for k in range(start, start + n):
        key = b"key:%012d" % k
        parts.append(b"$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, vb, value))
    out.write(b"".join(parts))
PY
}
# The peak during the load, when each node forks its snapshot children: every 200 ms,
# each node's proportional set size (Pss, smaps_rollup) plus its children's, so that
# pages the child shares copy-on-write count once. Largest sums in $DIR/peak.N (KiB).
pss_kib() { # pid
	awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0
}
sample_peaks() {
	local i pid c sum
	while [ -f "$DIR/sampling" ]; do
		for i in 1 2 3; do
			pid=${PIDS[$i]}
			sum=$(pss_kib "$pid")
			for c in $(cat "/proc/$pid/task/"*/children 2>/dev/null); do
				sum=$((sum + $(pss_kib "$c")))
			done
			[ "$sum" -gt "$(cat "$DIR/peak.$i" 2>/dev/null || echo 0)" ] && echo "$sum" >"$DIR/peak.$i"
		done
		sleep 0.2
	done
}
touch "$DIR/sampling"
sample_peaks &
PIDS[30]=$!
# MSET is idempotent: a batch refused during a leader change is simply loaded again.
for attempt in 1 2 3; do
	log "loading $KEYS keys of $VALUE_BYTES B in MSET batches of 100 (redis-cli --pipe), attempt $attempt"
	load
	tail -n 3 "$DIR/load.out"
	grep -h -B2 -A2 "Assertion" "$DIR"/n*.log | head -n 20
	wait_leader
	[ "$(rc "$LEADER" DBSIZE)" = "$KEYS" ] && break
done
L=$LEADER
for i in 1 2 3; do wait_applied "$i" "$(info_field "$L" commit_index)" 120; done
rm -f "$DIR/sampling"
wait "${PIDS[30]}" 2>/dev/null
PIDS[30]=""
expect_eq "keys loaded" "$(rc "$L" DBSIZE)" "$KEYS"
sleep 2
log "leadership changes and warnings during the load:"
grep -h -E ' (warn|error):|leader of term|no longer leader' "$DIR"/n*.log | sort | tail -n 20
for i in 1 2 3; do
	log "n$i ($(info_field "$i" raft_role)): RSS $(($(rss_kib "${PIDS[$i]}") / 1024)) MiB, Pss $(($(pss_kib "${PIDS[$i]}") / 1024)) MiB; peak during the load with its snapshot children $(($(cat "$DIR/peak.$i") / 1024)) MiB (Pss); $(hc "$(url "$i" /metrics)" | grep -E '^concord_(kv_keys|kv_value_bytes|snapshots_total) ' | tr '\n' ' ')"
done
raw=$((KEYS * (16 + VALUE_BYTES)))
log "raw data: $KEYS x (16 B key + $VALUE_BYTES B value) = $((raw / 1048576)) MiB"
log "data directory of the leader: $(du -sm "$DIR/n$L" | cut -f1) MiB"
for i in 1 2 3; do node_stop "$i"; done
