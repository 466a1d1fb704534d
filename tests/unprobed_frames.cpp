// Frames as an application built without -fstack-clash-protection has them:
// tests/CMakeLists.txt compiles this file with -fno-stack-clash-protection, so
// a 12 KiB frame moves the stack pointer by 12 KiB in one step and its first
// store lands 12 KiB below the caller's frame, skipping every page between.
#include "unprobed_frames.hpp"

namespace spindle::test {

[[gnu::noinline]] int recurse_unprobed(int depth, int limit) {
  volatile char frame[12 * 1024];
  frame[0] = static_cast<char>(depth);  // the frame's lowest byte is its first store
  if (depth == limit) return frame[0];
  return recurse_unprobed(depth + 1, limit) + frame[0];
}

}  // namespace spindle::test
