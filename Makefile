# A thin wrapper over Meson; see README.md.
.PHONY: all build check demo bench soak format clean deps

all: build

deps:
	@bash scripts/deps.sh

build: deps
	@[ -f build/build.ninja ] || meson setup build
	@ninja -C build
	@ln -sf build/compile_commands.json compile_commands.json

check:
	@bash scripts/check.sh

demo: build
	@bash scripts/demo.sh

bench: build
	@bash scripts/bench.sh

soak: build
	@bash scripts/soak.sh

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan compile_commands.json
