// stack_overflow: a named report instead of a bare SIGSEGV (pain point: marl#43,
// Boost.Fiber's silent crash with a small stack).
//
// Every thread that runs fibers (the workers, and the thread that destroys a
// runtime while it unwinds the suspended fibers) installs an alternate signal
// stack (stack_overflow_guard): the faulting stack has no room left for the
// handler. The process installs a SIGSEGV/SIGBUS handler (once). On a fault
// it checks whether the address lies in the guard region under the running
// fiber's stack; if so it prints
//   spindle: fiber stack overflow (stack_size = N KiB) in fiber ID
// and aborts. Any other fault goes to the previous handler (or the default
// action), so sanitizers and crash reporters keep working.
//
// Every overflow reaches the guard region before any other memory as long as
// no frame skips more than the region's 16 KiB untouched: frames compiled
// with -fstack-clash-protection touch every page (the library, its tests and
// samples are; USER_GUIDE asks applications to be).
#pragma once

#include <cstddef>

namespace spindle::detail {

class stack_overflow_guard {
 public:
  stack_overflow_guard();
  ~stack_overflow_guard();
  stack_overflow_guard(const stack_overflow_guard&) = delete;
  stack_overflow_guard& operator=(const stack_overflow_guard&) = delete;

 private:
  void* altstack_ = nullptr;
  std::size_t size_ = 0;
  bool installed_ = false;
};

}  // namespace spindle::detail
