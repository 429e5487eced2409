#!/usr/bin/env bash
# pipeline.sh: RESP pipelines read their own writes on the leader and through a forwarding follower (issue 12): raw sockets and redis-py, 200 rounds each.
source "$(dirname "$0")/lib.sh"
command -v redis-cli >/dev/null || { echo "redis-cli missing"; exit 77; }

# redis-py may live in the system's python3 rather than the first one on PATH.
PY_REDIS=""
for py in python3 /usr/bin/python3; do
	if "$py" -c 'import redis' 2>/dev/null; then
		PY_REDIS=$py
		break
	fi
done

cluster_start
wait_leader
L=$LEADER
F=$((L == 1 ? 2 : 1))
for i in 1 2 3; do wait_up "$i"; done
PY=$(dirname "$0")/pipeline.py

for node in "$L" "$F"; do
	port=${CLIENT[$node]##*:}
	role=$([ "$node" -eq "$L" ] && echo leader || echo follower)
	log "raw pipeline on the $role n$node"
	out=$(timeout $((120 * SLOW)) python3 "$PY" raw "$port" "raw-$node" 2>&1) || fail "$out"
	log "$out"
	[ -n "$PY_REDIS" ] || fail "redis-py missing: install Debian python3-redis (scripts/deps.sh)"
	log "redis-py pipeline on the $role n$node"
	out=$(timeout $((120 * SLOW)) "$PY_REDIS" "$PY" redis "$port" "py-$node" 2>&1) || fail "$out"
	log "$out"
done
log "pass"
