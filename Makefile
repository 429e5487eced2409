# A thin wrapper over Meson; see README.md.
.PHONY: all build check quick tidy demo demo-sim bench soak nemesis format clean deps bench-compare fuzz tsan sweep-damage bench-cpu

all: build

deps:
	@bash scripts/deps.sh

build: deps
	@if [ -f build/build.ninja ]; then meson setup --reconfigure build >/dev/null; else meson setup build >/dev/null; fi
	@ninja -C build
	@ln -sf build/compile_commands.json compile_commands.json

check:
	@bash scripts/check.sh

# The plain build only, every suite but 'slow' (the nemesis runs and seed sweeps).
quick:
	@bash scripts/check.sh --quick

# The source-tree rules (tools/tidy/tidy.py); `make format` fixes the formatting ones.
tidy:
	@python3 tools/tidy/tidy.py

demo: build
	@bash scripts/demo.sh

demo-sim: build
	@bash scripts/demo-sim.sh

bench: build
	@bash scripts/bench.sh

# Concord against Redis (appendfsync always) and etcd on loopback; docs/performance.md.
bench-compare: build
	@bash scripts/bench-compare.sh

# Server CPU per acknowledged write, 3 nodes together (docs/performance.md).
bench-cpu: build
	@bash scripts/bench-cpu.sh

soak: build
	@bash scripts/soak.sh

# A long nemesis run: make nemesis SEED=7 DURATION=1800 (docs/nemesis.md).
nemesis: build
	@bash scripts/nemesis.sh

# Every libFuzzer target for FUZZ_SECONDS each (default 60): make fuzz FUZZ_SECONDS=600.
fuzz: deps
	@nice bash scripts/fuzz.sh $(or $(FUZZ_SECONDS),60)

# Damage to durable data on one voter, in the simulator: 3000 seeds of 3 nodes, 1000 of 5,
# 500 of 7 (about two minutes on one core).
sweep-damage: build
	@nice build/tools/concord-sim/concord-sim --seeds 1-3000 --nodes 3 --faults all,damage --quiet
	@nice build/tools/concord-sim/concord-sim --seeds 1-1000 --nodes 5 --faults all,damage --quiet
	@nice build/tools/concord-sim/concord-sim --seeds 1-500 --nodes 7 --faults all,damage --quiet

# ThreadSanitizer build (build-tsan) running the storage, node and cluster suites.
tsan: deps
	@bash scripts/tsan.sh

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan compile_commands.json
