#!/usr/bin/env bash
# Installs the Debian packages Concord needs to build, test and benchmark, if any
# are missing. Runs `apt-get update` once, then `apt-get install -y` of what lacks.
set -euo pipefail

packages=(
	build-essential pkg-config meson ninja-build python3
	libuv1-dev libprotobuf-c-dev protobuf-c-compiler
	libcmocka-dev
	libssl-dev openssl   # TLS and the peer handshake's HMAC; openssl makes the test certificates
	clang libclang-rt-14-dev clang-format   # clang-format: the tidy test
	redis-tools curl python3-redis libhiredis-dev   # real clients in the tests
	e2fsprogs mount   # the nemesis: small ext4 images for full-disk faults
	prometheus   # promtool: tests/cluster/metrics.sh lints /metrics
	nodejs   # node-redis in tests/cluster/resp3.sh, which npm-installs it into the build dir
	chromium   # headless: tests/cluster/web.sh loads the web page and reads the DOM its script built
)
# npm: Debian packages it apart from nodejs; NodeSource's nodejs carries its own.
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

echo "deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		sudo="sudo"
	else
		echo "deps: missing packages (${missing[*]}) and not root; install them and retry" >&2
		exit 1
	fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update </dev/null
$sudo apt-get install -y --no-install-recommends "${missing[@]}" </dev/null
