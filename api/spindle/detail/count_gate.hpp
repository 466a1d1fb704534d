// count_gate: a counter that lets waiters through while it is zero. The shared
// core of spindle::latch (which only counts down) and spindle::wait_group
// (which counts up and down, and may reach zero many times).
//
// Invariants: the count never goes below zero (an add that would make it
// negative changes nothing and reports it); it reaches zero only under spin_,
// and the same critical section claims every queued waiter; a waiter queues
// only under spin_ after seeing a non-zero count. So no waiter is ever left
// queued behind a count of zero.
//
// Destruction: a waiter that sees zero on the fast path returns at once and
// may destroy the gate while the add that reached zero still holds spin_ to
// drain the queue; ~count_gate() acquires spin_ once and so waits for it.
//
// Timed waits: a waiter whose deadline passes is claimed as timed_out, so the
// add that reaches zero skips it, and park's `leave` unlinks it under spin_;
// the other waiters are released as if it had never queued.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <spindle/detail/clock.hpp>
#include <spindle/detail/deadline.hpp>
#include <spindle/detail/spinlock.hpp>
#include <spindle/detail/waiter.hpp>

namespace spindle::detail {

class count_gate {
 public:
  // `kind`: what a waiter reports it waits on (latch or wait_group).
  constexpr count_gate(std::ptrdiff_t count, wait_kind kind) noexcept
      : count_(count), kind_(kind) {}
  ~count_gate();
  count_gate(const count_gate&) = delete;
  count_gate& operator=(const count_gate&) = delete;

  // Adds `delta` (either sign). Returns false, changing nothing, if the count
  // would become negative. Reaching zero wakes every waiter.
  bool add(std::ptrdiff_t delta) {
    if (delta > 0) {
      count_.fetch_add(delta, std::memory_order_relaxed);
      return true;
    }
    std::ptrdiff_t c = count_.load(std::memory_order_relaxed);
    for (;;) {
      if (c + delta < 0) return false;
      if (c + delta == 0) return add_to_zero(delta);
      if (count_.compare_exchange_weak(c, c + delta, std::memory_order_release,
                                       std::memory_order_relaxed)) {
        return true;
      }
    }
  }

  bool is_zero() const noexcept { return count_.load(std::memory_order_acquire) == 0; }

  // Blocks the calling fiber or thread until the count is zero.
  void wait() {
    if (!is_zero()) wait_slow(no_deadline);
  }
  // Blocks until the count is zero or the time is up, converted as every
  // timed wait is (detail/deadline.hpp; NaN throws std::invalid_argument even
  // when the count is already zero). Returns whether the count is zero: true
  // when released, and after a timeout whether it happens to be zero by then
  // (as condition_variable::wait_for with a predicate returns the predicate).
  // The count is tested before the deadline is computed: no clock read when
  // there is nothing to wait for.
  template <class Rep, class Period>
  bool wait_for(const std::chrono::duration<Rep, Period>& d) {
    reject_nan(d);
    return is_zero() || wait_slow(deadline_after(d));
  }
  template <class Clock, class Duration>
  bool wait_until(const std::chrono::time_point<Clock, Duration>& tp) {
    reject_nan(tp);
    return is_zero() || wait_slow(to_deadline(tp));
  }

 private:
  bool add_to_zero(std::ptrdiff_t delta);
  bool wait_slow(clock::time_point deadline);

  std::atomic<std::ptrdiff_t> count_;
  const wait_kind kind_;
  spinlock spin_;
  wait_queue queue_ SPINDLE_GUARDED_BY(spin_);
};

}  // namespace spindle::detail
