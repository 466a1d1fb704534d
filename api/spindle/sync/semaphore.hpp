// spindle::semaphore: a counting semaphore for fibers and threads, like
// std::counting_semaphore with the maximum given at run time.
//
//   spindle::semaphore s(3);          // 3 permits; at most max() by default
//   s.acquire(); ... s.release();
//   spindle::semaphore b(0, 1);       // binary: releasing past 1 throws
//
// Checks: a negative initial count, a maximum below it or above max(), and a
// negative release() throw std::invalid_argument; a release() that would make
// more than the maximum number of permits available throws std::logic_error
// and changes nothing.
//
// A release hands its permits straight to the waiters queued at that moment,
// first come first served; only what is left over becomes available to anyone.
// Uncontended acquire and release are one CAS each.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <spindle/detail/deadline.hpp>
#include <spindle/detail/spinlock.hpp>
#include <spindle/detail/waiter.hpp>

namespace spindle {

class semaphore {
 public:
  // The largest maximum (and initial count) supported.
  static constexpr std::ptrdiff_t max() noexcept {
    return std::numeric_limits<std::ptrdiff_t>::max() / 2;
  }

  explicit semaphore(std::ptrdiff_t initial, std::ptrdiff_t maximum = max());
  // Waits until a release() still inside its slow path has left.
  ~semaphore();
  semaphore(const semaphore&) = delete;
  semaphore& operator=(const semaphore&) = delete;

  void acquire() {
    if (!try_acquire()) acquire_slow(detail::no_deadline);
  }
  bool try_acquire() noexcept {
    std::uint64_t s = state_.load(std::memory_order_relaxed);
    while (s >= one) {
      if (state_.compare_exchange_weak(s, s - one, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
        return true;
      }
    }
    return false;
  }
  template <class Rep, class Period>
  bool try_acquire_for(const std::chrono::duration<Rep, Period>& d) {
    detail::reject_nan(d);
    return try_acquire() || acquire_slow(detail::deadline_after(d));
  }
  template <class Clock, class Duration>
  bool try_acquire_until(const std::chrono::time_point<Clock, Duration>& tp) {
    detail::reject_nan(tp);
    return try_acquire() || acquire_slow(detail::to_deadline(tp));
  }

  void release(std::ptrdiff_t n = 1);

  // The permits available right now (a snapshot).
  std::ptrdiff_t available() const noexcept {
    return static_cast<std::ptrdiff_t>(state_.load(std::memory_order_relaxed) / one);
  }

 private:
  // state_ = available permits * `one` | `waiters`. The permit count changes
  // by CAS; `waiters` (queue_ is non-empty) only under spin_. A release that
  // sees `waiters` takes spin_ and hands permits to the queue first.
  static constexpr std::uint64_t waiters = 1;
  static constexpr std::uint64_t one = 2;

  // Validates the constructor's arguments; `initial` in units of `one`.
  static std::uint64_t checked_permits(std::ptrdiff_t initial, std::ptrdiff_t maximum);
  // Returns false only once `deadline` has passed.
  bool acquire_slow(detail::clock::time_point deadline);
  void release_slow(std::uint64_t n);

  std::atomic<std::uint64_t> state_;
  const std::uint64_t max_;  // in units of `one`
  detail::spinlock spin_;
  detail::wait_queue queue_ SPINDLE_GUARDED_BY(spin_);
};

}  // namespace spindle
