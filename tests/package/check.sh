#!/usr/bin/env bash
# Installs a built tree into a temporary prefix, then configures, builds and
# runs a separate consumer project that only does
# find_package(spindle CONFIG REQUIRED) + target_link_libraries(spindle::spindle).
set -euo pipefail
build=${1:?usage: check.sh <build dir>}
here=$(cd "$(dirname "$0")" && pwd)
prefix=$(mktemp -d)
work=$(mktemp -d)
trap 'rm -rf "$prefix" "$work"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
cmake -S "$here/consumer" -B "$work" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work" >/dev/null
"$work/consumer"
