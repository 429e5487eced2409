#!/usr/bin/env bash
# bench-cpu.sh: server CPU per acknowledged write (3 nodes together), a figure that survives a loaded machine.
#
# Usage: scripts/bench-cpu.sh                 (make bench-cpu; docs/performance.md)
# Environment: REQUESTS (default 100000 SETs per load), REPS (default 3), LOADS (default
# "c1 c64 c64-P16"), PROFILE=DIR (also `perf record -g` the leader during each load's first
# rep, into DIR/<load>.data, and print its top symbols), CONCORD (the binary).
#
# Throughput on a shared machine says more about the neighbours than about the server;
# the CPU the three node processes burn per write (utime+stime from /proc/PID/stat,
# before and after a fixed count of redis-benchmark SETs, every reply checked) does not
# depend much on how long the run took. Prints µs per write for each rep and the median.
# Every process is killed by the EXIT trap (tests/cluster/lib.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
REQUESTS=${REQUESTS:-100000}
REPS=${REPS:-3}
LOADS=${LOADS:-"c1 c64 c64-P16"}
PROFILE=${PROFILE:-}
export CONCORD=${CONCORD:-$PWD/build/tools/concord/concord}
export TEST_NAME=bench-cpu
[ -x "$CONCORD" ] || { echo "no $CONCORD: run make build first" >&2; exit 1; }
command -v redis-benchmark >/dev/null || { echo "bench-cpu: redis-benchmark missing (make deps)" >&2; exit 1; }
# shellcheck source=../tests/cluster/lib.sh
source tests/cluster/lib.sh
export CLUSTER_FLAGS=${CLUSTER_FLAGS:-"--tick-ms 50 --election-ticks 10 --request-timeout-ms 60000"}
TCK=$(getconf CLK_TCK)

# utime+stime of the three nodes, in clock ticks.
cpu_ticks() {
	local total=0 i f
	for i in 1 2 3; do
		# Fields after the command's closing parenthesis: utime is the 12th, stime the 13th.
		f=$(sed 's/^.*) //' "/proc/${PIDS[$i]}/stat") || fail "node $i is gone"
		read -r -a a <<<"$f"
		total=$((total + a[11] + a[12]))
	done
	echo "$total"
}

load_args() { # name
	case $1 in
	c1) echo "-c 1" ;;
	c64) echo "-c 64" ;;
	c256) echo "-c 256" ;;
	c64-P16) echo "-c 64 -P 16" ;;
	c256-P16) echo "-c 256 -P 16" ;;
	*) fail "unknown load $1" ;;
	esac
}

cluster_start
wait_leader 30
L=$LEADER
PORT=${CLIENT[$L]##*:}
log "3 nodes, leader n$L; $REQUESTS SETs of 256 B over 100000 keys per run; $(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg)"
for load in $LOADS; do
	n=$REQUESTS
	[ "$load" = c1 ] && n=$((REQUESTS / 5)) # c=1 is slow; the per-write cost needs fewer
	figs=()
	for rep in $(seq 1 "$REPS"); do
		perf_pid=""
		if [ -n "$PROFILE" ] && [ "$rep" = 1 ]; then
			mkdir -p "$PROFILE"
			perf record -g -q -o "$PROFILE/$load.data" -p "${PIDS[$L]}" >/dev/null 2>&1 &
			perf_pid=$!
			PIDS[40]=$perf_pid
			sleep 0.5
		fi
		t0=$(cpu_ticks)
		s0=$(date +%s.%N)
		# shellcheck disable=SC2046
		out=$(timeout 600 redis-benchmark -h 127.0.0.1 -p "$PORT" -t set -d 256 -r 100000 \
			-n "$n" $(load_args "$load") --csv 2>&1) || fail "redis-benchmark: $(tail -n 3 <<<"$out")"
		t1=$(cpu_ticks)
		s1=$(date +%s.%N)
		grep -q '^"SET"' <<<"$out" || fail "redis-benchmark printed no SET line: $(tail -n 3 <<<"$out")"
		if [ -n "$perf_pid" ]; then
			kill -INT "$perf_pid" 2>/dev/null
			wait "$perf_pid" 2>/dev/null
			PIDS[40]=""
		fi
		us=$(awk -v d=$((t1 - t0)) -v tck="$TCK" -v n="$n" 'BEGIN{printf "%.1f", d / tck * 1e6 / n}')
		figs+=("$us")
		log "  $load rep $rep: $n writes, server CPU $(awk -v d=$((t1 - t0)) -v t="$TCK" 'BEGIN{printf "%.2f", d/t}') s in $(awk -v a="$s1" -v b="$s0" 'BEGIN{printf "%.1f", a-b}') s: $us µs/write"
	done
	med=$(printf '%s\n' "${figs[@]}" | sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}') # of two, the lower
	echo "CPU $load: median $med µs of server CPU per write (3 nodes) [${figs[*]}]"
	if [ -n "$PROFILE" ] && [ -f "$PROFILE/$load.data" ]; then
		{ perf report -i "$PROFILE/$load.data" --no-children --sort sym --stdio -g none 2>/dev/null |
			grep -E '^ +[0-9]' | head -n 20 | sed "s/^/  [$load leader] /"; } || true
	fi
done
exit 0
