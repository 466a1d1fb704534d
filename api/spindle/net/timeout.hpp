// to_clock_duration: a user's std::chrono::duration in the runtime's clock
// ticks, for every timed IO call (set_timeout, io::wait_readable, ...).
//
// Saturates instead of overflowing, so `std::chrono::hours::max()` means
// "practically never" rather than undefined behaviour, and rounds up, so a
// wait never ends before the requested time has passed.
#pragma once

#include <chrono>
#include <ratio>
#include <spindle/detail/waiter.hpp>

namespace spindle::detail {

// `d` in clock ticks, rounded up; negative becomes zero, huge becomes max().
template <class Rep, class Period>
constexpr clock::duration to_clock_duration(const std::chrono::duration<Rep, Period>& d) noexcept {
  using wide = std::chrono::duration<long double, std::ratio<1>>;
  if (d <= d.zero()) return clock::duration::zero();
  if (std::chrono::duration_cast<wide>(d) >=
      std::chrono::duration_cast<wide>(clock::duration::max())) {
    return clock::duration::max();
  }
  return std::chrono::ceil<clock::duration>(d);
}

}  // namespace spindle::detail
