#!/usr/bin/env bash
# abuse.sh: 64 abusive connections of each kind against the leader and a follower of a real 3-node cluster; memory stays bounded, the cluster serves, relays get in, counters move.
#
# The kinds (tests/cluster/abuse.py): unfinished RESP commands, RESP replies never read,
# HTTP prefix listings never read, unfinished HTTP bodies, slowloris heads, and idle
# sockets past --max-clients. Small limits keep it quick; the bound is in docs/security.md.
source "$(dirname "$0")/lib.sh"

# Bound on each abused node's VmRSS (MiB); docs/security.md gives the measurement.
RSS_BOUND_MIB=${RSS_BOUND_MIB:-160}
CLUSTER_FLAGS="--max-value-bytes 65536 --client-output-limit 1048576 --max-clients 200 \
 --relay-reserve 8 --client-read-timeout $((4 * SLOW)) --client-idle-timeout $((30 * SLOW)) \
 ${ABUSE_FLAGS:-}"
cluster_start
wait_leader || exit 1
F=1
[ "$LEADER" = 1 ] && F=2
CALM=$((6 - LEADER - F))
log "leader n$LEADER, abused follower n$F, calm n$CALM"
timeout $((120 * SLOW)) python3 "$(dirname "$0")/abuse.py" "$RSS_BOUND_MIB" \
	"${PIDS[$LEADER]}:${CLIENT[$LEADER]##*:}:${HTTP[$LEADER]##*:}" \
	"${PIDS[$F]}:${CLIENT[$F]##*:}:${HTTP[$F]##*:}" "${CLIENT[$CALM]##*:}" ||
	fail "abuse.py failed"
[ "$(rc "$CALM" GET relayed)" = yes ] || fail "the relayed write is not readable"
for i in 1 2 3; do node_alive "$i" || fail "n$i died"; done
for i in 1 2 3; do node_stop "$i"; done
[ "$FAILED" = 0 ] || exit 1
log PASS
