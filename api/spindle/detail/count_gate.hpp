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
#pragma once

#include <atomic>
#include <cstddef>
#include <spindle/detail/spinlock.hpp>
#include <spindle/detail/waiter.hpp>

namespace spindle::detail {

class count_gate {
 public:
  explicit constexpr count_gate(std::ptrdiff_t count) noexcept : count_(count) {}
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
    if (!is_zero()) wait_slow();
  }

 private:
  bool add_to_zero(std::ptrdiff_t delta);
  void wait_slow();

  std::atomic<std::ptrdiff_t> count_;
  spinlock spin_;
  wait_queue queue_ SPINDLE_GUARDED_BY(spin_);
};

}  // namespace spindle::detail
