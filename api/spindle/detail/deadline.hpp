// Deadlines of the timed waits of spindle's synchronisation primitives.
//
// Every timed wait is served as a steady_clock deadline (waiter::wait_until),
// which is what makes it never end early as measured by steady_clock. A
// time_point of another clock is converted once, from its remaining time, as
// std::this_thread::sleep_until does. Durations round up and saturate, so
// try_lock_for(hours::max()) waits "forever" instead of overflowing into the
// past. clock::time_point::max() is the "no deadline" value.
#pragma once

#include <chrono>
#include <spindle/detail/waiter.hpp>
#include <type_traits>

namespace spindle::detail {

inline constexpr clock::time_point no_deadline = clock::time_point::max();

template <class Rep, class Period>
clock::time_point deadline_after(const std::chrono::duration<Rep, Period>& d) {
  const clock::time_point now = clock::now();
  if (d <= d.zero()) return now;
  // Compared in floating point so that neither side can overflow.
  using seconds = std::chrono::duration<long double>;
  if (seconds(d) >= seconds(no_deadline - now)) return no_deadline;
  return now + std::chrono::ceil<clock::duration>(d);
}

template <class Clock, class Duration>
clock::time_point to_deadline(const std::chrono::time_point<Clock, Duration>& tp) {
  if constexpr (std::is_same_v<Clock, clock>) {
    return std::chrono::ceil<clock::duration>(tp);
  } else {
    return deadline_after(tp - Clock::now());
  }
}

}  // namespace spindle::detail
