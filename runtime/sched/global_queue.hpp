// global_queue: a runtime's injection queue -- spawns and wake-ups from plain
// threads, and the overflow of full worker rings (runtime_core.hpp).
//
// moodycamel::ConcurrentQueue underneath: lock-free, with a producer queue
// per thread. It allocates blocks as it grows, and when an allocation fails
// its enqueue returns false. A runnable fiber must never be dropped (its
// joiner would wait forever), so such a fiber goes to `spill_` instead: an
// intrusive list through fiber_sched_state::spill_next, which allocates
// nothing. Takers look there only when the queue itself is empty.
//
// Cost: push is moodycamel's enqueue plus a well-predicted branch; a pop
// that finds the queue empty reads one relaxed counter (spawn and the
// scheduler's find_work, guarded by spindle-bench spawn and skynet).
#pragma once

#include <concurrentqueue.h>

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <mutex>
#include <spindle/detail/fiber.hpp>
#include <spindle/detail/spinlock.hpp>

namespace spindle::detail {

class global_queue {
 public:
  // Test seam: while set, the queue's block allocations fail, as they do
  // when memory runs out.
  static inline std::atomic<bool> refuse_allocations{false};

  void push(fiber* f) noexcept {
    if (!queue_.enqueue(f)) spill(&f, 1);
  }
  void push_bulk(fiber** fs, std::size_t n) noexcept {
    if (!queue_.enqueue_bulk(fs, n)) spill(fs, n);
  }

  bool try_pop(fiber*& f) noexcept { return queue_.try_dequeue(f) || unspill(&f, 1) == 1; }
  std::size_t try_pop_bulk(fiber** out, std::size_t max) noexcept {
    const std::size_t n = queue_.try_dequeue_bulk(out, max);
    return n ? n : unspill(out, max);
  }

  // May be stale, but not 0 while a push has completed and no pop took it.
  std::size_t size_approx() const noexcept {
    return queue_.size_approx() + spilled_.load(std::memory_order_acquire);
  }

 private:
  struct traits : moodycamel::ConcurrentQueueDefaultTraits {
    static void* malloc(std::size_t n) {
      return refuse_allocations.load(std::memory_order_relaxed) ? nullptr : std::malloc(n);
    }
    static void free(void* p) { std::free(p); }
  };

  void spill(fiber** fs, std::size_t n) noexcept {
    std::lock_guard g(spill_lock_);
    for (std::size_t i = 0; i < n; ++i) {
      fs[i]->sched.spill_next = nullptr;
      if (spill_tail_)
        spill_tail_->sched.spill_next = fs[i];
      else
        spill_head_ = fs[i];
      spill_tail_ = fs[i];
    }
    spilled_.fetch_add(n, std::memory_order_release);
  }

  std::size_t unspill(fiber** out, std::size_t max) noexcept {
    if (spilled_.load(std::memory_order_relaxed) == 0) return 0;
    std::lock_guard g(spill_lock_);
    std::size_t n = 0;
    while (n < max && spill_head_) {
      out[n++] = spill_head_;
      spill_head_ = spill_head_->sched.spill_next;
    }
    if (!spill_head_) spill_tail_ = nullptr;
    spilled_.fetch_sub(n, std::memory_order_relaxed);
    return n;
  }

  moodycamel::ConcurrentQueue<fiber*, traits> queue_;
  spinlock spill_lock_;
  fiber* spill_head_ SPINDLE_GUARDED_BY(spill_lock_) = nullptr;  // FIFO
  fiber* spill_tail_ SPINDLE_GUARDED_BY(spill_lock_) = nullptr;
  // The length of the spill list; written under spill_lock_, read without it.
  std::atomic<std::size_t> spilled_{0};
};

}  // namespace spindle::detail
