#!/usr/bin/env bash
# `make bench`: every benchmark concord-bench has, with their figures printed.
set -euo pipefail
cd "$(dirname "$0")/.."
exec build/bench/concord-bench all
