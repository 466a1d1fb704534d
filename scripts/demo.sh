#!/usr/bin/env bash
# Set-up, optimised build, and the main demo: an echo server on all cores
# serving 10,000 concurrent client connections (clients in a forked process),
# every byte checked.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-debian.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DSPINDLE_BUILD_TESTS=OFF >/dev/null
cmake --build build/release --target echo_server -j 2
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec build/release/samples/echo_server --self-test 10000
