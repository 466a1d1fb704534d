#!/usr/bin/env bash
# Set-up and the whole test suite, three ways: an optimised build, AddressSanitizer
# + UndefinedBehaviorSanitizer, and ThreadSanitizer; after the first, the gdb
# script against a live process and a core file. Then: install into a
# temporary prefix and build a consumer project against it, smoke-run every
# sample, compile-check the kqueue backend against a declaration header, and
# build once with clang -Wthread-safety -Werror.
# Ends with one line "tests: N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-debian.sh || exit 1
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
jobs=${SPINDLE_TEST_JOBS:-2}
passed=0
failed=0

count() {  # count <name> <ctest log>
  local p f
  # ctest prints one "k/N Test #i: name .... Passed|***Failed|***Timeout|..." line per test.
  p=$(grep -E '^ *[0-9]+/[0-9]+ Test +#[0-9]+: ' "$2" | grep -cE ' +Passed +[0-9.]+ sec$')
  f=$(grep -E '^ *[0-9]+/[0-9]+ Test +#[0-9]+: ' "$2" | grep -vE ' +Passed +[0-9.]+ sec$' | grep -cv 'Skipped')
  echo "== $1: $p passed, $f failed"
  passed=$((passed + p))
  failed=$((failed + f))
}

suite() {  # suite <name> <cmake args...>
  local name=$1
  shift
  local dir=build/test-$name
  echo "== $name: building"
  if ! cmake -S . -B "$dir" -G Ninja -DSPINDLE_BUILD_BENCH=OFF "$@" >"$dir.configure.log" 2>&1 ||
     ! cmake --build "$dir" -j "$jobs" >"$dir.build.log" 2>&1; then
    cat "$dir.configure.log" "$dir.build.log" 2>/dev/null | tail -40
    echo "== $name: BUILD FAILED"
    failed=$((failed + 1))
    return
  fi
  if grep -q "warning:" "$dir.build.log"; then
    grep "warning:" "$dir.build.log" | sort -u | head -20
    echo "== $name: the build has warnings"
    failed=$((failed + 1))
  fi
  echo "== $name: testing"
  (cd "$dir" && ctest --output-on-failure -j "$jobs" --timeout 600) >"$dir.ctest.log" 2>&1
  grep -E "Failed|\*\*\*|tests passed|tests failed" "$dir.ctest.log" | tail -15
  count "$name" "$dir.ctest.log"
  if [ "$name" = release ]; then
    echo "== samples: smoke runs"
    if bash tests/samples_smoke.sh "$dir/samples"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
  fi
}

mkdir -p build
suite release -DCMAKE_BUILD_TYPE=Release
echo "== gdb: scripts/gdb/spindle.py on a live process and on a core file"
if bash tests/gdb/check.sh; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "== gdb: FAILED"; fi
suite asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSPINDLE_SANITIZE=address -DSPINDLE_BUILD_SAMPLES=OFF
# tests/tsan.supp says why the queue's own races are suppressed.
export TSAN_OPTIONS="suppressions=$PWD/tests/tsan.supp${TSAN_OPTIONS:+ $TSAN_OPTIONS}"
suite tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSPINDLE_SANITIZE=thread -DSPINDLE_BUILD_SAMPLES=OFF

echo "== package: install (static, then shared) and build a consumer against each (CMake and pkg-config)"
if bash tests/package/check.sh build/test-release; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "== package (static): FAILED"; fi
echo "== package: the .deb from cpack, unpacked into a scratch root, and a consumer against it"
if bash tests/package/check.sh build/test-release --deb; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "== package (deb): FAILED"; fi
if cmake -S . -B build/test-shared -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON \
      -DSPINDLE_BUILD_TESTS=OFF -DSPINDLE_BUILD_BENCH=OFF -DSPINDLE_BUILD_SAMPLES=OFF >/dev/null &&
   cmake --build build/test-shared -j "$jobs" >build/test-shared.build.log 2>&1 &&
   bash tests/package/check.sh build/test-shared; then
  passed=$((passed + 1))
else
  failed=$((failed + 1)); echo "== package (shared): FAILED"
fi
echo "== kqueue backend: compile check"
if bash tests/kqueue_compile/check.sh; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "== kqueue: FAILED"; fi

# clang checks the lock rules written as SPINDLE_GUARDED_BY / SPINDLE_REQUIRES
# (api/spindle/detail/thread_safety.hpp), which gcc ignores, and warns where gcc
# does not; any warning fails the build. Library and tests are compiled, not
# run: the suites ran three times above, and this build is for the compiler's
# checks (a clang run would add minutes for little more).
echo "== clang: -Wthread-safety -Werror build of the library and the tests"
if cmake -S . -B build/test-clang -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++ \
      -DCMAKE_CXX_FLAGS="-Wthread-safety -Werror" -DSPINDLE_BUILD_BENCH=OFF -DSPINDLE_BUILD_SAMPLES=OFF \
      >build/test-clang.configure.log 2>&1 &&
   cmake --build build/test-clang -j "$jobs" >build/test-clang.build.log 2>&1; then
  passed=$((passed + 1))
else
  cat build/test-clang.configure.log build/test-clang.build.log | grep -E "error|warning" | sort -u | head -20
  failed=$((failed + 1)); echo "== clang: FAILED"
fi

echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
