#!/usr/bin/env bash
# `make demo-sim`: a 5-node cluster in the simulator, narrated as it runs: elections,
# commits, crashes, partitions, transfers, snapshots, membership changes, and the checks.
# SEED, TICKS and PACE (wall seconds per simulated second) may be set in the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
seed=${SEED:-1}
ticks=${TICKS:-3000}
pace=${PACE:-1}
echo "Concord simulator demo: a 5-node Raft cluster on simulated time, seed $seed."
echo "Replay it exactly with: build/tools/concord-sim/concord-sim --seed $seed --nodes 5 --ticks $ticks --narrate"
echo
exec build/tools/concord-sim/concord-sim --seed "$seed" --nodes 5 --ticks "$ticks" \
	--faults all --narrate --pace "$pace"
