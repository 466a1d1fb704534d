// call_deadline: the deadline of one IO call under a timeout (set_timeout,
// io::wait_readable, ...).
//
// It is fixed at the call's first wait, not at its start, so a call that
// never has to wait (the common case) never reads the clock. Either way it is
// at least `timeout` after the call began: the call never times out early.
#pragma once

#include <spindle/detail/waiter.hpp>

namespace spindle::detail {

class call_deadline {
 public:
  // `timeout` == clock::duration::max() means none.
  explicit call_deadline(clock::duration timeout) noexcept : timeout_(timeout) {}

  // The deadline for the next wait, or null for none.
  const clock::time_point* get() noexcept {
    if (timeout_ == clock::duration::max()) return nullptr;
    if (!fixed_) {
      const clock::time_point now = clock::now();
      at_ = timeout_ >= clock::time_point::max() - now ? clock::time_point::max() : now + timeout_;
      fixed_ = true;
    }
    return &at_;
  }

 private:
  clock::duration timeout_;
  clock::time_point at_{};
  bool fixed_ = false;
};

}  // namespace spindle::detail
