// spindle::this_fiber: what the running fiber can do to itself, as
// std::this_thread does for threads. Every call throws std::logic_error
// outside a fiber.
#pragma once

#include <spindle/detail/deadline.hpp>
#include <spindle/detail/waiter.hpp>

#include <chrono>
#include <cstdint>

namespace spindle::this_fiber {

// Lets every fiber already ready on this worker run before the caller resumes.
void yield();

// Suspends the calling fiber until `deadline` (steady_clock); never wakes early.
void sleep_until(detail::clock::time_point deadline);

// Suspends the calling fiber until `tp` (any clock; another clock's time point
// counts from its remaining time). Saturates as every timed wait does (see
// detail/deadline.hpp): a past time point returns after the check, one beyond
// steady_clock's range sleeps until the runtime ends the fiber.
template <class Clock, class Duration>
void sleep_until(const std::chrono::time_point<Clock, Duration>& tp) {
  sleep_until(detail::to_deadline(tp));
}

// Suspends the calling fiber for at least `d` (zero or negative: not at all).
template <class Rep, class Period>
void sleep_for(const std::chrono::duration<Rep, Period>& d) {
  sleep_until(detail::deadline_after(d));
}

// The calling fiber's id (the same number task<T>::id() returns).
std::uint64_t id();

}  // namespace spindle::this_fiber
