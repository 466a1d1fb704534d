// spindle::latch: a single-use countdown for fibers and threads, as std::latch.
//
//   spindle::latch done(n);
//   ... each of n workers: done.count_down();
//   done.wait();                       // until the count reaches zero
//   if (!done.wait_for(5s)) ...        // or at most 5 s: false if still counting
//
// Checks: a negative initial count or a negative count_down() argument throws
// std::invalid_argument; counting down past zero throws std::logic_error and
// changes nothing; a NaN timeout or deadline throws std::invalid_argument
// before anything waits. Once wait() has returned the latch may be destroyed:
// the count_down() that released it no longer touches it.
//
// wait_for(d) / wait_until(tp) (any std::chrono duration or time point,
// saturating at the extremes as every timed wait of spindle does) return
// true once the count is zero and false if it is still not zero when the
// time is up. They never return false early (steady_clock). A waiter that
// timed out is gone from the latch: the count_down() that reaches zero later
// releases the other waiters as usual.
#pragma once

#include <chrono>
#include <cstddef>
#include <spindle/detail/count_gate.hpp>
#include <stdexcept>

namespace spindle {

class latch {
 public:
  explicit latch(std::ptrdiff_t count) : gate_(checked(count), detail::wait_kind::latch) {}
  latch(const latch&) = delete;
  latch& operator=(const latch&) = delete;

  void count_down(std::ptrdiff_t n = 1) {
    if (n < 0) throw std::invalid_argument("spindle::latch::count_down: negative count");
    if (!gate_.add(-n)) {
      throw std::logic_error("spindle::latch::count_down: more than the remaining count");
    }
  }
  bool try_wait() const noexcept { return gate_.is_zero(); }
  void wait() { gate_.wait(); }
  template <class Rep, class Period>
  bool wait_for(const std::chrono::duration<Rep, Period>& d) {
    return gate_.wait_for(d);
  }
  template <class Clock, class Duration>
  bool wait_until(const std::chrono::time_point<Clock, Duration>& tp) {
    return gate_.wait_until(tp);
  }
  void arrive_and_wait(std::ptrdiff_t n = 1) {
    count_down(n);
    wait();
  }

 private:
  static std::ptrdiff_t checked(std::ptrdiff_t count) {
    if (count < 0) throw std::invalid_argument("spindle::latch: negative count");
    return count;
  }

  detail::count_gate gate_;
};

}  // namespace spindle
