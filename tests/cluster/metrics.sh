#!/usr/bin/env bash
# metrics.sh: a 3-node cluster takes writes and reads over RESP and HTTP; every node's /metrics passes `promtool check metrics` with no lint complaint and carries the expected series with sane values.
source "$(dirname "$0")/lib.sh"
command -v redis-cli >/dev/null && command -v curl >/dev/null || { echo "redis-cli or curl missing"; exit 77; }
command -v promtool >/dev/null || { echo "promtool missing (Debian package prometheus)"; exit 77; }

cluster_start
wait_leader
for i in 1 2 3; do wait_up "$i"; done
L=$LEADER
F=$((L == 1 ? 2 : 1))
log "leader is n$L"

log "writes and reads over RESP and HTTP"
for k in 1 2 3 4 5; do
	expect_eq "SET k$k" "$(rc "$L" SET "k$k" "v$k")" OK
	expect_eq "GET k$k" "$(rc "$L" GET "k$k")" "v$k"
done
expect_eq "SET via n$F" "$(rc "$F" SET fw 1)" OK
expect_eq "INCR" "$(rc "$L" INCR n)" 1
expect_match "unknown" "$(rc "$L" FROB x)" "^ERR unknown command"
expect_eq "HTTP PUT" "$(hc -o /dev/null -w '%{http_code}' -X PUT --data-binary hv "$(url "$L" /v1/kv/h1)")" 200
expect_eq "HTTP GET" "$(hc -o /dev/null -w '%{http_code}' "$(url "$L" /v1/kv/h1)")" 200

# A sample of node i's /metrics: `value name` prints the value of the exact series.
scrape() { # i
	hc "$(url "$1" /metrics)" >"$DIR/metrics.n$1" || fail "scrape of n$1 failed"
}
value() { # i series
	awk -v s="$2" '$1 == s { print $2; found = 1 } END { if (!found) print "missing" }' "$DIR/metrics.n$1"
}
expect_ge() { # what got min
	[[ "$2" =~ ^[0-9.e+-]+$ ]] || fail "$1: got '$2', want a number >= $3"
	awk -v a="$2" -v b="$3" 'BEGIN { exit !(a + 0 >= b + 0) }' || fail "$1: got '$2', want >= $3"
}

for i in 1 2 3; do
	scrape "$i"
	out=$(promtool check metrics <"$DIR/metrics.n$i" 2>&1)
	prc=$?
	[ "$prc" -eq 0 ] && [ -z "$out" ] || fail "promtool check metrics on n$i (exit $prc): $out"
	expect_eq "n$i has_leader" "$(value "$i" concord_server_has_leader)" 1
	expect_ge "n$i applied" "$(value "$i" concord_raft_applied_index)" 8
done
log "promtool is content with every node"

expect_eq "is_leader on n$L" "$(value "$L" concord_server_is_leader)" 1
expect_eq "is_leader on n$F" "$(value "$F" concord_server_is_leader)" 0
expect_ge "committed on n$L" "$(value "$L" concord_server_proposals_committed_total)" 7
expect_ge "commit histogram count" "$(value "$L" concord_commit_duration_seconds_count)" 7
expect_eq "commit histogram +Inf" "$(value "$L" 'concord_commit_duration_seconds_bucket{le="+Inf"}')" \
	"$(value "$L" concord_commit_duration_seconds_count)"
expect_ge "SET latency count" "$(value "$L" 'concord_request_duration_seconds_count{protocol="resp",command="set"}')" 5
expect_ge "GET latency count" "$(value "$L" 'concord_request_duration_seconds_count{protocol="resp",command="get"}')" 5
expect_ge "other latency count" "$(value "$L" 'concord_request_duration_seconds_count{protocol="resp",command="other"}')" 1
expect_ge "HTTP latency count" "$(value "$L" 'concord_request_duration_seconds_count{protocol="http",command="put"}')" 1
expect_ge "fsync count" "$(value "$L" concord_disk_wal_fsync_duration_seconds_count)" 1
expect_ge "wal append count" "$(value "$L" concord_disk_wal_append_duration_seconds_count)" 1
expect_ge "start time" "$(value "$L" process_start_time_seconds)" 1600000000
expect_ge "open fds" "$(value "$L" process_open_fds)" 3
expect_ge "rss" "$(value "$L" process_resident_memory_bytes)" 100000
# Both frontends export the same counters (struct server_stats).
for proto in resp http; do
	for c in connections_total rejected_total errors_total forwarded_total redirected_total \
		timed_out_total overflows_total clients; do
		expect_ge "$proto $c" "$(value "$L" "concord_${proto}_$c")" 0
	done
done
expect_ge "RESP commands" "$(value "$L" concord_resp_commands_total)" 7
expect_ge "HTTP requests" "$(value "$L" concord_http_requests_total)" 2
expect_ge "HTTP connections" "$(value "$L" concord_http_connections_total)" 2
grep -q '^concord_build_info{version="[^"]*"} 1$' "$DIR/metrics.n$L" || fail "concord_build_info missing"
grep -q "^# TYPE concord_request_duration_seconds histogram$" "$DIR/metrics.n$L" || fail "no request histogram"

# The operator's series: CPU, data-directory sizes, removal, per-peer inflight and contact.
expect_ge "cpu seconds" "$(value "$L" process_cpu_seconds_total)" 0.000001
expect_ge "data dir bytes" "$(value "$L" concord_disk_data_dir_bytes)" 4096
expect_ge "wal bytes" "$(value "$L" concord_disk_wal_bytes)" 4096
expect_ge "snapshot bytes" "$(value "$L" concord_disk_snapshot_bytes)" 0
expect_eq "not removed" "$(value "$L" concord_server_removed)" 0
expect_ge "inflight to n$F" "$(value "$L" "concord_raft_follower_inflight_entries{peer=\"$F\"}")" 0
lc=$(value "$F" "concord_network_peer_last_contact_seconds{peer=\"$L\"}")
expect_ge "n$F heard from the leader" "$lc" 0
awk -v a="$lc" 'BEGIN { exit !(a + 0 < 5) }' || fail "n$F last heard from the leader $lc s ago"

# docs/metrics.md lists exactly the families a node exports.
DOCS=$(cd "$(dirname "$0")/../../docs" && pwd)
/usr/bin/python3 - "$DIR/metrics.n$L" "$DOCS/metrics.md" "$DOCS/grafana-dashboard.json" <<'PY' || fail "metrics docs or dashboard"
import json, re, sys
scrape, doc, dash = sys.argv[1], sys.argv[2], sys.argv[3]
types = {}
for line in open(scrape):
    m = re.match(r"# TYPE (\S+) (\S+)", line)
    if m:
        types[m.group(1)] = m.group(2)
listed = set(re.findall(r"^\| `([a-z_:]+)` \|", open(doc).read(), re.M))
bad = False
for name in sorted(set(types) - listed):
    print("exported but not in docs/metrics.md:", name); bad = True
for name in sorted(listed - set(types)):
    print("in docs/metrics.md but not exported:", name); bad = True
d = json.load(open(dash))
exprs = [t["expr"] for p in d["panels"] for t in p.get("targets", [])]
assert len(exprs) >= 20, "the dashboard has too few queries"
def family(n):
    for suffix in ("_bucket", "_count", "_sum"):
        if n.endswith(suffix) and types.get(n[: -len(suffix)]) == "histogram":
            return n[: -len(suffix)]
    return n
for e in exprs:
    for n in re.findall(r"\b((?:concord|process)_[a-z0-9_]+)", e):
        if family(n) not in types:
            print("the dashboard queries a series /metrics lacks:", n, "in", e); bad = True
print("%d families, all documented; %d dashboard queries, every series exported" % (len(types), len(exprs)))
sys.exit(1 if bad else 0)
PY

for i in 1 2 3; do node_stop "$i"; done
log "ok"
