// idle_set: which workers are parked and how many are searching for work.
//
// The wake-up protocol (Go's proc.go "Worker thread parking/unparking", as
// Tokio's idle.rs adopted it) avoids both lost wake-ups and thundering herds:
//
//  * A worker out of local work becomes *searching* (at most half of the
//    workers search at once), looks at the global queue and steals.
//  * Whoever makes work available (spawn, a wake that spills to the ring,
//    overflow to the global queue) calls runtime_core::notify_work(): after a
//    full fence it wakes one parked worker only if nobody is searching and
//    somebody is parked. The woken worker starts out searching, so a burst of
//    submissions wakes one worker, not all of them.
//  * A searcher that finds work stops searching; if it was the last one it
//    wakes another (there may be more work), so work spreads one worker at a
//    time.
//  * A worker that parks first publishes itself here (the lock), then, if it
//    was the last searcher, re-checks every queue after a full fence: a
//    submitter that saw "somebody is searching" and did not wake anyone is
//    therefore always seen by this re-check.
//
// State: `state_` packs the number of searching workers (high half) and of
// unparked workers (low half), so both change in one atomic step.
// `sleepers_` is guarded by `lock_`.
#pragma once

#include "fiber/sanitizers.hpp"

#include <spindle/detail/spinlock.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

namespace spindle::detail {

class idle_set {
 public:
  explicit idle_set(std::uint32_t workers) : workers_(workers), state_(workers) {
    sleepers_.reserve(workers);
  }

  // The worker to wake for new work, or -1. Counts it as searching and unparked.
  int worker_to_notify() noexcept {
    full_fence();
    if (!should_wake(state_.load(std::memory_order_seq_cst))) return -1;
    std::lock_guard<spinlock> g(lock_);
    if (!should_wake(state_.load(std::memory_order_relaxed)) || sleepers_.empty()) return -1;
    state_.fetch_add(searching_one | 1, std::memory_order_seq_cst);
    int w = static_cast<int>(sleepers_.back());
    sleepers_.pop_back();
    return w;
  }

  // Any parked worker (to re-arm its timer deadline), or -1. It stays listed.
  int any_sleeper() noexcept {
    std::lock_guard<spinlock> g(lock_);
    return sleepers_.empty() ? -1 : static_cast<int>(sleepers_.back());
  }

  bool try_start_searching() noexcept {
    std::uint64_t s = state_.load(std::memory_order_seq_cst);
    if (2 * searching(s) >= workers_) return false;
    state_.fetch_add(searching_one, std::memory_order_seq_cst);
    return true;
  }

  // Returns true if the caller was the last searcher.
  bool stop_searching() noexcept {
    return searching(state_.fetch_sub(searching_one, std::memory_order_seq_cst)) == 1;
  }

  // Lists the worker as parked. Returns true if it was the last searcher.
  bool park(std::uint32_t index, bool was_searching) noexcept {
    std::lock_guard<spinlock> g(lock_);
    std::uint64_t dec = 1 + (was_searching ? searching_one : 0);
    std::uint64_t prev = state_.fetch_sub(dec, std::memory_order_seq_cst);
    sleepers_.push_back(index);
    return was_searching && searching(prev) == 1;
  }

  // After the worker's park returned. Returns true if it had been chosen by
  // worker_to_notify() (it then counts as searching), false if it woke on its
  // own (timer, spurious): it is then unlisted here and counted as unparked.
  bool unpark_self(std::uint32_t index) noexcept {
    std::lock_guard<spinlock> g(lock_);
    auto it = std::find(sleepers_.begin(), sleepers_.end(), index);
    if (it == sleepers_.end()) return true;
    sleepers_.erase(it);
    state_.fetch_add(1, std::memory_order_seq_cst);
    return false;
  }

 private:
  static constexpr std::uint64_t searching_one = std::uint64_t{1} << 32;
  static std::uint32_t searching(std::uint64_t s) noexcept { return static_cast<std::uint32_t>(s >> 32); }
  static std::uint32_t unparked(std::uint64_t s) noexcept { return static_cast<std::uint32_t>(s); }
  bool should_wake(std::uint64_t s) const noexcept {
    return searching(s) == 0 && unparked(s) < workers_;
  }

  const std::uint32_t workers_;
  std::atomic<std::uint64_t> state_;   // searching << 32 | unparked
  spinlock lock_;
  std::vector<std::uint32_t> sleepers_ SPINDLE_GUARDED_BY(lock_);
};

}  // namespace spindle::detail
