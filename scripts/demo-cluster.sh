#!/usr/bin/env bash
# demo-cluster.sh: a live 5-node Concord cluster on 127.0.0.1 under the original Concord's loops: puts, preemptions, member swaps, a validator, light faults.
#
# Assumes build/ is built (make build). Runs until Ctrl-C, or DURATION seconds if set.
# Environment: DURATION (seconds, 0 = until Ctrl-C), FAULTS (light | none),
# PUT_EVERY, PREEMPT_EVERY, SWAP_EVERY, CHECK_EVERY (seconds), CONCORD and CONCORDCTL
# (the binaries), KEEP=1 to keep the data directories.
# Every process it starts is stopped by pid on exit; the temporary folder is removed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

CONCORD=${CONCORD:-build/tools/concord/concord}
CONCORDCTL=${CONCORDCTL:-build/tools/concordctl/concordctl}
DURATION=${DURATION:-0}
FAULTS=${FAULTS:-light}
PUT_EVERY=${PUT_EVERY:-1}
PREEMPT_EVERY=${PREEMPT_EVERY:-10}
SWAP_EVERY=${SWAP_EVERY:-15}
CHECK_EVERY=${CHECK_EVERY:-5}
NODES=5

for b in "$CONCORD" "$CONCORDCTL"; do
	if [ ! -x "$b" ]; then
		echo "demo: $b is missing: build first (make build)" >&2
		exit 1
	fi
done
command -v python3 >/dev/null || { echo "demo: python3 is needed" >&2; exit 1; }
case "$DURATION$PUT_EVERY$PREEMPT_EVERY$SWAP_EVERY$CHECK_EVERY" in
*[!0-9]*) echo "demo: DURATION and the *_EVERY settings are whole seconds" >&2; exit 1 ;;
esac
case "$FAULTS" in
light | none) ;;
*) echo "demo: FAULTS is 'light' or 'none'" >&2; exit 1 ;;
esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/concord-demo.XXXXXX")
mkdir -p "$tmp/pids"
putter_pid=
stopping=0

# ----------------------------------------------------------------------------------
# Output

ts() { date +%H:%M:%S; }
say() { printf '%s %s\n' "$(ts)" "$*"; }

# ----------------------------------------------------------------------------------
# Processes

# Stops one node by its recorded pid: SIGTERM, up to 5 s for a clean exit, then SIGKILL.
stop_node() {
	local id=$1 pid
	[ -f "$tmp/pids/$id" ] || return 0
	pid=$(cat "$tmp/pids/$id")
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rm -f "$tmp/pids/$id"
}

cleanup() {
	[ "$stopping" = 1 ] && return
	stopping=1
	trap '' INT TERM
	echo
	say "stopping: the workload, then every node"
	if [ -n "$putter_pid" ]; then
		kill -TERM "$putter_pid" 2>/dev/null
		wait "$putter_pid" 2>/dev/null
	fi
	local f
	for f in "$tmp"/pids/*; do
		[ -f "$f" ] || continue
		kill -TERM "$(cat "$f")" 2>/dev/null # all at once, then wait for each
	done
	for f in "$tmp"/pids/*; do
		[ -f "$f" ] || continue
		stop_node "$(basename "$f")"
	done
	summary
	if [ "${KEEP:-0}" = 1 ]; then
		say "kept the data directories in $tmp"
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Three free ports on 127.0.0.1.
free_ports() {
	python3 -c '
import socket
ss = []
for _ in range(3):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    ss.append(s)
print(" ".join(str(s.getsockname()[1]) for s in ss))'
}

# Members: id -> addresses; the live set is in $tmp/members (one id a line).
declare -A PEER CLIENT HTTP
initial_peers=
initial_clients=
initial_https=

start_node() { # id [extra flags]
	local id=$1
	shift
	"$CONCORD" --name "n$id" --id "$id" --data-dir "$tmp/n$id" \
		--initial-cluster "$initial_peers" --initial-cluster-client "$initial_clients" \
		--initial-cluster-http "$initial_https" --cluster-id demo \
		--listen-peer "${PEER[$id]}" --listen-client "${CLIENT[$id]}" \
		--listen-http "${HTTP[$id]}" "$@" </dev/null >"$tmp/n$id.log" 2>&1 &
	echo $! >"$tmp/pids/$id"
}

# The live members, in files so that the background workload sees every change:
# members (ids), endpoints (client addresses, comma-separated), clients (id=address).
members() { cat "$tmp/members"; }
set_members() { # ids...
	local eps="" id
	: >"$tmp/clients.new"
	for id in "$@"; do
		eps="${eps:+$eps,}${CLIENT[$id]}"
		echo "$id=${CLIENT[$id]}" >>"$tmp/clients.new"
	done
	printf '%s\n' "$@" >"$tmp/members.new"
	echo "$eps" >"$tmp/endpoints.new"
	mv "$tmp/members.new" "$tmp/members"
	mv "$tmp/clients.new" "$tmp/clients"
	mv "$tmp/endpoints.new" "$tmp/endpoints"
}

# concordctl on the current members, or on one node.
ctl() { "$CONCORDCTL" --endpoints "$(cat "$tmp/endpoints")" --timeout-ms "${CTL_TIMEOUT_MS:-5000}" "$@"; }
ctl_at() { # id args...
	local id=$1
	shift
	"$CONCORDCTL" --endpoints "${CLIENT[$id]}" --timeout-ms 1500 "$@"
}

# ----------------------------------------------------------------------------------
# The view: every live node's own status, summarized by a small Python helper.

cat >"$tmp/view.py" <<'PY'
# view.py: asks each node for its status (concordctl status --json) and summarizes.
import json, subprocess, sys

def status(ctl, addr):
    try:
        out = subprocess.run([ctl, "--endpoints", addr, "--timeout-ms", "1500", "status",
                              "--json"], capture_output=True, timeout=5, text=True)
        if out.returncode != 0:
            return None
        return json.loads(out.stdout)
    except Exception:
        return None

def main():
    ctl, mode = sys.argv[1], sys.argv[2]
    addrs = dict(a.split("=", 1) for a in sys.argv[3:])  # id=host:port
    views = {i: status(ctl, a) for i, a in addrs.items()}
    up = {i: v for i, v in views.items() if v is not None}
    if mode == "leader":
        # "<leader id> <term> <leader's commit>" once the live nodes agree, else nothing.
        leaders = {(v["leader"], v["term"]) for v in up.values() if v.get("leader")}
        if len(leaders) == 1 and len(up) * 2 > len(addrs):
            lid, term = leaders.pop()
            lv = up.get(str(lid))
            print(lid, term, lv["commit"] if lv else "?")
        return
    if mode == "node":
        # "<role> <applied> <commit> <term> <leader>" of the one node asked.
        for v in up.values():
            print(v["role"], v["applied"], v["commit"], v["term"], v["leader"])
        return
    if mode == "check":
        # One line per node: id role term leader commit applied revision; "down" if silent.
        for i in sorted(addrs, key=int):
            v = views[i]
            if v is None:
                print(i, "down")
            else:
                print(i, v["role"], v["term"], v["leader"], v["commit"], v["applied"],
                      v.get("revision", 0))
        return
main()
PY

view() { # mode [id]: the members, or one node
	local mode=$1
	if [ $# -gt 1 ]; then
		python3 "$tmp/view.py" "$CONCORDCTL" "$mode" "$2=${CLIENT[$2]}"
	else
		# shellcheck disable=SC2046
		python3 "$tmp/view.py" "$CONCORDCTL" "$mode" $(cat "$tmp/clients")
	fi
}

# Waits up to $1 seconds for a leader the live members agree on; prints "id term commit".
wait_leader() {
	local deadline=$((SECONDS + $1)) out
	while [ "$SECONDS" -le "$deadline" ]; do
		out=$(view leader)
		[ -n "$out" ] && { echo "$out"; return 0; }
		sleep 0.2
	done
	return 1
}

apply_faults() {
	[ "$FAULTS" = light ] || return 0
	local id out ok=0 n=0
	for id in $(members); do
		n=$((n + 1))
		out=$(ctl_at "$id" faults set '*' --drop 0.01 --delay-req 50 --delay-req-p 0.05 2>&1) &&
			ok=$((ok + 1)) || say "faults: n$id: $out"
	done
	say "faults: $ok/$n nodes drop 1% of their Raft messages and delay 5% by 50 ms"
}

# ----------------------------------------------------------------------------------
# The workload: a put every PUT_EVERY seconds, in the background.

putter() {
	trap 'exit 0' TERM INT
	local n=0 key val out code info t0 left_ms
	while :; do
		t0=$(date +%s%N)
		n=$((n + 1))
		key=$(printf 'demo/%06d' "$n")
		val="v$n-$RANDOM"
		out=$(CTL_TIMEOUT_MS=4000 ctl put "$key" "$val" 2>&1)
		code=$?
		if [ $code -eq 0 ]; then
			echo "$key $val" >>"$tmp/acked"
			info=$(view leader)
			if [ -n "$info" ]; then
				set -- $info
				say "put $key=$val: ok; leader n$1, term $2, committed by index $3"
			else
				say "put $key=$val: ok; (no agreed leader at this instant)"
			fi
		elif grep -q "may have been applied\|may or may not" <<<"$out"; then
			echo "$key $val" >>"$tmp/unknown"
			say "put $key=$val: outcome unknown (${out##*: })"
		else
			say "put $key=$val: failed, not acknowledged: ${out#concordctl: }"
		fi
		# One put every PUT_EVERY seconds, whatever the put itself took.
		left_ms=$((PUT_EVERY * 1000 - ($(date +%s%N) - t0) / 1000000))
		[ "$left_ms" -gt 0 ] && sleep "$(printf '%d.%03d' $((left_ms / 1000)) $((left_ms % 1000)))"
	done
}

# ----------------------------------------------------------------------------------
# Preemption: the leader steps down; an election follows.

preempt() {
	local info old_leader old_term t0 new
	info=$(wait_leader 5) || { say "preempt: skipped, no agreed leader"; return; }
	set -- $info
	old_leader=$1
	old_term=$2
	say "preempt: n$old_leader (leader of term $old_term) steps down"
	local out
	out=$(ctl step-down 2>&1) || { say "preempt: step-down failed: ${out#concordctl: }"; return; }
	t0=$(date +%s%N)
	local deadline=$((SECONDS + 15))
	while [ "$SECONDS" -le "$deadline" ]; do
		new=$(view leader)
		if [ -n "$new" ]; then
			set -- $new
			if [ "$2" -gt "$old_term" ]; then
				say "preempt: n$1 leads term $2, $((($(date +%s%N) - t0) / 1000000)) ms after the step-down"
				preempts=$((preempts + 1))
				return
			fi
		fi
		sleep 0.1
	done
	say "preempt: no new leader within 15 s"
	violations=$((violations + 1))
}

# ----------------------------------------------------------------------------------
# Member swap: remove a voter that does not lead, add a fresh node as a learner,
# promote it once it has caught up.

next_id=$((NODES + 1))
swaps=0

swap() {
	local info leader out victim id
	info=$(wait_leader 5) || { say "swap: skipped, no agreed leader"; return; }
	set -- $info
	leader=$1
	local rest=()
	if [ "$(members | wc -l)" -lt "$NODES" ]; then
		# An earlier swap removed a voter but could not add its replacement: add one
		# now rather than shrink the cluster further.
		say "swap: the cluster has $(members | wc -l) voters; adding one without removing"
		mapfile -t rest < <(members)
	else
		local candidates=()
		for id in $(members); do [ "$id" != "$leader" ] && candidates+=("$id"); done
		victim=${candidates[$((RANDOM % ${#candidates[@]}))]}
		say "swap: removing voter n$victim"
		out=$(ctl members remove "$victim" 2>&1) || { say "swap: remove n$victim failed: ${out#concordctl: }"; return; }
		for id in $(members); do [ "$id" != "$victim" ] && rest+=("$id"); done
		set_members "${rest[@]}"
		remove_and_stop "$victim"
	fi
	add_fresh "${rest[@]}"
}

# Waits for a removed member to leave the configuration, then stops it.
remove_and_stop() {
	local victim=$1
	# It has left once the leader no longer lists it.
	local deadline=$((SECONDS + 15)) left=0
	while [ "$SECONDS" -le "$deadline" ]; do
		if ! ctl members 2>/dev/null | grep -qE "^$victim "; then
			left=1
			break
		fi
		sleep 0.2
	done
	if [ $left = 1 ]; then
		say "swap: n$victim left the configuration; stopping it"
	else
		say "swap: n$victim still listed after 15 s; stopping it anyway"
	fi
	stop_node "$victim"
	[ "${KEEP:-0}" = 1 ] || rm -rf "$tmp/n$victim"
}

# Starts a fresh node, adds it as a learner, promotes it once caught up. $@: the voters
# it joins.
add_fresh() {
	local rest=("$@") id out info deadline p c h
	id=$next_id
	next_id=$((next_id + 1))
	read -r p c h < <(free_ports)
	PEER[$id]=127.0.0.1:$p
	CLIENT[$id]=127.0.0.1:$c
	HTTP[$id]=127.0.0.1:$h
	start_node "$id" --join
	say "swap: started n$id (joining): peer ${PEER[$id]}, client ${CLIENT[$id]}, http http://${HTTP[$id]}/"
	out=$(ctl members add "$id" "n$id" "${PEER[$id]}" "${CLIENT[$id]}" "${HTTP[$id]}" 2>&1) || {
		say "swap: adding n$id failed: ${out#concordctl: }"
		stop_node "$id"
		return
	}
	say "swap: n$id added as a learner"
	# Caught up: its applied index reaches the leader's commit index of now.
	local target t0 ok=0
	info=$(wait_leader 5) && { set -- $info; target=$3; } || target=0
	t0=$(date +%s%N)
	deadline=$((SECONDS + 20))
	while [ "$SECONDS" -le "$deadline" ]; do
		out=$(view node "$id")
		if [ -n "$out" ]; then
			set -- $out
			if [ "$2" -ge "$target" ] 2>/dev/null; then
				ok=1
				break
			fi
		fi
		sleep 0.2
	done
	if [ $ok = 0 ]; then
		say "swap: n$id did not catch up to index $target within 20 s; removing it again"
		violations=$((violations + 1))
		ctl members remove "$id" >/dev/null 2>&1
		stop_node "$id"
		return
	fi
	say "swap: n$id caught up (applied $2 >= $target) in $((($(date +%s%N) - t0) / 1000000)) ms; promoting it"
	out=$(ctl members promote "$id" 2>&1) || {
		say "swap: promote n$id failed: ${out#concordctl: }"
		violations=$((violations + 1))
		return
	}
	set_members "${rest[@]}" "$id"
	swaps=$((swaps + 1))
	local names=""
	for m in $(members); do names="$names n$m"; done
	say "swap: n$id is a voter; members:$names"
	apply_faults
}

# ----------------------------------------------------------------------------------
# Validator: leaders agree per term, applied indexes converge (with equal revisions at
# equal indexes), every acknowledged put is readable with its value.

declare -A TERM_LEADER # term -> leader, over the whole run
violations=0
checks=0

check() {
	checks=$((checks + 1))
	local lines msg=() bad=0
	lines=$(view check)
	local max_commit=0 up=0 total=0
	declare -A rev_at
	while read -r id role term leader commit applied revision; do
		[ -n "$id" ] || continue
		total=$((total + 1))
		[ "$role" = down ] && continue
		up=$((up + 1))
		if [ "$leader" != 0 ]; then
			if [ -n "${TERM_LEADER[$term]:-}" ] && [ "${TERM_LEADER[$term]}" != "$leader" ]; then
				say "check: VIOLATION: term $term has two leaders, n${TERM_LEADER[$term]} and n$leader (n$id's view)"
				bad=1
			fi
			TERM_LEADER[$term]=$leader
		fi
		[ "$commit" -gt "$max_commit" ] && max_commit=$commit
		if [ -n "${rev_at[$applied]:-}" ] && [ "${rev_at[$applied]}" != "$revision" ]; then
			say "check: VIOLATION: two nodes at applied index $applied hold different revisions"
			bad=1
		fi
		rev_at[$applied]=$revision
	done <<<"$lines"
	msg+=("one leader per term (${#TERM_LEADER[@]} terms seen)")

	# Convergence: within 10 s every member applies what was committed at the start.
	local deadline=$((SECONDS + 10)) lagging=""
	while :; do
		lagging=""
		while read -r id role term leader commit applied revision; do
			[ -n "$id" ] || continue
			if [ "$role" = down ] || [ "$applied" -lt "$max_commit" ]; then
				lagging="$lagging n$id"
			fi
		done < <(view check)
		[ -z "$lagging" ] || [ "$SECONDS" -gt "$deadline" ] && break
		sleep 0.2
	done
	if [ -n "$lagging" ]; then
		say "check: VIOLATION: not applied up to index $max_commit within 10 s:$lagging"
		bad=1
	else
		msg+=("all $total applied >= $max_commit")
	fi

	# Acknowledged puts: one scan, compared with what was acknowledged.
	if [ -s "$tmp/acked" ]; then
		# What was acknowledged before the scan starts must be in it (linearizable reads).
		cp "$tmp/acked" "$tmp/acked.snap"
		cp "$tmp/unknown" "$tmp/unknown.snap"
		local result
		result=$(ctl scan demo/ 2>"$tmp/scan.err" | python3 -c '
import sys
acked = dict(l.split(" ", 1) for l in open(sys.argv[1]).read().splitlines() if l)
unknown = set(l.split(" ", 1)[0] for l in open(sys.argv[2]).read().splitlines() if l) if len(sys.argv) > 2 else set()
seen = {}
for line in sys.stdin.read().splitlines():
    k, _, v = line.partition("\t")
    seen[k] = v
missing = [k for k in acked if k not in seen]
wrong = [k for k in acked if k in seen and seen[k] != acked[k]]
# Keys written after the snapshot was taken may be there too: only keys numbered below
# the last acknowledged one count as extra.
last = max(acked) if acked else ""
extra = [k for k in seen if k not in acked and k not in unknown and k < last]
print(len(acked), len(missing), len(wrong), len(extra), " ".join((missing + wrong)[:5]))
' "$tmp/acked.snap" "$tmp/unknown.snap")
		if [ -s "$tmp/scan.err" ]; then
			say "check: the scan failed: $(head -c 300 "$tmp/scan.err")"
			bad=1
		else
			set -- $result
			if [ "$2" != 0 ] || [ "$3" != 0 ]; then
				say "check: VIOLATION: of $1 acknowledged puts, $2 missing and $3 with another value: ${*:5}"
				bad=1
			else
				msg+=("$1/$1 acknowledged puts readable")
			fi
			[ "$4" = 0 ] || msg+=("$4 unacknowledged keys present (timed-out puts that applied)")
		fi
	fi
	if [ $bad = 0 ]; then
		local text="" part
		for part in "${msg[@]}"; do text="${text:+$text; }$part"; done
		say "check: ok: $text"
	else
		violations=$((violations + 1))
	fi
}

summary() {
	local acked=0 unknown=0
	[ -f "$tmp/acked" ] && acked=$(wc -l <"$tmp/acked")
	[ -f "$tmp/unknown" ] && unknown=$(wc -l <"$tmp/unknown")
	say "summary: $acked puts acknowledged ($unknown with unknown outcome), preemptions: $preempts, member swaps: $swaps, checks: $checks, problems: $violations"
}

# ----------------------------------------------------------------------------------
# Start

preempts=0
touch "$tmp/acked" "$tmp/unknown"
say "Concord demo: $NODES nodes on 127.0.0.1, data under $tmp"
ids=()
for i in $(seq "$NODES"); do
	read -r p c h < <(free_ports)
	PEER[$i]=127.0.0.1:$p
	CLIENT[$i]=127.0.0.1:$c
	HTTP[$i]=127.0.0.1:$h
	initial_peers="${initial_peers:+$initial_peers,}n$i=${PEER[$i]}"
	initial_clients="${initial_clients:+$initial_clients,}n$i=${CLIENT[$i]}"
	initial_https="${initial_https:+$initial_https,}n$i=${HTTP[$i]}"
	ids+=("$i")
done
set_members "${ids[@]}"
for i in "${ids[@]}"; do
	start_node "$i"
	printf '  n%s  peer %-16s client %-16s (redis-cli -p %s)  web http://%s/\n' "$i" \
		"${PEER[$i]}" "${CLIENT[$i]}" "${CLIENT[$i]##*:}" "${HTTP[$i]}"
done
echo "  concordctl: $CONCORDCTL --endpoints $(cat "$tmp/endpoints") status"
if ! info=$(wait_leader 30); then
	say "no leader within 30 s; the nodes' logs say:"
	tail -n 5 "$tmp"/n*.log
	exit 1
fi
set -- $info
say "n$1 leads term $2"
apply_faults
if [ "$DURATION" -gt 0 ]; then
	say "running for $DURATION s (Ctrl-C stops earlier)"
else
	say "running until Ctrl-C"
fi

putter &
putter_pid=$!

start=$SECONDS
next_preempt=$((start + PREEMPT_EVERY))
next_swap=$((start + SWAP_EVERY))
next_check=$((start + CHECK_EVERY))
while :; do
	now=$SECONDS
	if [ "$DURATION" -gt 0 ] && [ $((now - start)) -ge "$DURATION" ]; then
		check
		break
	fi
	if [ "$PREEMPT_EVERY" -gt 0 ] && [ "$now" -ge "$next_preempt" ]; then
		preempt
		next_preempt=$((SECONDS + PREEMPT_EVERY))
	fi
	if [ "$SWAP_EVERY" -gt 0 ] && [ "$now" -ge "$next_swap" ]; then
		swap
		next_swap=$((SECONDS + SWAP_EVERY))
	fi
	if [ "$CHECK_EVERY" -gt 0 ] && [ "$now" -ge "$next_check" ]; then
		check
		next_check=$((SECONDS + CHECK_EVERY))
	fi
	sleep 0.2
done
[ "$violations" -eq 0 ]
