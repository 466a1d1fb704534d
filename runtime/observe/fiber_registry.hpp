// fiber_registry: every live fiber of a runtime, for the dump (how many there
// are is counted without locks by live_fibers, sched/live_fibers.hpp).
//
// A fiber is registered when it is spawned and leaves when it ends (its body
// returned or threw, it was discarded unstarted, or it failed before it ran),
// before its joiner can see it finished. So a dump lists each live fiber,
// started or not, exactly once.
//
// Sharded, so that spawning and ending stay off any shared cache line: one
// shard per worker plus one for spawns from plain threads. A fiber joins the
// shard of the thread that spawns it and leaves the same shard (`fiber::shard`),
// whichever worker it ends on. Each shard is an intrusive doubly linked list
// under its own spinlock. While a shard is locked no fiber can leave it, so a
// dump under that lock may read any registered control block.
//
// A fiber that ends on another worker than its shard's would take a lock
// whose cache line the spawning worker keeps using: in `spindle-bench spawn`,
// where the other worker steals half the fibers, that line transfer doubled
// the cost of a spawn. So such a fiber is only marked `ended` and left in a
// batch of its worker's (remote_ends); the batch is unlinked under one lock
// when it is full, when the worker goes idle, and when the worker stops. The
// batch holds the fiber's run reference meanwhile, and the dump skips ended
// fibers.
//
// Cost: a lock, two stores and an unlock at spawn and at the end on the
// spawning worker (a line it owns), 1/16 of that on another worker (guarded
// by `spindle-bench spawn`).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <spindle/detail/fiber.hpp>
#include <spindle/detail/spinlock.hpp>
#include <spindle/detail/thread_safety.hpp>

namespace spindle::detail {

class fiber_registry {
 public:
  explicit fiber_registry(std::size_t workers) : count_(workers + 1), shards_(new shard[count_]) {}

  // The shard for spawns by `worker_index`, or by a plain thread (none).
  static constexpr std::uint32_t from_thread = ~std::uint32_t{0};

  void add(fiber& f, std::uint32_t worker_index) noexcept {
    f.shard = worker_index < count_ - 1 ? worker_index : static_cast<std::uint32_t>(count_ - 1);
    shard& s = shards_[f.shard];
    std::lock_guard<spinlock> g(s.lock);
    f.registry_prev = nullptr;
    f.registry_next = s.head;
    if (s.head) s.head->registry_prev = &f;
    s.head = &f;
  }

  void remove(fiber& f) noexcept {
    shard& s = shards_[f.shard];
    std::lock_guard<spinlock> g(s.lock);
    unlink(s, f);
  }

  // A worker's batch of fibers that ended on it but belong to another shard.
  struct remote_ends {
    static constexpr std::size_t capacity = 16;
    fiber* batch[capacity];
    std::size_t count = 0;
  };

  // The end of a fiber running on worker `here`, on its own stack. Returns
  // false if the fiber went into `ends` (which then holds its run
  // reference: see flush).
  bool remove_at_end(fiber& f, std::uint32_t here, remote_ends& ends) noexcept {
    if (f.shard == here) {
      remove(f);
      return true;
    }
    f.ended.store(true, std::memory_order_relaxed);
    ends.batch[ends.count++] = &f;
    return false;
  }

  // Unlinks every fiber of the batch and drops the run references it held.
  // By the worker that owns the batch, after the fibers are off their stacks.
  void flush(remote_ends& ends) noexcept {
    for (std::size_t i = 0; i < ends.count; ++i) {
      fiber& f = *ends.batch[i];
      remove(f);
      f.release();
    }
    ends.count = 0;
  }

  // Runs fn() under the lock of f's shard: this_fiber::set_name writes the
  // name there, so that the dump never reads half of one.
  template <class Fn>
  void with_lock_of(const fiber& f, Fn&& fn) {
    std::lock_guard<spinlock> g(shards_[f.shard].lock);
    fn();
  }

  // Calls fn(fiber&) for every registered fiber that has not ended, one
  // shard at a time, under that shard's lock (fn must not spawn, end a fiber
  // or take a lock a spawner may hold).
  template <class Fn>
  void for_each(Fn&& fn) const {
    for (std::size_t i = 0; i < count_; ++i) {
      shard& s = shards_[i];
      std::lock_guard<spinlock> g(s.lock);
      for (fiber* f = s.head; f; f = f->registry_next)
        if (!f->ended.load(std::memory_order_relaxed)) fn(*f);
    }
  }

 private:
  struct alignas(64) shard;
  static void unlink(shard& s, fiber& f) noexcept SPINDLE_REQUIRES(s.lock) {
    if (f.registry_prev)
      f.registry_prev->registry_next = f.registry_next;
    else
      s.head = f.registry_next;
    if (f.registry_next) f.registry_next->registry_prev = f.registry_prev;
    f.registry_prev = f.registry_next = nullptr;
  }

  struct alignas(64) shard {
    mutable spinlock lock;
    fiber* head SPINDLE_GUARDED_BY(lock) = nullptr;
  };
  const std::size_t count_;
  const std::unique_ptr<shard[]> shards_;
};

}  // namespace spindle::detail
