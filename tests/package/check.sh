#!/usr/bin/env bash
# Installs a built tree into a temporary prefix, then builds and runs a
# consumer program against it three ways:
#  * a CMake project doing find_package(spindle <version> CONFIG REQUIRED) +
#    target_link_libraries(spindle::spindle); asking for the next major
#    version must fail (SameMajorVersion);
#  * plain g++ with $(pkg-config --cflags --libs spindle);
#  * with --deb: the Debian package `cpack -G DEB` makes, unpacked into a
#    scratch root, used by both of the above.
# Usage: check.sh <build dir> [--deb]
set -euo pipefail
build=${1:?usage: check.sh <build dir> [--deb]}
deb=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$build" && pwd)
prefix=$(mktemp -d)
work=$(mktemp -d)
trap 'rm -rf "$prefix" "$work"' EXIT

version=$(sed -n 's/^CMAKE_PROJECT_VERSION:[A-Z]*=//p' "$build/CMakeCache.txt")
major=${version%%.*}

if [ "$deb" = --deb ]; then
  (cd "$build" && cpack -G DEB -B "$work/deb" >/dev/null)
  pkg=$(ls "$work"/deb/libspindle-dev_*.deb)
  dpkg-deb --field "$pkg" Package Version Depends
  dpkg-deb -x "$pkg" "$prefix"
  root=$prefix/usr
else
  cmake --install "$build" --prefix "$prefix" >/dev/null
  root=$prefix
fi

# The library directory holds libspindle.so in a shared build: the consumers
# find it there at run time.
pcfile=$(find "$root" -name spindle.pc)
libdir=$(dirname "$(dirname "$pcfile")")
export LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

echo "-- CMake consumer (find_package(spindle $version))"
cmake -S "$here/consumer" -B "$work/cmake" -G Ninja -DCMAKE_PREFIX_PATH="$root" \
  -DSPINDLE_REQUEST="$version" >/dev/null
cmake --build "$work/cmake" >/dev/null
"$work/cmake/consumer"

echo "-- find_package(spindle $((major + 1)).0) must be refused"
if cmake -S "$here/consumer" -B "$work/cmake-next" -G Ninja -DCMAKE_PREFIX_PATH="$root" \
     -DSPINDLE_REQUEST="$((major + 1)).0" >"$work/next.log" 2>&1; then
  echo "check.sh: a package of version $version accepted a request for $((major + 1)).0"
  exit 1
fi

echo "-- pkg-config consumer"
flags=$(PKG_CONFIG_PATH="$(dirname "$pcfile")" pkg-config --cflags --libs spindle)
test "$(PKG_CONFIG_PATH="$(dirname "$pcfile")" pkg-config --modversion spindle)" = "$version"
g++ -std=c++20 -O1 "$here/consumer/main.cpp" $flags -o "$work/consumer-pc"
"$work/consumer-pc"
