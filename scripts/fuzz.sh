#!/usr/bin/env bash
# fuzz.sh: builds the decoder fuzzers (libFuzzer, clang, ASan+UBSan) and runs each for N seconds.
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
#   SECONDS  how long to run each fuzzer (default 60)
#   TARGET   one of $all_targets below (default: all of them)
# The build directory is build-fuzz (FUZZ_BUILD_DIR overrides it); each fuzzer keeps its
# growing corpus in build-fuzz/corpus/<target>, seeded from fuzz/corpus/<target>, and
# writes any crashing input to build-fuzz/artifacts/<target>/. Exits nonzero if a fuzzer
# found a crash.
set -euo pipefail

# Every target in fuzz/meson.build; fuzz/fuzz_<target>.c says what each one covers.
all_targets=(resp http json frame storage walscan meta kv kvsnap history raft)

seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
	targets=("${all_targets[@]}")
fi
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${FUZZ_BUILD_DIR:-$root/build-fuzz}"

if ! command -v clang >/dev/null 2>&1; then
	echo "fuzz: clang is required (scripts/deps.sh installs clang and libclang-rt-14-dev)" >&2
	exit 1
fi
if [ ! -f "$build/build.ninja" ]; then
	CC=clang meson setup "$build" "$root" -Db_sanitize=address,undefined -Db_lundef=false
fi
ninja_targets=()
for t in "${targets[@]}"; do
	ninja_targets+=("fuzz/fuzz_$t")
done
ninja -C "$build" "${ninja_targets[@]}"

# UBSan reports are findings too: make them abort so libFuzzer keeps the input.
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1"
export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1"

status=0
for t in "${targets[@]}"; do
	corpus="$build/corpus/$t"
	artifacts="$build/artifacts/$t/"
	mkdir -p "$corpus" "$artifacts"
	seeds=()
	if [ -d "$root/fuzz/corpus/$t" ]; then
		seeds=("$root/fuzz/corpus/$t")
	fi
	# A storage input is a whole data directory: let it hold a few segments.
	max_len=4096
	case "$t" in
	storage | walscan) max_len=16384 ;;
	esac
	log="$build/fuzz_$t.log"
	echo "fuzz: $t for ${seconds}s (log: $log)"
	if "$build/fuzz/fuzz_$t" -max_total_time="$seconds" -max_len="$max_len" \
		-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$artifacts" "$corpus" "${seeds[@]}" >"$log" 2>&1; then
		runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')"
		cov="$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)"
		echo "fuzz: $t: ok, $runs executions, $cov, corpus $(ls "$corpus" | wc -l) inputs"
	else
		echo "fuzz: $t: FAILED; see $log and $artifacts" >&2
		tail -40 "$log" >&2
		status=1
	fi
done
exit "$status"
