// spindle::this_fiber: what the running fiber can do to itself, as
// std::this_thread does for threads. Every call throws std::logic_error
// outside a fiber.
#pragma once

#include <spindle/detail/waiter.hpp>

#include <chrono>
#include <cstdint>

namespace spindle::this_fiber {

// Lets every fiber already ready on this worker run before the caller resumes.
void yield();

// Suspends the calling fiber until `deadline` (steady_clock); never wakes early.
void sleep_until(detail::clock::time_point deadline);

template <class Clock, class Duration>
void sleep_until(const std::chrono::time_point<Clock, Duration>& tp) {
  if constexpr (std::is_same_v<Clock, detail::clock>) {
    sleep_until(std::chrono::time_point_cast<detail::clock::duration>(tp));
  } else {
    // Another clock: convert its remaining time, as std::this_thread does.
    auto rel = tp - Clock::now();
    sleep_until(detail::clock::now() + std::chrono::ceil<detail::clock::duration>(rel));
  }
}

// Suspends the calling fiber for at least `d`.
template <class Rep, class Period>
void sleep_for(const std::chrono::duration<Rep, Period>& d) {
  sleep_until(detail::clock::now() + std::chrono::ceil<detail::clock::duration>(d));
}

// The calling fiber's id (the same number task<T>::id() returns).
std::uint64_t id();

}  // namespace spindle::this_fiber
