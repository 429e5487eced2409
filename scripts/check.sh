#!/usr/bin/env bash
# `make check`: installs missing dependencies, builds Concord twice (an optimized build
# with assertions on, and an ASan+UBSan build), runs every test in both, and ends with
# the plain line "N passed, N failed".
# `make quick` (--quick, or QUICK=1): only the plain build/, every suite but 'slow'.
set -uo pipefail
cd "$(dirname "$0")/.."

quick=${QUICK:-0}
[ "${1:-}" = "--quick" ] && quick=1

bash scripts/deps.sh || { echo "deps: failed to install dependencies" >&2; echo "0 passed, 1 failed"; exit 1; }

jobs=$(nproc 2>/dev/null || echo 2)
builds=(build build-asan)
no_suite=()
if [ "$quick" = 1 ]; then
	builds=(build)
	no_suite=(--no-suite slow)
fi
failed_builds=0

setup() { # dir, extra meson args...
	local dir=$1; shift
	# Always reconfigure: module directories are discovered at configure time, so a
	# build directory made before a module existed would not build it.
	if [ -f "$dir/build.ninja" ]; then
		meson setup --reconfigure "$dir" "$@" >/dev/null || return 1
	else
		meson setup "$dir" "$@" >/dev/null || return 1
	fi
}

setup build || failed_builds=$((failed_builds + 1))
if [ "$quick" != 1 ]; then
	setup build-asan -Db_sanitize=address,undefined -Db_lundef=false || failed_builds=$((failed_builds + 1))
fi
ln -sf build/compile_commands.json compile_commands.json

for b in "${builds[@]}"; do
	[ -f "$b/build.ninja" ] || continue
	if ! ninja -C "$b" >"$b/ninja.log" 2>&1; then
		cat "$b/ninja.log"
		echo "check: build in $b failed" >&2
		failed_builds=$((failed_builds + 1))
	fi
done

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
for b in "${builds[@]}"; do
	[ -f "$b/build.ninja" ] || continue
	rm -f "$b/meson-logs/check.json"
	echo "== tests in $b"
	meson test -C "$b" --no-rebuild --print-errorlogs --num-processes "$jobs" --logbase check \
		--timeout-multiplier 3 "${no_suite[@]}" 2>&1 | grep -vE '^(Ok|Expected Fail|Fail|Unexpected Pass|Skipped|Timeout): ' \
		| grep -vE '^Full log written to' || true
done

python3 - "$failed_builds" "${builds[@]}" <<'PY'
import json, os, sys
passed, failed = 0, int(sys.argv[1])
for b in sys.argv[2:]:
    log = os.path.join(b, "meson-logs", "check.json")
    if not os.path.exists(log):
        continue
    with open(log) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            t = json.loads(line)
            r = t.get("result")
            if r in ("OK", "EXPECTEDFAIL"):
                passed += 1
            else:
                # A skipped test is not a pass: deps.sh installs what every test needs.
                if r == "SKIP":
                    print(f"{b}: {t.get('name')} was skipped, counted as failed")
                failed += 1
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
