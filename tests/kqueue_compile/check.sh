#!/bin/sh
# Compile-only check of the kqueue platforms' files on Linux:
# runtime/io/kqueue_reactor.cpp is syntax-checked against the declaration
# header tests/kqueue_compile/sys/event.h, which stands in for the system's
# <sys/event.h>, and runtime/wait/sleep_word_portable.cpp (plain C++) as it
# is. Run from anywhere; exits non-zero on failure.
#   CXX=clang++ tests/kqueue_compile/check.sh
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
"${CXX:-c++}" -std=c++20 -fsyntax-only -Wall -Wextra -Werror \
  -I "$root/tests/kqueue_compile" -I "$root/api" -I "$root/runtime" \
  "$root/runtime/io/kqueue_reactor.cpp"
echo "kqueue_reactor.cpp: compile check passed"
"${CXX:-c++}" -std=c++20 -fsyntax-only -Wall -Wextra -Werror \
  -I "$root/api" -I "$root/runtime" "$root/runtime/wait/sleep_word_portable.cpp"
echo "sleep_word_portable.cpp: compile check passed"
# spindle built without liburing (not Linux): the io_uring backend's stub.
"${CXX:-c++}" -std=c++20 -fsyntax-only -Wall -Wextra -Werror \
  -I "$root/api" -I "$root/runtime" "$root/runtime/io/uring/io_ring_unavailable.cpp"
echo "io_ring_unavailable.cpp: compile check passed"
