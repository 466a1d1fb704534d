// Deadlines and timeouts: the one conversion every timed call of spindle goes
// through (sleep_for/until, the sync primitives' *_for/*_until, channels,
// select's on_timeout, futures, io::wait_*, socket timeouts).
//
// A timed call accepts any std::chrono duration or time point: any clock, any
// representation, any period. Converted naively (ceil<nanoseconds>(d),
// now + d, tp - Clock::now()), the extremes overflow the 64-bit nanoseconds of
// steady_clock: hours::max() or duration<double>(1e300) wrapped into the past
// (the wait returned at once) and system_clock::time_point::min() into the far
// future (the wait never returned). So every conversion saturates:
//
//   * a duration <= 0, or a time point not after its clock's now(): "now" —
//     the call tries once and reports its timeout at once;
//   * beyond what steady_clock can represent: no deadline — the call waits
//     until its event (clock::time_point::max(), `no_deadline`);
//   * in between: rounded up to steady_clock's tick, so never early;
//   * a NaN duration (or a NaN time point): std::invalid_argument, before the
//     call does anything.
//
// Every timed wait is served as a steady_clock deadline (waiter::park).
// A time point of another clock is converted once, from its remaining time as
// that clock measures it, as std::this_thread::sleep_until does.
//
// The arithmetic is done in 128-bit integers, where a count of any 64-bit
// representation times any std::ratio factor fits exactly, so integral
// durations convert without rounding error and without overflow; floating
// ones are clamped far beyond the 64-bit range before they become integers.
#pragma once

#include <chrono>
#include <cmath>
#include <ratio>
#include <spindle/detail/clock.hpp>
#include <stdexcept>
#include <type_traits>

namespace spindle::detail {

// A count of clock ticks that cannot overflow while saturating (GCC and Clang
// on every 64-bit target; __extension__ keeps -Wpedantic quiet).
__extension__ using wide_ticks = __int128;

inline constexpr wide_ticks max_ticks = clock::duration::max().count();

[[noreturn]] inline void throw_nan_timeout() {
  throw std::invalid_argument("spindle: a timeout or deadline is NaN");
}

// Throws std::invalid_argument for a NaN; costs nothing for integral
// representations. For the fast paths that try before they compute a
// deadline: NaN is rejected whether or not the call would have waited.
template <class Rep, class Period>
void reject_nan(const std::chrono::duration<Rep, Period>& d) {
  if constexpr (std::chrono::treat_as_floating_point_v<Rep>) {
    if (std::isnan(static_cast<long double>(d.count()))) throw_nan_timeout();
  }
}
template <class Clock, class Duration>
void reject_nan(const std::chrono::time_point<Clock, Duration>& tp) {
  reject_nan(tp.time_since_epoch());
}

// `d` in clock ticks, rounded up (round_up) or down. Exact for integral
// representations; floating ones are clamped to +-2^100 ticks. Throws
// std::invalid_argument for NaN.
template <bool round_up, class Rep, class Period>
wide_ticks ticks_of(const std::chrono::duration<Rep, Period>& d) {
  using factor = std::ratio_divide<Period, clock::period>;
  if constexpr (std::chrono::treat_as_floating_point_v<Rep>) {
    reject_nan(d);
    const long double exact = static_cast<long double>(d.count()) * factor::num / factor::den;
    constexpr long double limit = 0x1p100L;
    if (exact >= limit) return static_cast<wide_ticks>(limit);
    if (exact <= -limit) return -static_cast<wide_ticks>(limit);
    return static_cast<wide_ticks>(round_up ? std::ceil(exact) : std::floor(exact));
  } else {
    // |count| < 2^64 and num, den < 2^63: the product fits in 128 bits.
    const wide_ticks scaled = static_cast<wide_ticks>(d.count()) * factor::num;
    wide_ticks q = scaled / factor::den;  // rounds towards zero
    const wide_ticks r = scaled % factor::den;
    if (round_up && r > 0) ++q;
    if (!round_up && r < 0) --q;
    return q;
  }
}

// The deadline `ticks` after `now`: now for ticks <= 0, none past the clock's end.
constexpr clock::time_point deadline_in(wide_ticks ticks, clock::time_point now) noexcept {
  if (ticks <= 0) return now;
  if (ticks >= max_ticks - now.time_since_epoch().count()) return no_deadline;
  return now + clock::duration(static_cast<clock::rep>(ticks));
}

// The deadline of a wait of `d` that starts now.
template <class Rep, class Period>
clock::time_point deadline_after(const std::chrono::duration<Rep, Period>& d) {
  return deadline_in(ticks_of<true>(d), clock::now());
}

// The deadline of a wait until `tp`. A past steady_clock time point is passed
// on as it is (waits treat any deadline <= now as due) unless it lies before
// the clock's epoch: deadlines are never negative, so `deadline - now`
// cannot overflow anywhere downstream.
template <class Clock, class Duration>
clock::time_point to_deadline(const std::chrono::time_point<Clock, Duration>& tp) {
  if constexpr (std::is_same_v<Clock, clock>) {
    const wide_ticks t = ticks_of<true>(tp.time_since_epoch());
    if (t <= 0) return clock::now();
    if (t >= max_ticks) return no_deadline;
    return clock::time_point(clock::duration(static_cast<clock::rep>(t)));
  } else {
    // Rounding tp up and now down keeps the remaining time at least exact.
    const typename Clock::time_point now = Clock::now();
    return deadline_in(
        ticks_of<true>(tp.time_since_epoch()) - ticks_of<false>(now.time_since_epoch()),
        clock::now());
  }
}

// `d` as a timeout in clock ticks, for the IO calls (set_timeout,
// io::wait_readable, connect): zero for d <= 0, no_timeout (none) past the
// clock's range, rounded up in between.
template <class Rep, class Period>
clock::duration to_clock_duration(const std::chrono::duration<Rep, Period>& d) {
  const wide_ticks t = ticks_of<true>(d);
  if (t <= 0) return clock::duration::zero();
  if (t >= max_ticks) return no_timeout;
  return clock::duration(static_cast<clock::rep>(t));
}

}  // namespace spindle::detail
