#!/usr/bin/env bash
# bench-compare.sh: Concord (3 nodes) against Redis (1 node, appendfsync always) and etcd (3 members), same loads, same window, with the machine's floor.
#
# Usage: scripts/bench-compare.sh            (make bench-compare; docs/performance.md)
# Environment: RUN_SECONDS (default 10: the target length of one run), REPS (default 3),
# CONCORD (the binary, default build/tools/concord/concord; run `make build` first).
#
# Installs what it lacks from Debian (bench/compare/packages, as scripts/deps.sh does: as
# root or via sudo), then starts everything on 127.0.0.1 with fresh data directories
# under one mktemp -d. Every process it starts is recorded by pid and killed by the EXIT
# trap (tests/cluster/lib.sh), pass or fail, and the directory removed. Every wait is
# bounded; every load run is under `timeout`.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUN_SECONDS=${RUN_SECONDS:-10}
REPS=${REPS:-3}

install_missing() {
	local p missing=()
	while read -r p; do
		p=${p%%#*}
		p=${p//[[:space:]]/}
		[ -n "$p" ] || continue
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
			missing+=("$p")
		fi
	done <bench/compare/packages
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "bench-compare: installing ${missing[*]}"
	local sudo=""
	if [ "$(id -u)" -ne 0 ]; then
		if command -v sudo >/dev/null 2>&1; then
			sudo="sudo"
		else
			echo "bench-compare: missing packages (${missing[*]}) and not root; install them and retry" >&2
			exit 1
		fi
	fi
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update </dev/null || exit 1
	$sudo apt-get install -y --no-install-recommends "${missing[@]}" </dev/null || exit 1
}
install_missing

export CONCORD=${CONCORD:-$ROOT/build/tools/concord/concord}
export TEST_NAME=bench-compare
[ -x "$CONCORD" ] || { echo "no $CONCORD: run make build first" >&2; exit 1; }
for t in redis-server redis-benchmark etcd wrk curl python3; do
	command -v "$t" >/dev/null || { echo "bench-compare: $t missing" >&2; exit 1; }
done
# shellcheck source=../tests/cluster/lib.sh
source tests/cluster/lib.sh
# The node's default timing, as scripts/bench-server.sh uses; a long request timeout so
# that a deep pipeline on two shared CPUs queues rather than fails.
export CLUSTER_FLAGS=${CLUSTER_FLAGS:-"--tick-ms 50 --election-ticks 10 --request-timeout-ms 60000"}
RESULTS=$DIR/results.tsv
FLOOR=$DIR/floor.txt
: >"$RESULTS"
: >"$FLOOR"

# ---- Concord: 3 nodes (PIDS[1..3], lib.sh)
cluster_start
wait_leader 30
L=$LEADER
CONCORD_RESP=${CLIENT[$L]##*:}
CONCORD_HTTP=${HTTP[$L]}
log "concord: 3 nodes, leader n$L (RESP 127.0.0.1:$CONCORD_RESP, HTTP $CONCORD_HTTP)"

# ---- Redis: one node, AOF fsynced on every write, in the foreground (PIDS[10])
REDIS_PORT=$(free_ports 1)
mkdir -p "$DIR/redis"
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$DIR/redis" \
	--appendonly yes --appendfsync always --save "" --daemonize no \
	--protected-mode yes --logfile "$DIR/redis.log" >/dev/null 2>&1 &
PIDS[10]=$!
tries=0
until [ "$(timeout 2 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" PING 2>/dev/null)" = PONG ]; do
	tries=$((tries + 1))
	[ $tries -lt 100 ] && kill -0 "${PIDS[10]}" 2>/dev/null || { tail -n 20 "$DIR/redis.log"; fail "redis did not come up"; }
	sleep 0.1
done
log "redis: $(redis-server --version | awk '{print $3}'), 127.0.0.1:$REDIS_PORT, appendonly yes, appendfsync always"

# ---- etcd: 3 members (PIDS[21..23]); its gRPC gateway serves /v3/kv/put on the client port
ETCD_OK=1
read -r -a eports <<<"$(free_ports 6)"
ecluster=""
for i in 1 2 3; do
	ecluster+="${ecluster:+,}e$i=http://127.0.0.1:${eports[$((2 * i - 2))]}"
done
for i in 1 2 3; do
	pp=${eports[$((2 * i - 2))]}
	cp=${eports[$((2 * i - 1))]}
	etcd --name "e$i" --data-dir "$DIR/e$i" \
		--listen-peer-urls "http://127.0.0.1:$pp" --initial-advertise-peer-urls "http://127.0.0.1:$pp" \
		--listen-client-urls "http://127.0.0.1:$cp" --advertise-client-urls "http://127.0.0.1:$cp" \
		--initial-cluster "$ecluster" --initial-cluster-state new \
		--initial-cluster-token "bench-compare-$$" >"$DIR/e$i.log" 2>&1 &
	PIDS[$((20 + i))]=$!
done
ETCD_URLS=()
for i in 1 2 3; do ETCD_URLS+=("http://127.0.0.1:${eports[$((2 * i - 1))]}"); done
tries=0
while :; do
	healthy=0
	for u in "${ETCD_URLS[@]}"; do
		curl -s --max-time 2 "$u/health" 2>/dev/null | grep -q '"health":"true"' && healthy=$((healthy + 1))
	done
	[ $healthy -eq 3 ] && break
	tries=$((tries + 1))
	if [ $tries -ge 150 ]; then
		ETCD_OK=0
		log "etcd: not healthy within ~30 s; skipping etcd (last lines of e1.log follow)"
		tail -n 20 "$DIR/e1.log"
		break
	fi
	sleep 0.2
done
if [ $ETCD_OK -eq 1 ]; then
	# The gateway takes any member; the leader's saves the forward, as Concord's leader port does.
	ETCD_URL=${ETCD_URLS[0]}
	for u in "${ETCD_URLS[@]}"; do
		if curl -s --max-time 2 -X POST -d '{}' "$u/v3/maintenance/status" | python3 -c \
			'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["leader"]==d["header"]["member_id"] else 1)' 2>/dev/null; then
			ETCD_URL=$u
		fi
	done
	probe=$(curl -s --max-time 5 -X POST -H 'Content-Type: application/json' \
		-d '{"key":"cHJvYmU=","value":"dg=="}' "$ETCD_URL/v3/kv/put")
	if [[ "$probe" != *'"revision"'* ]]; then
		ETCD_OK=0
		log "etcd: the gateway's PUT /v3/kv/put did not answer a revision (got: ${probe:0:200}); skipping etcd"
	else
		log "etcd: $(etcd --version 2>/dev/null | head -n 1), 3 members, gateway at $ETCD_URL (leader)"
	fi
fi

# ---- the floor, in the same window
python3 bench/compare/floor.py fsync "$DIR" 2000 >>"$FLOOR" || fail "floor: fsync"
python3 bench/compare/floor.py rtt 20000 >>"$FLOOR" || fail "floor: rtt"
log "floor: $(tr '\n' ';' <"$FLOOR")"

# ---- the loads
# name: redis-benchmark arguments
declare -A RB=(
	[set-c1]="-t set -d 256 -r 100000 -c 1"
	[set-c64]="-t set -d 256 -r 100000 -c 64"
	[set-c256]="-t set -d 256 -r 100000 -c 256"
	[set-c256-P16]="-t set -d 256 -r 100000 -c 256 -P 16"
	[get-c256]="-t get -d 256 -r 100000 -c 256"
)
RB_ORDER=(set-c1 set-c64 set-c256 set-c256-P16 get-c256)
declare -A NREQ=()

# One redis-benchmark run; prints "rps p50_ms p99_ms elapsed_s" or "- - - elapsed_s".
rb_once() { # port n args...
	local port=$1 n=$2
	shift 2
	local t0 t1 out
	t0=$(date +%s.%N)
	# shellcheck disable=SC2068
	out=$(timeout $((3 * RUN_SECONDS + 30)) redis-benchmark -h 127.0.0.1 -p "$port" -n "$n" $@ --csv 2>"$DIR/rb.err" |
		tr -d '"' | awk -F, '$1=="SET"||$1=="GET" {print $2, $5, $7}')
	t1=$(date +%s.%N)
	echo "${out:-- - -} $(awk -v a="$t1" -v b="$t0" 'BEGIN{printf "%.1f", a-b}')"
	# A failed run says why (redis-benchmark exits on the first error reply).
	[ -n "$out" ] || tr '\r' '\n' <"$DIR/rb.err" | grep -v '^ *$' | tail -n 2 | sed 's/^/    redis-benchmark: /' >&2
}

# The request count for RUN_SECONDS: a short probe first (once per system and load).
rb_calibrate() { # system port name
	local key="$1/$3" args=${RB[$3]} c p=1 probe
	c=$(sed -n 's/.*-c \([0-9]*\).*/\1/p' <<<"$args")
	[[ "$args" == *"-P "* ]] && p=$(sed -n 's/.*-P \([0-9]*\).*/\1/p' <<<"$args")
	probe=$((c * p * 20))
	[ $probe -lt 300 ] && probe=300
	local r
	read -r -a r <<<"$(rb_once "$2" "$probe" "$args")"
	local n=$probe
	if [ "${r[0]}" != - ]; then
		n=$(awk -v rps="${r[0]}" -v s="$RUN_SECONDS" -v m="$probe" 'BEGIN{n=int(rps*s); if(n<m)n=m; if(n>5000000)n=5000000; print n}')
	fi
	NREQ[$key]=$n
}

rb_run() { # system port name rep
	local key="$1/$3" r
	[ -n "${NREQ[$key]:-}" ] || rb_calibrate "$1" "$2" "$3"
	read -r -a r <<<"$(rb_once "$2" "${NREQ[$key]}" "${RB[$3]}")"
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$3" "$4" "${r[0]}" "${r[1]}" "${r[2]}" >>"$RESULTS"
	log "  $1 $3 rep $4: n=${NREQ[$key]} ${r[0]} ops/s p50 ${r[1]} ms p99 ${r[2]} ms (${r[3]} s)"
}

wrk_run() { # system url script rep
	local out line rps p50 p99 non2xx errs
	out=$(timeout $((RUN_SECONDS + 30)) wrk -t 2 -c 256 -d "${RUN_SECONDS}s" --timeout 10s \
		-s "$ROOT/bench/compare/$3" "$2" 2>&1)
	line=$(grep '^WRK ' <<<"$out")
	if [ -z "$line" ]; then
		printf '%s\thttp-put-c256\t%s\t-\t-\t-\n' "$1" "$4" >>"$RESULTS"
		log "  $1 http-put-c256 rep $4: wrk gave no result: $(tail -n 3 <<<"$out" | tr '\n' ' ')"
		return
	fi
	rps=$(sed -n 's/.* rps=\([0-9.]*\).*/\1/p' <<<"$line")
	p50=$(sed -n 's/.* p50_us=\([0-9]*\).*/\1/p' <<<"$line")
	p99=$(sed -n 's/.* p99_us=\([0-9]*\).*/\1/p' <<<"$line")
	non2xx=$(sed -n 's/.* non2xx=\([0-9]*\).*/\1/p' <<<"$line")
	errs=$(awk '{for(i=2;i<=NF;i++){split($i,a,"="); if(a[1]~/connect|read|write|timeout/) s+=a[2]}} END{print s+0}' <<<"$line")
	p50=$(awk -v u="$p50" 'BEGIN{printf "%.3f", u/1000}')
	p99=$(awk -v u="$p99" 'BEGIN{printf "%.3f", u/1000}')
	if [ "${non2xx:-0}" -gt 0 ] || [ "$errs" -gt 0 ]; then
		log "  $1 http-put-c256 rep $4: $non2xx non-2xx responses, $errs socket errors: not counted"
		printf '%s\thttp-put-c256\t%s\t-\t-\t-\n' "$1" "$4" >>"$RESULTS"
		return
	fi
	printf '%s\thttp-put-c256\t%s\t%s\t%s\t%s\n' "$1" "$4" "$rps" "$p50" "$p99" >>"$RESULTS"
	log "  $1 http-put-c256 rep $4: $rps ops/s p50 $p50 ms p99 $p99 ms"
}

for rep in $(seq 1 "$REPS"); do
	log "rep $rep/$REPS: concord"
	for name in "${RB_ORDER[@]}"; do rb_run concord "$CONCORD_RESP" "$name" "$rep"; done
	wrk_run concord "http://$CONCORD_HTTP" concord-put.lua "$rep"
	log "rep $rep/$REPS: redis"
	for name in "${RB_ORDER[@]}"; do rb_run redis "$REDIS_PORT" "$name" "$rep"; done
	if [ $ETCD_OK -eq 1 ]; then
		log "rep $rep/$REPS: etcd"
		wrk_run etcd "$ETCD_URL" etcd-put.lua "$rep"
	fi
done
for i in 1 2 3; do node_alive "$i" || fail "concord n$i died during the run"; done

echo
echo "== bench-compare: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "== $REPS reps of ~${RUN_SECONDS} s per load, interleaved (Concord, Redis, etcd); redis-benchmark -n calibrated per load by a probe"
[ $ETCD_OK -eq 1 ] || echo "== etcd: skipped (see the log above)"
python3 bench/compare/report.py "$RESULTS" "$FLOOR"
