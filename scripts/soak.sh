#!/usr/bin/env bash
# `make soak`: many more simulator seeds than `make check` runs. SEEDS (a range, default
# 1-10000) and NODES (default: 3 5 7) may be set in the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${SEEDS:-1-10000}
for n in ${NODES:-3 5 7}; do
	echo "== $n nodes, seeds $seeds, all faults"
	build/tools/concord-sim/concord-sim --seeds "$seeds" --nodes "$n" --faults all --quiet
done
