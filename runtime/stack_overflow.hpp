// stack_overflow: a named report instead of a bare SIGSEGV (pain point: marl#43,
// Boost.Fiber's silent crash with a small stack).
//
// Every worker thread installs an alternate signal stack (stack_overflow_guard)
// and the process a SIGSEGV/SIGBUS handler (once). On a fault it checks whether
// the address lies in, or just below, the guard page under the running
// fiber's stack; if so it prints
//   spindle: fiber stack overflow (stack_size = N KiB)
// and aborts. Any other fault goes to the previous handler (or the default
// action), so sanitizers and crash reporters keep working.
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
