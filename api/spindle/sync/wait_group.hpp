// spindle::wait_group: waits for a changing set of tasks to finish, as Go's
// sync.WaitGroup.
//
//   spindle::wait_group wg;
//   wg.add();                                  // before starting the task
//   spindle::spawn([&] { work(); wg.done(); });
//   wg.wait();                                 // until every add() is done()
//   if (!wg.wait_for(10s)) ...                 // or at most 10 s: false if not
//
// add(n) accepts either sign; a counter that would become negative throws
// std::logic_error and changes nothing. The group is reusable: once the
// counter is zero it may be raised again. As in Go, an add() that raises the
// counter from zero must happen before the wait() it is meant to hold back.
// Once wait() has returned the group may be destroyed: the done() that
// released it no longer touches it.
//
// wait_for(d) / wait_until(tp) (any std::chrono duration or time point,
// saturating at the extremes as every timed wait of spindle does; NaN throws
// std::invalid_argument before anything waits) return true once the counter
// is zero and false if it is still not zero when the time is up, never
// early (steady_clock): the bound a shutdown needs to drain its connections
// "for at most N seconds". A waiter that timed out is gone from the group:
// the done() that reaches zero later releases the other waiters as usual.
#pragma once

#include <chrono>
#include <cstddef>
#include <spindle/detail/count_gate.hpp>
#include <stdexcept>

namespace spindle {

class wait_group {
 public:
  constexpr wait_group() noexcept = default;
  wait_group(const wait_group&) = delete;
  wait_group& operator=(const wait_group&) = delete;

  void add(std::ptrdiff_t n = 1) {
    if (!gate_.add(n)) throw std::logic_error("spindle::wait_group: negative counter");
  }
  void done() { add(-1); }
  void wait() { gate_.wait(); }
  template <class Rep, class Period>
  bool wait_for(const std::chrono::duration<Rep, Period>& d) {
    return gate_.wait_for(d);
  }
  template <class Clock, class Duration>
  bool wait_until(const std::chrono::time_point<Clock, Duration>& tp) {
    return gate_.wait_until(tp);
  }

 private:
  detail::count_gate gate_{0, detail::wait_kind::wait_group};
};

}  // namespace spindle
