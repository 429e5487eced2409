#!/usr/bin/env bash
# watch_slow.sh: a subscriber and an HTTP watcher that never read are cut off once their output passes --watch-buffer-bytes (issue 14), and the node's memory stays bounded while 96 MiB are published to them.
source "$(dirname "$0")/lib.sh"

PY_REDIS=""
for py in python3 /usr/bin/python3; do
	if "$py" -c 'import redis' 2>/dev/null; then
		PY_REDIS=$py
		break
	fi
done
[ -n "$PY_REDIS" ] || fail "redis-py missing: install Debian python3-redis (scripts/deps.sh)"

N=1
# Under ASan freed memory waits in a quarantine (256 MiB by default) before reuse, which
# would count as growth here: keep it small so that RSS shows what is really held.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4"
# Under ThreadSanitizer every byte the node touches also costs shadow memory and freed
# blocks are reused late, so RSS grows several times what is held: a looser bound there.
if [ "$(nm "$CONCORD" 2>/dev/null | grep -c __tsan_init)" -gt 0 ]; then
	export RSS_GROWTH_LIMIT_MB=256
fi
CLUSTER_FLAGS="--watch-buffer-bytes 262144 --history-revisions 20 --snapshot-entries 100"
cluster_start
wait_leader
wait_up 1
out=$(timeout $((120 * SLOW)) "$PY_REDIS" "$(dirname "$0")/watch.py" slow "${CLIENT[1]##*:}" \
	"${HTTP[1]##*:}" "${PIDS[1]}" 2>&1) || fail "$out"
log "$out"
log "pass"
