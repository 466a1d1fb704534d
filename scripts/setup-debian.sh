#!/usr/bin/env bash
# Installs what spindle needs on Debian 12 (as root), skipping what is there.
set -euo pipefail
# clang: scripts/test.sh builds once with it, for its thread-safety analysis.
# gdb: tests/gdb/check.sh runs scripts/gdb/spindle.py in it.
packages=(g++ clang cmake ninja-build pkgconf redis-tools libboost-context1.81-dev libconcurrentqueue-dev liburing-dev libgtest-dev libbenchmark-dev gdb)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
