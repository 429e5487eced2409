#!/usr/bin/env bash
# txn.sh: MULTI/EXEC/WATCH from redis-py (issue 14) on the leader and through a forwarding follower: pipeline(transaction=True) and a two-client optimistic increment.
source "$(dirname "$0")/lib.sh"

# redis-py may live in the system's python3 rather than the first one on PATH.
PY_REDIS=""
for py in python3 /usr/bin/python3; do
	if "$py" -c 'import redis' 2>/dev/null; then
		PY_REDIS=$py
		break
	fi
done
[ -n "$PY_REDIS" ] || { echo "redis-py missing: install Debian python3-redis (scripts/deps.sh)"; exit 77; }

cluster_start
wait_leader
L=$LEADER
F=$((L == 1 ? 2 : 1))
for i in 1 2 3; do wait_up "$i"; done
PY=$(dirname "$0")/txn.py

for node in "$L" "$F"; do
	port=${CLIENT[$node]##*:}
	role=$([ "$node" -eq "$L" ] && echo leader || echo follower)
	log "redis-py transactions on the $role n$node"
	out=$(timeout $((120 * SLOW)) "$PY_REDIS" "$PY" "$port" "txn-$node-" 2>&1) || fail "$out"
	log "$out"
done
log "pass"
