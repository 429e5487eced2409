#!/usr/bin/env bash
# nemesis.sh: `make nemesis`: a long nemesis run against a real 5-node cluster (docs/nemesis.md).
#
# SEED (default: the current time) and DURATION in seconds (default 1800) choose the run;
# NEMESIS_ARGS passes more flags (see `build/tools/nemesis/nemesis --help`). The run's
# directory (logs, history, report.html) is printed at the start and the end.
set -uo pipefail
cd "$(dirname "$0")/.."
SEED=${SEED:-$(date +%s)}
DURATION=${DURATION:-1800}
DIR=${NEMESIS_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/concord-nemesis.XXXXXX")}
# shellcheck disable=SC2086
build/tools/nemesis/nemesis --seed "$SEED" --duration "$DURATION" --dir "$DIR" ${NEMESIS_ARGS:-}
rc=$?
echo "nemesis: exit $rc; report: $DIR/report.html (history: $DIR/history.jsonl, logs: $DIR/logs)"
exit $rc
