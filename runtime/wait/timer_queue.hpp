// timer_queue: every deadline of one runtime (sleeps and timed waits).
//
// A 4-ary min-heap (as Go's per-P timer heap: shallower than a binary heap)
// under one spinlock. Entries are intrusive: they live in the waiter, on the
// waiting fiber's stack, so adding a timer allocates nothing in steady state.
// Each heap slot carries its entry's deadline beside the pointer, so sifting
// compares within the heap's own array (four children: one cache line)
// instead of reading a deadline from a different fiber's stack per child:
// with 10,000 timers those stacks are 10,000 pages, beyond the TLB, and each
// such read cost a page walk (spindle-bench sleep and deadline; Go's heap
// keeps `when` beside the pointer for the same reason).
//
// Lifetime rule: an entry is touched by the queue only while it is in the
// heap, and only under `lock_`. fire_due() claims a due entry's waiter while
// still holding the lock; cancel() takes the same lock, so once cancel()
// returns no other thread touches the entry and the waiter may go away.
//
// `next_` mirrors the earliest deadline (max() when empty) so that busy
// workers can check "anything due?" with one relaxed load and no lock.
#pragma once

#include <spindle/detail/spinlock.hpp>
#include <spindle/detail/waiter.hpp>

#include <atomic>
#include <vector>

namespace spindle::detail {

class timer_queue {
 public:
  // Adds e (e.owner and e.deadline set). Returns true if it is now the
  // earliest deadline, so a sleeping poller must be woken to shorten its wait.
  bool add(timer_entry& e);
  // Removes e if it is still queued. Afterwards the queue no longer touches e.
  void cancel(timer_entry& e) noexcept;
  // Claims (as timed_out) and unparks the waiters of every entry due at `now`.
  // Returns how many fibers or threads it woke.
  std::size_t fire_due(clock::time_point now);

  clock::time_point next_deadline() const noexcept {
    return clock::time_point(clock::duration(next_.load(std::memory_order_acquire)));
  }
  bool empty() const noexcept { return next_.load(std::memory_order_relaxed) == never; }
  // Deadlines queued now (runtime::metrics); takes the lock.
  std::size_t size() noexcept {
    std::lock_guard<spinlock> g(lock_);
    return heap_.size();
  }

 private:
  static constexpr clock::rep never = std::numeric_limits<clock::rep>::max();
  void sift_up(std::size_t i) noexcept SPINDLE_REQUIRES(lock_);
  void sift_down(std::size_t i) noexcept SPINDLE_REQUIRES(lock_);
  void remove_at(std::size_t i) noexcept SPINDLE_REQUIRES(lock_);
  struct slot {
    clock::rep when;  // entry->deadline, kept here for the comparisons
    timer_entry* entry;
  };
  void place(std::size_t i, slot s) noexcept SPINDLE_REQUIRES(lock_) {
    heap_[i] = s;
    s.entry->heap_index = i;
  }
  void publish_next() noexcept SPINDLE_REQUIRES(lock_) {
    next_.store(heap_.empty() ? never : heap_.front().when, std::memory_order_release);
  }

  spinlock lock_;
  std::vector<slot> heap_ SPINDLE_GUARDED_BY(lock_);
  std::atomic<clock::rep> next_{never};
};

}  // namespace spindle::detail
