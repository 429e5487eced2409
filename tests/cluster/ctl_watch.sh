#!/usr/bin/env bash
# ctl_watch.sh: concordctl watch on a 3-node cluster: a live --prefix watch on a follower bounded by --count, the exact etcdctl-style output of put, put, del; a --rev replay with --prev-kv on the leader; -w json lines that parse; a single key and [KEY, END); a compacted --rev (exit 1); SIGTERM and SIGINT (exit 0); usage errors (exit 2); --user once auth is on; a resume on the other endpoint after the serving node is killed.
source "$(dirname "$0")/lib.sh"

CTL=${CONCORDCTL:-$(dirname "$CONCORD")/../concordctl/concordctl}
command -v redis-cli >/dev/null || fail "redis-cli missing (scripts/deps.sh)"
command -v curl >/dev/null || fail "curl missing (scripts/deps.sh)"

cluster_start
wait_leader
L=$LEADER
F=$(a_follower)
for i in 1 2 3; do wait_up "$i"; done
wait_revision_still "$L"

# ctl NODE args...: concordctl against one node only.
ctl() {
	local i=$1
	shift
	timeout $((20 * SLOW)) "$CTL" --endpoints "${CLIENT[$i]}" "$@"
}

# Watchers open on node i (its /metrics gauge).
watchers() { # i
	hc "$1" "$(url "$1" /metrics)" | sed -n 's/^concord_watchers \([0-9]*\)$/\1/p'
}

wait_watchers() { # i count
	local tries=0
	while [ "$(watchers "$1")" != "$2" ] && [ $tries -lt $((100 * SLOW)) ]; do
		sleep 0.1
		tries=$((tries + 1))
	done
	[ "$(watchers "$1")" = "$2" ] || fail "n$1 has $(watchers "$1") watchers, want $2"
}

# bg_watch NAME NODE args...: `concordctl watch` in the background, its output in
# $DIR/NAME.out and .err; sets WPID (recorded for the EXIT trap).
bg_watch() {
	local name=$1 i=$2
	shift 2
	timeout $((30 * SLOW)) "$CTL" --endpoints "${CLIENT[$i]}" "$@" >"$DIR/$name.out" \
		2>"$DIR/$name.err" &
	WPID=$!
	PIDS+=("$WPID")
}

# wait_exit PID WHAT: waits (bounded) for the process to end; sets WRC to its status.
wait_exit() {
	local pid=$1 tries=0
	while kill -0 "$pid" 2>/dev/null && [ $tries -lt $((150 * SLOW)) ]; do
		sleep 0.1
		tries=$((tries + 1))
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		fail "$2 still runs after $((15 * SLOW)) s"
	fi
	wait "$pid"
	WRC=$?
}

# same WHAT FILE FORMAT: FILE holds exactly what printf FORMAT prints (run in this shell,
# not in a pipeline's subshell, so that a failure ends the test).
same() {
	local want
	want=$(mktemp "$DIR/want.XXXXXX")
	# shellcheck disable=SC2059
	printf "$3" >"$want"
	if ! cmp -s "$want" "$2"; then
		log "want:"
		cat -A "$want"
		log "got:"
		cat -A "$2"
		fail "$1: output differs"
	fi
}

R0=$(rc "$L" CONCORD.RANGE "" COUNTONLY | head -n1)
[[ "$R0" =~ ^[0-9]+$ ]] || fail "no revision from CONCORD.RANGE: '$R0'"

log "a live watch --prefix p/ --count 3 on the follower n$F; put, put, del through the leader n$L"
bg_watch live "$F" watch --prefix p/ --count 3
W1=$WPID
wait_watchers "$F" 1
rc "$L" SET p/a 1 >/dev/null || fail "set p/a 1"
rc "$L" SET other x >/dev/null || fail "set other"
"$CTL" --endpoints "${CLIENT[$L]}" put p/a 2 >/dev/null || fail "concordctl put p/a 2"
"$CTL" --endpoints "${CLIENT[$L]}" del p/a >/dev/null || fail "concordctl del p/a"
wait_exit "$W1" "watch --count 3"
expect_eq "live watch exit status (stderr: $(cat "$DIR/live.err"))" "$WRC" 0
same "live watch" "$DIR/live.out" 'PUT\np/a\n1\nPUT\np/a\n2\nDELETE\np/a\n\n'
[ -s "$DIR/live.err" ] && fail "live watch wrote to stderr: $(cat "$DIR/live.err")"
wait_watchers "$F" 0

log "--rev $((R0 + 1)) --prev-kv replays the history on the leader"
ctl "$L" watch --prefix p/ --rev $((R0 + 1)) --prev-kv --count 3 >"$DIR/rev.out" ||
	fail "watch --rev exited $?"
same "--rev --prev-kv" "$DIR/rev.out" 'PUT\np/a\n1\nPUT\np/a\n1\np/a\n2\nDELETE\np/a\n2\np/a\n\n'

log "-w json: one object per event line"
ctl "$F" -w json watch p/ --prefix --rev=$((R0 + 1)) --prev-kv --count=3 >"$DIR/json.out" ||
	fail "watch -w json exited $?"
expect_eq "json lines" "$(wc -l <"$DIR/json.out")" 3
got=$(python3 -c '
import json, sys
last = 0
for line in open(sys.argv[1]):
    e = json.loads(line)
    assert e["revision"] > last, e
    last = e["revision"]
    if e["type"] == "PUT":
        assert e["mod_revision"] == e["revision"], e
    print(e["type"], e["key"], e["value"] or "-", e["prev_value"], e["version"], end="; ")
' "$DIR/json.out") || fail "json lines do not parse: $(cat "$DIR/json.out")"
expect_eq "json events" "$got" "PUT p/a 1 None 1; PUT p/a 2 1 2; DELETE p/a - 2 0; "

log "a single key and [KEY, END)"
ctl "$L" watch p/a --rev $((R0 + 1)) --count 2 >"$DIR/key.out" || fail "watch p/a exited $?"
same "watch p/a" "$DIR/key.out" 'PUT\np/a\n1\nPUT\np/a\n2\n'
rc "$L" SET p/b 1 >/dev/null
rc "$L" SET p/c 1 >/dev/null
ctl "$L" watch p/b p/c --rev $((R0 + 1)) --count 1 >"$DIR/end.out" || fail "watch p/b p/c exited $?"
same "watch [p/b, p/c)" "$DIR/end.out" 'PUT\np/b\n1\n'
# The key alone: p/a's neighbours p/b and p/c do not show; the next p/a write does.
bg_watch single "$F" watch p/a --count 1
W2=$WPID
wait_watchers "$F" 1
rc "$L" SET p/ab 1 >/dev/null
rc "$L" SET p/a 3 >/dev/null
wait_exit "$W2" "watch p/a --count 1"
expect_eq "single key exit status" "$WRC" 0
same "watch p/a live" "$DIR/single.out" 'PUT\np/a\n3\n'
wait_watchers "$F" 0

log "a compacted --rev: a clear error, exit 1"
C=$((R0 + 3))
"$CTL" --endpoints "${CLIENT[$L]}" compaction "$C" >/dev/null || fail "compaction $C"
out=$(ctl "$F" watch --prefix p/ --rev $((R0 + 1)) --count 1 2>&1)
WRC=$?
expect_eq "compacted --rev exit status" "$WRC" 1
expect_match "compacted --rev message" "$out" "^concordctl: watch: required revision $((R0 + 1)) has been compacted; compacted revision [0-9]+$"

log "SIGTERM ends an unbounded watch cleanly"
bg_watch term "$F" watch --prefix p/
W3=$WPID
wait_watchers "$F" 1
# stdout is a file here, fully buffered but for the flush after each event.
rc "$L" SET p/t 1 >/dev/null
tries=0
while [ "$(wc -l <"$DIR/term.out")" -lt 3 ] && [ $tries -lt $((100 * SLOW)) ]; do
	sleep 0.1
	tries=$((tries + 1))
done
same "an event flushed while the watch runs" "$DIR/term.out" 'PUT\np/t\n1\n'
kill -TERM "$W3"
wait_exit "$W3" "watch after SIGTERM"
expect_eq "exit status after SIGTERM" "$WRC" 0
[ -s "$DIR/term.err" ] && fail "SIGTERM: stderr: $(cat "$DIR/term.err")"
log "SIGINT while it waits for events"
bg_watch int "$L" watch --prefix p/
W4=$WPID
wait_watchers "$L" 1
kill -INT "$W4"
wait_exit "$W4" "watch after SIGINT"
expect_eq "exit status after SIGINT" "$WRC" 0

log "usage errors exit 2"
for args in "watch" "watch a b c" "watch a --prefix b" "watch a --rev x" "watch a --bogus" \
	"watch a --count 0"; do
	# shellcheck disable=SC2086
	ctl "$L" $args >/dev/null 2>&1
	expect_eq "exit status of '$args'" "$?" 2
done

log "--user once auth is on"
expect_eq "root user" "$(rc "$L" CONCORD.USER ADD root root-pw root)" OK
expect_eq "reader role" "$(rc "$L" CONCORD.ROLE ADD preader)" OK
expect_eq "grant read p/" "$(rc "$L" CONCORD.ROLE GRANT preader read p/)" OK
expect_eq "reader user" "$(rc "$L" CONCORD.USER ADD bob bob-pw preader)" OK
expect_eq "auth enable" "$(ctl "$L" --user root:root-pw auth enable 2>&1)" OK
actl() { timeout $((20 * SLOW)) "$CTL" --endpoints "${CLIENT[$1]}" --user "$2" "${@:3}"; }
actl "$L" root:root-pw put p/auth yes >/dev/null || fail "put as root"
out=$(actl "$F" bob:bob-pw watch p/auth --rev $((C + 1)) --count 1 2>&1)
WRC=$?
expect_eq "watch as bob (out: $out)" "$WRC" 0
expect_eq "watch as bob" "$(echo "$out" | paste -sd' ')" "PUT p/auth yes"
out=$(ctl "$F" watch --prefix p/ --rev $((C + 1)) --count 1 2>&1)
[ $? -ne 0 ] || fail "an anonymous watch was served once auth is on: $out"
expect_match "anonymous watch" "$out" "NOAUTH"
out=$(actl "$F" bob:wrong watch --prefix p/ --count 1 2>&1)
[ $? -ne 0 ] || fail "a wrong password was accepted: $out"
expect_match "wrong password" "$out" "AUTH as bob refused"

log "a broken connection: watched again from the next revision on the other endpoint"
X=$((6 - L - F))
HC_FLAGS="-u root:root-pw"
timeout $((30 * SLOW)) "$CTL" --endpoints "${CLIENT[$F]},${CLIENT[$X]}" --user root:root-pw \
	watch --prefix q/ --count 2 >"$DIR/resume.out" 2>"$DIR/resume.err" &
W5=$!
PIDS+=("$W5")
tries=0
on=""
while [ -z "$on" ] && [ $tries -lt $((100 * SLOW)) ]; do
	for i in "$F" "$X"; do [ "$(watchers "$i")" = 1 ] && on=$i; done
	sleep 0.1
	tries=$((tries + 1))
done
[ -n "$on" ] || fail "the watch did not start on n$F or n$X"
actl "$L" root:root-pw put q/1 a >/dev/null || fail "put q/1"
tries=0
while [ "$(wc -l <"$DIR/resume.out")" -lt 3 ] && [ $tries -lt $((100 * SLOW)) ]; do
	sleep 0.1
	tries=$((tries + 1))
done
log "killing n$on, which serves the watch"
node_kill9 "$on"
actl "$L" root:root-pw put q/2 b >/dev/null || fail "put q/2"
wait_exit "$W5" "the resumed watch"
expect_eq "resumed watch exit status (stderr: $(cat "$DIR/resume.err"))" "$WRC" 0
same "resumed watch" "$DIR/resume.out" 'PUT\nq/1\na\nPUT\nq/2\nb\n'
expect_match "resumed watch: stderr" "$(cat "$DIR/resume.err")" "watching again from revision [0-9]+"

log "ok"
