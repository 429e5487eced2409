# lib.sh: helpers for the cluster tests: start real concord processes on loopback, find the leader, always clean up.
#
# Sourced by the tests in this directory. Every process a test starts is recorded by pid
# and killed by the EXIT trap, pass or fail; the data directories live under one
# mktemp -d that the trap removes. Every wait is bounded in tries and in time.
#
# The binary comes from $CONCORD (meson passes it), else build/tools/concord/concord.

set -uo pipefail

CONCORD=${CONCORD:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/tools/concord/concord}
N=${N:-3}
TEST_NAME=${TEST_NAME:-$(basename "$0" .sh)}
# Slower under sanitizers: the timeouts scale with this.
SLOW=${SLOW:-1}
if [[ "$(ldd "$CONCORD" 2>/dev/null)" == *libasan* ]] || nm "$CONCORD" 2>/dev/null | grep -q __asan_init; then
	SLOW=3
fi

DIR=$(mktemp -d "${TMPDIR:-/tmp}/concord-$TEST_NAME.XXXXXX")
declare -a PIDS=()
declare -a PEER=() CLIENT=() HTTP=()
FAILED=0
LEADER=0
T0=$(date +%s.%N)

log() { printf '[%6.2fs] %s\n' "$(awk -v a="$(date +%s.%N)" -v b="$T0" 'BEGIN{print a-b}')" "$*"; }

fail() {
	log "FAIL: $*"
	FAILED=1
	exit 1
}

cleanup() {
	local rc=$?
	for i in "${!PIDS[@]}"; do
		local pid=${PIDS[$i]}
		[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	done
	for i in "${!PIDS[@]}"; do
		local pid=${PIDS[$i]}
		[ -n "$pid" ] && wait "$pid" 2>/dev/null
	done
	if [ "$rc" -ne 0 ] || [ "$FAILED" -ne 0 ]; then
		for f in "$DIR"/n*.log; do
			[ -f "$f" ] || continue
			echo "---- $(basename "$f") (last 40 lines)"
			tail -n 40 "$f"
		done
	fi
	rm -rf "$DIR"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Free TCP ports: bound to port 0, read back, released.
free_ports() { # count
	python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

# Chooses addresses for nodes 1..N.
cluster_addresses() {
	local ports
	read -r -a ports <<<"$(free_ports $((3 * N)))"
	for i in $(seq 1 "$N"); do
		PEER[$i]=127.0.0.1:${ports[$((3 * (i - 1)))]}
		CLIENT[$i]=127.0.0.1:${ports[$((3 * (i - 1) + 1))]}
		HTTP[$i]=127.0.0.1:${ports[$((3 * (i - 1) + 2))]}
	done
}

list_of() { # array-name
	local -n arr=$1
	local out=""
	for i in $(seq 1 "$N"); do
		out+="${out:+,}n$i=${arr[$i]}"
	done
	echo "$out"
}

# Extra flags for every node, e.g. NODE_FLAGS_3="--resp-follower moved".
node_start() { # i
	local i=$1
	local extra_var="NODE_FLAGS_$i"
	# shellcheck disable=SC2086
	"$CONCORD" --name "n$i" --data-dir "$DIR/n$i" --cluster-id "test-$TEST_NAME" \
		--initial-cluster "$(list_of PEER)" \
		--initial-cluster-client "$(list_of CLIENT)" \
		--initial-cluster-http "$(list_of HTTP)" \
		--tick-ms 25 --election-ticks $((20 * SLOW)) --heartbeat-ticks 2 \
		--request-timeout-ms $((3000 * SLOW)) \
		${CLUSTER_FLAGS:-} ${!extra_var:-} >>"$DIR/n$i.log" 2>&1 &
	PIDS[$i]=$!
}

node_alive() { # i
	[ -n "${PIDS[$1]:-}" ] && kill -0 "${PIDS[$1]}" 2>/dev/null
}

node_kill9() { # i
	local pid=${PIDS[$1]:-}
	[ -n "$pid" ] || return 0
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	PIDS[$1]=""
}

# SIGTERM, then wait (bounded) for a clean exit 0.
node_stop() { # i
	local pid=${PIDS[$1]:-}
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	local tries=0
	while kill -0 "$pid" 2>/dev/null && [ $tries -lt $((100 * SLOW)) ]; do
		sleep 0.1
		tries=$((tries + 1))
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		PIDS[$1]=""
		fail "n$1 did not stop within $((10 * SLOW)) s of SIGTERM"
	fi
	wait "$pid"
	local rc=$?
	PIDS[$1]=""
	[ "$rc" -eq 0 ] || fail "n$1 exited $rc after SIGTERM"
}

# Adds member i as a learner through leader l (CONCORD.MEMBER ADD) on fresh ports and
# starts it with --join; extra flags after the two.
node_join() { # l i [flags...]
	local l=$1 i=$2
	shift 2
	read -r -a ports <<<"$(free_ports 3)"
	PEER[$i]=127.0.0.1:${ports[0]}
	CLIENT[$i]=127.0.0.1:${ports[1]}
	HTTP[$i]=127.0.0.1:${ports[2]}
	expect_eq "MEMBER ADD $i" "$(rc "$l" CONCORD.MEMBER ADD "$i" "n$i" "${PEER[$i]}" "${CLIENT[$i]}" "${HTTP[$i]}")" OK
	# shellcheck disable=SC2086
	"$CONCORD" --name "n$i" --id "$i" --join --data-dir "$DIR/n$i" --cluster-id "test-$TEST_NAME" \
		--listen-peer "${PEER[$i]}" --listen-client "${CLIENT[$i]}" --listen-http "${HTTP[$i]}" \
		--initial-cluster "$(list_of PEER)" \
		--tick-ms 25 --election-ticks $((20 * SLOW)) --heartbeat-ticks 2 \
		--request-timeout-ms $((3000 * SLOW)) ${CLUSTER_FLAGS:-} "$@" >>"$DIR/n$i.log" 2>&1 &
	PIDS[$i]=$!
}

# A removed member stops by itself with status 3 (docs/server.md): waits (bounded) for
# that exit.
node_wait_removed() { # i
	local pid=${PIDS[$1]:-}
	[ -n "$pid" ] || fail "n$1 is not running"
	local tries=0
	while kill -0 "$pid" 2>/dev/null && [ $tries -lt $((150 * SLOW)) ]; do
		sleep 0.1
		tries=$((tries + 1))
	done
	kill -0 "$pid" 2>/dev/null && fail "removed n$1 still runs after $((15 * SLOW)) s"
	wait "$pid"
	local rc=$?
	PIDS[$1]=""
	[ "$rc" -eq 3 ] || fail "removed n$1 exited $rc, not 3"
}

cluster_start() {
	cluster_addresses
	for i in $(seq 1 "$N"); do
		node_start "$i"
	done
}

# redis-cli against node i, with a timeout.
rc() { # i args...
	local i=$1
	shift
	# shellcheck disable=SC2086
	timeout $((10 * SLOW)) redis-cli ${RC_FLAGS:-} -h 127.0.0.1 -p "${CLIENT[$i]##*:}" "$@"
}

hc() { # i curl-args... (path relative to the node's HTTP address: use URL_i)
	# shellcheck disable=SC2086
	timeout $((10 * SLOW)) curl -s -S --max-time $((8 * SLOW)) ${HC_FLAGS:-} "$@"
}

url() { # i path
	echo "${URL_SCHEME:-http}://${HTTP[$1]}$2"
}

info_field() { # i field
	rc "$1" INFO concord 2>/dev/null | tr -d '\r' | sed -n "s/^$2://p"
}

# Waits until one of the live nodes (or the nodes given) says it leads, and every other
# live node names it. Sets LEADER.
wait_leader() { # [timeout-seconds]
	local limit=${1:-$((20 * SLOW))}
	local deadline=$(($(date +%s) + limit))
	local tries=0
	while [ "$(date +%s)" -lt "$deadline" ] && [ $tries -lt 1000 ]; do
		tries=$((tries + 1))
		local leader=0 agree=1
		for i in $(seq 1 "$N"); do
			node_alive "$i" || continue
			local role lid
			role=$(info_field "$i" raft_role)
			lid=$(info_field "$i" leader_id)
			[ "$role" = leader ] && leader=$i
			if [ -z "$lid" ] || [ "$lid" = 0 ]; then agree=0; fi
		done
		if [ "$leader" -ne 0 ] && [ "$agree" -eq 1 ]; then
			for i in $(seq 1 "$N"); do
				node_alive "$i" || continue
				[ "$(info_field "$i" leader_id)" = "$leader" ] || agree=0
			done
			if [ "$agree" -eq 1 ]; then
				LEADER=$leader
				return 0
			fi
		fi
		sleep 0.1
	done
	fail "no leader agreed on within ${limit}s"
}

# Some live node other than the leader.
a_follower() {
	for i in $(seq 1 "$N"); do
		if [ "$i" -ne "$LEADER" ] && node_alive "$i"; then
			echo "$i"
			return
		fi
	done
	echo 0
}

expect_eq() { # what got want
	[ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
}

expect_match() { # what got regex
	[[ "$2" =~ $3 ]] || fail "$1: got '$2', want a match of /$3/"
}

# Waits until node i has applied at least `index` (bounded).
wait_applied() { # i index [timeout]
	local limit=${3:-$((20 * SLOW))}
	local deadline=$(($(date +%s) + limit))
	while [ "$(date +%s)" -lt "$deadline" ]; do
		local a
		a=$(info_field "$1" applied_index)
		if [ -n "$a" ] && [ "$a" -ge "$2" ]; then
			return 0
		fi
		sleep 0.1
	done
	fail "n$1 did not apply index $2 within ${limit}s (it is at $(info_field "$1" applied_index))"
}

# Waits until node i answers PING. A node restarted on its old ports may find one taken
# meanwhile by another process's outgoing connection (the ports come from the kernel's
# ephemeral range); it then exits with "address already in use" and is started again,
# a bounded number of times.
wait_revision_still() { # i: until node i's store revision stays the same for 2 s
	# Members publish their own addresses in their first seconds (src/server/publish.c),
	# each such write taking a revision: tests that count revisions start after that.
	local last=-1 same=0 r
	for _ in $(seq 1 $((40 * SLOW))); do
		r=$(rc "$1" CONCORD.RANGE "" COUNTONLY | head -n1)
		if [ "$r" = "$last" ]; then same=$((same + 1)); else same=0; fi
		[ $same -ge 4 ] && return 0
		last=$r
		sleep 0.5
	done
	fail "n$1's revision did not settle (last $last)"
}

wait_up() { # i
	local tries=0 restarts=0
	while [ $tries -lt $((100 * SLOW)) ]; do
		[ "$(rc "$1" PING 2>/dev/null)" = PONG ] && return 0
		if ! node_alive "$1"; then
			if [ $restarts -lt 20 ] && tail -n 1 "$DIR/n$1.log" | grep -q "address already in use"; then
				restarts=$((restarts + 1))
				sleep 0.5
				node_start "$1"
				continue
			fi
			fail "n$1 exited while starting"
		fi
		sleep 0.1
		tries=$((tries + 1))
	done
	fail "n$1 did not come up"
}

npm_package() { # name: installs npm's package once into $BUILD_DIR/<name>-node, sets NPM_DIR
	NPM_DIR=${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}/$1-node
	[ -f "$NPM_DIR/node_modules/$1/package.json" ] && return 0
	command -v npm >/dev/null || fail "npm missing: scripts/deps.sh installs nodejs and npm"
	log "npm install $1 into $NPM_DIR"
	mkdir -p "$NPM_DIR"
	local out
	out=$(cd "$NPM_DIR" && timeout 300 npm install --prefix "$NPM_DIR" --no-audit --no-fund \
		--loglevel=error "$1" 2>&1) || fail "npm install $1 failed: $out"
}
