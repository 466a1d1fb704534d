// live_fibers: how many fibers of a runtime have been spawned and not ended,
// for runtime::shutdown, which returns as soon as every fiber has ended.
//
// Counted without a shared read-modify-write on the spawn path: one counter
// pair per worker, each written only by its worker's thread (a load and a
// release store on a line of its own, no lock prefix), and one atomic for
// spawns from plain threads (fetch_add: a plain thread's spawn already costs
// a global-queue push). A fiber ends on some worker (its own stack, or its
// joiner's when run inline), which counts the end in its own pair; a joiner
// of another runtime that ran it inline counts it in `foreign_ended_`.
//
// count() sums without stopping anybody and is never too low: it reads every
// `ended` (acquire) before any `spawned`. A fiber's spawn happens before its
// end (the spawn's store is released to the queue that hands the fiber to
// its worker), so every end that count() sees has its spawn seen by the later
// loads. It may be too high while fibers spawn and end concurrently, and is
// exact once they stop; shutdown re-reads it after every end.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace spindle::detail {

class live_fibers {
 public:
  // `workers`: one pair per worker index (the runtime's workers and the stall
  // monitor's spare).
  explicit live_fibers(std::size_t workers) : per_worker_(new slot[workers]), workers_(workers) {}

  // Only on worker `index`'s thread (or the thread that adopted it).
  void spawned_on(std::size_t index) noexcept { bump(per_worker_[index].spawned); }
  void ended_on(std::size_t index) noexcept { bump(per_worker_[index].ended); }
  // Any thread that is not one of the runtime's workers.
  void spawned_elsewhere() noexcept { foreign_spawned_.fetch_add(1, std::memory_order_acq_rel); }
  void ended_elsewhere() noexcept { foreign_ended_.fetch_add(1, std::memory_order_acq_rel); }

  // Spawned since the start (runtime::metrics); a relaxed sum.
  std::uint64_t spawned() const noexcept {
    std::uint64_t n = foreign_spawned_.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < workers_; ++i) n += per_worker_[i].spawned.load(std::memory_order_relaxed);
    return n;
  }

  std::uint64_t count() const noexcept {
    std::uint64_t ended = foreign_ended_.load(std::memory_order_acquire), spawned = 0;
    for (std::size_t i = 0; i < workers_; ++i)
      ended += per_worker_[i].ended.load(std::memory_order_acquire);
    spawned += foreign_spawned_.load(std::memory_order_acquire);
    for (std::size_t i = 0; i < workers_; ++i)
      spawned += per_worker_[i].spawned.load(std::memory_order_acquire);
    return spawned - ended;
  }

 private:
  struct alignas(64) slot {
    std::atomic<std::uint64_t> spawned{0};
    std::atomic<std::uint64_t> ended{0};
  };
  // One writer: not an RMW.
  static void bump(std::atomic<std::uint64_t>& c) noexcept {
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  }

  std::unique_ptr<slot[]> per_worker_;
  const std::size_t workers_;
  std::atomic<std::uint64_t> foreign_spawned_{0};
  std::atomic<std::uint64_t> foreign_ended_{0};
};

}  // namespace spindle::detail
