// run_queue: a worker's local queue of runnable fibers.
//
// A fixed ring of 256 slots, single producer (the owning worker), multiple
// consumers (the owner and thieves), as in Go's runq and Tokio's local queue:
// no growth and no memory reclamation, so no ABA hazard on the buffer itself.
//
//   head  advanced by any consumer with a CAS (the owner's pop, a thief's grab)
//   tail  written only by the owner, published with release
//
// Invariant: tail - head <= capacity (unsigned, wrapping). Slots in
// [head, tail) hold runnable fibers; a slot is rewritten by the owner only
// after head has moved past it, so a thief that read a stale slot fails its
// CAS on head and discards what it read. The slots are relaxed atomics for
// exactly that read-then-maybe-discard race.
//
// Cost (guarded by `spindle-bench yield`): push = one relaxed store + one
// release store; pop = one CAS. When the ring is full, worker::push_overflow()
// moves half of it to the global queue in one bulk operation, so an owner
// never blocks and never spins on a full ring (brpc#473).
#pragma once

#include <spindle/detail/fiber.hpp>

#include <array>
#include <atomic>
#include <cstdint>

namespace spindle::detail {

class run_queue {
 public:
  static constexpr std::uint32_t capacity = 256;

  // Owner only. Returns false when full (the caller overflows).
  bool try_push(fiber* f) noexcept {
    std::uint32_t h = head_.load(std::memory_order_acquire);
    std::uint32_t t = tail_.load(std::memory_order_relaxed);
    if (t - h >= capacity) return false;
    slots_[t % capacity].store(f, std::memory_order_relaxed);
    tail_.store(t + 1, std::memory_order_release);
    return true;
  }

  // Owner only, when full: takes the older half out (into out[], returning
  // how many) so the caller can move them to the global queue. 0 if a thief
  // raced and made room: retry try_push.
  std::uint32_t take_half(fiber** out) noexcept {
    std::uint32_t h = head_.load(std::memory_order_acquire);
    std::uint32_t t = tail_.load(std::memory_order_relaxed);
    std::uint32_t n = (t - h) / 2;
    if (n < capacity / 2) return 0;
    for (std::uint32_t i = 0; i < n; ++i) out[i] = slots_[(h + i) % capacity].load(std::memory_order_relaxed);
    if (!head_.compare_exchange_strong(h, h + n, std::memory_order_release, std::memory_order_relaxed))
      return 0;
    return n;
  }

  // Owner only (thieves use steal_into).
  fiber* pop() noexcept {
    std::uint32_t h = head_.load(std::memory_order_acquire);
    for (;;) {
      std::uint32_t t = tail_.load(std::memory_order_relaxed);
      if (h == t) return nullptr;
      fiber* f = slots_[h % capacity].load(std::memory_order_relaxed);
      if (head_.compare_exchange_weak(h, h + 1, std::memory_order_release, std::memory_order_acquire))
        return f;
    }
  }

  // Any thread: moves half of this queue (rounded up) into `dst`, which must
  // be the calling worker's own, empty-enough queue; returns one of the moved
  // fibers to run at once, or null if there was nothing to take.
  fiber* steal_into(run_queue& dst) noexcept {
    std::uint32_t dt = dst.tail_.load(std::memory_order_relaxed);
    std::uint32_t dh = dst.head_.load(std::memory_order_acquire);
    std::uint32_t room = capacity - (dt - dh);
    for (;;) {
      std::uint32_t h = head_.load(std::memory_order_acquire);
      std::uint32_t t = tail_.load(std::memory_order_acquire);
      std::uint32_t n = t - h;
      if (n == 0 || n > capacity) {
        if (n == 0) return nullptr;
        continue;  // torn read of head/tail: retry
      }
      n -= n / 2;
      if (n > room) n = room;
      if (n == 0) return nullptr;
      for (std::uint32_t i = 0; i < n; ++i)
        dst.slots_[(dt + i) % capacity].store(slots_[(h + i) % capacity].load(std::memory_order_relaxed),
                                              std::memory_order_relaxed);
      if (head_.compare_exchange_weak(h, h + n, std::memory_order_acq_rel, std::memory_order_relaxed)) {
        // Keep the last one to run now; publish the rest.
        fiber* first = dst.slots_[(dt + n - 1) % capacity].load(std::memory_order_relaxed);
        if (n > 1) dst.tail_.store(dt + n - 1, std::memory_order_release);
        return first;
      }
    }
  }

  // Any thread; a hint (may be stale by the time it returns).
  bool empty() const noexcept {
    return head_.load(std::memory_order_acquire) == tail_.load(std::memory_order_acquire);
  }
  std::uint32_t size() const noexcept {
    return tail_.load(std::memory_order_acquire) - head_.load(std::memory_order_acquire);
  }

 private:
  alignas(64) std::atomic<std::uint32_t> head_{0};
  alignas(64) std::atomic<std::uint32_t> tail_{0};
  alignas(64) std::array<std::atomic<fiber*>, capacity> slots_{};
};

}  // namespace spindle::detail
