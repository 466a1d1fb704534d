#!/usr/bin/env bash
# tests/gdb/check.sh [BUILD_DIR]: scripts/gdb/spindle.py against a live process
# and a core file of tests/gdb/parked_fibers.cpp.
#
# Builds the program with debug information (RelWithDebInfo, in BUILD_DIR,
# default build/test-gdb) and runs it under gdb: no attaching to a running
# process (ptrace may be restricted) and no core_pattern. The program stops
# itself with SIGTRAP once its four named fibers are blocked; in that session
# `spindle fibers` and `spindle bt ID` run on the live process. A second run
# (stack guards off: gdb's core writer cannot read around the guard regions
# of kernels >= 6.13, see parked_fibers.cpp) writes a core with
# generate-core-file, and a third gdb runs the same commands on the core. Both must list every fiber with its wait and show, in each
# fiber's backtrace, the function it blocked in. Skipped (exit 0, with a
# message) when gdb is not installed.
set -uo pipefail
cd "$(dirname "$0")/../.."
if ! command -v gdb >/dev/null 2>&1; then
  echo "gdb: not installed, the gdb script is not checked (scripts/setup-debian.sh installs it)"
  exit 0
fi
dir=${1:-build/test-gdb}
mkdir -p "$(dirname "$dir")"
if ! cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSPINDLE_BUILD_BENCH=OFF \
      -DSPINDLE_BUILD_SAMPLES=OFF >"$dir.configure.log" 2>&1 ||
   ! cmake --build "$dir" -j "${SPINDLE_TEST_JOBS:-2}" --target gdb_parked_fibers >"$dir.build.log" 2>&1; then
  tail -30 "$dir.configure.log" "$dir.build.log"
  echo "gdb: building tests/gdb/parked_fibers.cpp FAILED"
  exit 1
fi
prog=$dir/tests/gdb_parked_fibers
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Commands for both sessions: the fiber list, then each fiber's backtrace
# under a "== bt NAME" header (ids as the program printed them).
common() {
  cat <<GDB
set pagination off
set confirm off
source scripts/gdb/spindle.py
spindle fibers
python
for line in open("$tmp/out.txt"):
    parts = line.split()
    if len(parts) == 3 and parts[0] == "fiber":
        gdb.write("== bt %s\n" % parts[1])
        try:
            gdb.execute("spindle bt " + parts[2])
        except gdb.error as e:
            gdb.write("spindle bt failed: %s\n" % e)
end
GDB
}
{
  echo "set pagination off"
  echo "run > $tmp/out.txt"
  common
} >"$tmp/live.gdb"
{
  echo "set pagination off"
  echo "run no-guard > $tmp/out.txt"
  echo "generate-core-file $tmp/parked.core"
} >"$tmp/gcore.gdb"
common >"$tmp/core.gdb"

status=0
# check <what> <gdb output>
check() {
  local what=$1 log=$2 name kind fn section
  for spec in "holder|waiting channel recv|hold_the_lock" "locker|waiting mutex|wait_for_the_lock" \
              "sleeper|waiting sleep|sleep_for_an_hour" "reader|waiting read fd [0-9]+|wait_for_input"; do
    IFS='|' read -r name kind fn <<<"$spec"
    if ! grep -qE "^  fiber [0-9]+ \"$name\" $kind\$" "$log"; then
      echo "gdb ($what): \`spindle fibers\` does not list \"$name\" as $kind"
      status=1
    fi
    section=$(awk -v n="== bt $name" '$0 == n {on = 1; next} /^== bt / {on = 0} on' "$log")
    if ! grep -qE "^#[0-9]+ +0x[0-9a-f]+ in (.*::)?$fn( |$)" <<<"$section"; then
      echo "gdb ($what): \`spindle bt\` of \"$name\" does not show $fn:"
      echo "$section" | head -20
      status=1
    fi
  done
}

timeout 120 gdb -batch -nx -x "$tmp/live.gdb" "$prog" >"$tmp/live.log" 2>&1
if ! grep -q '^ready$' "$tmp/out.txt" 2>/dev/null; then
  echo "gdb: the program did not get to \"ready\" under gdb:"
  tail -30 "$tmp/live.log"
  cat "$tmp/out.txt" 2>/dev/null | tail -10
  exit 1
fi
check "live process" "$tmp/live.log"
timeout 120 gdb -batch -nx -x "$tmp/gcore.gdb" "$prog" >"$tmp/gcore.log" 2>&1
if [ ! -s "$tmp/parked.core" ] || ! grep -q '^ready$' "$tmp/out.txt"; then
  echo "gdb: generate-core-file wrote no core:"
  tail -20 "$tmp/gcore.log"
  exit 1
fi
timeout 120 gdb -batch -nx -x "$tmp/core.gdb" "$prog" "$tmp/parked.core" >"$tmp/core.log" 2>&1
check "core file" "$tmp/core.log"
if [ "$status" -ne 0 ]; then
  echo "--- live session:"; cat "$tmp/live.log"
  echo "--- core session:"; cat "$tmp/core.log"
  echo "gdb: FAILED"
  exit 1
fi
echo "gdb: spindle fibers and spindle bt work on a live process and on a core file"
grep -E '^  fiber |^runtime ' "$tmp/core.log"
