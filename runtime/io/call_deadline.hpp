// call_deadline: the deadline of one IO call under a timeout (set_timeout,
// io::wait_readable, ...).
//
// It is fixed at the call's first wait, not at its start, so a call that
// never has to wait (the common case) never reads the clock. Either way it is
// at least `timeout` after the call began: the call never times out early.
#pragma once

#include <spindle/detail/deadline.hpp>

namespace spindle::detail {

class call_deadline {
 public:
  // `timeout`: no_timeout for none.
  explicit call_deadline(clock::duration timeout) noexcept : timeout_(timeout) {}

  // The deadline for the next wait: no_deadline for none.
  clock::time_point get() noexcept {
    if (timeout_ == no_timeout) return no_deadline;
    if (!fixed_) {
      at_ = deadline_after(timeout_);  // saturates, as every timed call does
      fixed_ = true;
    }
    return at_;
  }

 private:
  clock::duration timeout_;
  clock::time_point at_{};
  bool fixed_ = false;
};

}  // namespace spindle::detail
