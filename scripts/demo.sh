#!/usr/bin/env bash
# `make demo`: a live 5-node Concord cluster on loopback under a workload, with light
# fault injection, leader preemptions and member swaps (scripts/demo-cluster.sh).
# DURATION (seconds) stops it on its own; otherwise Ctrl-C stops it cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
exec bash scripts/demo-cluster.sh
