// spindle::shared_mutex: a readers-writer lock for fibers and threads
// (SharedLockable and SharedTimedLockable: std::shared_lock, std::unique_lock
// and std::lock_guard work with it).
//
// As std::shared_mutex, with these checks: unlock() by anyone but the
// exclusive owner throws std::system_error(errc::operation_not_permitted), as
// does unlock_shared() while nobody holds it shared; lock() by the exclusive
// owner throws errc::resource_deadlock_would_occur (a timed lock by it simply
// times out). Locking shared twice in one fiber may deadlock (a writer can
// queue in between), as with std.
//
// Fairness is phase-fair, so neither side starves:
//  * A waiting writer stops new readers from entering (`writer_waiting`); the
//    last reader out hands the lock straight to the first waiting writer.
//  * A writer's unlock admits every reader waiting at that moment, together,
//    before the next writer; with no reader waiting it hands the lock to the
//    next writer.
// Uncontended lock/unlock and lock_shared/unlock_shared are one CAS each.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <spindle/detail/caller_id.hpp>
#include <spindle/detail/deadline.hpp>
#include <spindle/detail/spinlock.hpp>
#include <spindle/detail/waiter.hpp>

namespace spindle {

class shared_mutex {
 public:
  constexpr shared_mutex() noexcept = default;
  // Waits until an unlock still inside its slow path has left.
  ~shared_mutex();
  shared_mutex(const shared_mutex&) = delete;
  shared_mutex& operator=(const shared_mutex&) = delete;

  // Exclusive ownership.
  void lock() {
    const detail::owner_id me = detail::caller_id();
    std::uint32_t s = 0;
    if (!state_.compare_exchange_strong(s, writer, std::memory_order_acquire,
                                        std::memory_order_relaxed)) {
      lock_slow(me, detail::no_deadline);
    }
    owner_.store(me, std::memory_order_relaxed);
  }
  bool try_lock() noexcept {
    std::uint32_t s = 0;
    if (!state_.compare_exchange_strong(s, writer, std::memory_order_acquire,
                                        std::memory_order_relaxed)) {
      return false;
    }
    owner_.store(detail::caller_id(), std::memory_order_relaxed);
    return true;
  }
  template <class Rep, class Period>
  bool try_lock_for(const std::chrono::duration<Rep, Period>& d) {
    return try_lock_until_steady(detail::deadline_after(d));
  }
  template <class Clock, class Duration>
  bool try_lock_until(const std::chrono::time_point<Clock, Duration>& tp) {
    return try_lock_until_steady(detail::to_deadline(tp));
  }
  void unlock() {
    if (owner_.load(std::memory_order_relaxed) != detail::caller_id()) throw_not_owner();
    owner_.store(detail::no_owner, std::memory_order_relaxed);
    std::uint32_t s = writer;
    if (!state_.compare_exchange_strong(s, 0, std::memory_order_release,
                                        std::memory_order_relaxed)) {
      unlock_slow();
    }
  }

  // Shared ownership.
  void lock_shared() {
    if (!try_lock_shared()) lock_shared_slow(detail::no_deadline);
  }
  bool try_lock_shared() noexcept {
    std::uint32_t s = state_.load(std::memory_order_relaxed);
    while (!(s & (writer | writer_waiting))) {
      if (state_.compare_exchange_weak(s, s + one_reader, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
        return true;
      }
    }
    return false;
  }
  template <class Rep, class Period>
  bool try_lock_shared_for(const std::chrono::duration<Rep, Period>& d) {
    detail::reject_nan(d);
    return try_lock_shared() || lock_shared_slow(detail::deadline_after(d));
  }
  template <class Clock, class Duration>
  bool try_lock_shared_until(const std::chrono::time_point<Clock, Duration>& tp) {
    detail::reject_nan(tp);
    return try_lock_shared() || lock_shared_slow(detail::to_deadline(tp));
  }
  void unlock_shared() {
    std::uint32_t s = state_.load(std::memory_order_relaxed);
    do {
      if (s < one_reader) throw_not_shared();
      // The last reader out with a writer waiting hands the lock over.
      if ((s & writer_waiting) && s < 2 * one_reader) return unlock_shared_slow();
    } while (!state_.compare_exchange_weak(s, s - one_reader, std::memory_order_release,
                                           std::memory_order_relaxed));
  }

 private:
  // state_: three flags and, above them, the number of readers inside.
  // `writer` and the reader count change by CAS; the two waiting flags, the
  // queues and every handoff only under spin_. Invariants: readers wait only
  // while `writer` or `writer_waiting` is set, writers only while the lock is
  // held; so a free lock never has waiters.
  static constexpr std::uint32_t writer = 1;           // held exclusively
  static constexpr std::uint32_t writer_waiting = 2;   // writers_ is non-empty
  static constexpr std::uint32_t readers_waiting = 4;  // readers_ is non-empty
  static constexpr std::uint32_t one_reader = 8;

  bool try_lock_until_steady(detail::clock::time_point deadline);
  bool lock_slow(detail::owner_id me, detail::clock::time_point deadline);
  bool lock_shared_slow(detail::clock::time_point deadline);
  void unlock_slow();
  void unlock_shared_slow();
  [[noreturn]] static void throw_not_owner();
  [[noreturn]] static void throw_not_shared();

  std::atomic<std::uint32_t> state_{0};
  // The exclusive owner; written by it only, read by unlock() for the check.
  std::atomic<detail::owner_id> owner_{detail::no_owner};
  detail::spinlock spin_;
  detail::wait_queue writers_ SPINDLE_GUARDED_BY(spin_);
  detail::wait_queue readers_ SPINDLE_GUARDED_BY(spin_);
};

}  // namespace spindle
