// spinlock: the short internal lock that guards every wait queue in spindle.
//
// Critical sections under it are a handful of pointer moves (link or unlink a
// waiter, move a value), never a context switch and never a system call, so a
// test-and-test-and-set lock with a CPU pause beats a futex mutex. After about
// a thousand pauses (~35 us, a hundred times the longest critical section)
// the holder's OS thread has been preempted, so the spinner yields its time
// slice rather than burn the CPU that thread may be waiting for (Go's runtime
// lock spins 4 x 30 pauses, then yields).
//
// A waiter backs off exponentially (1, 2, 4 ... max_backoff pauses of ~34 ns
// on the reference machine, so at most ~4 us) between looks at the lock. Each
// look pulls the holder's cache line away; without backoff, two workers hammering one channel
// pay a cross-core transfer per operation (`spindle-bench mpmc` on 2 workers:
// 10 M msg/s with plain spinning, 50-65 M with backoff; 1 worker: 146 M).
#pragma once

#include <atomic>
#include <mutex>
#include <spindle/detail/thread_safety.hpp>
#include <thread>

namespace spindle::detail {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

class SPINDLE_CAPABILITY("spinlock") spinlock {
 public:
  void lock() noexcept SPINDLE_ACQUIRE() {
    unsigned backoff = 1;
    unsigned spun = 0;  // pauses since the last yield
    while (locked_.exchange(true, std::memory_order_acquire)) {
      do {
        for (unsigned i = 0; i < backoff; ++i) cpu_relax();
        spun += backoff;
        if (backoff < max_backoff) backoff *= 2;
        if (spun >= yield_after) {
          spun = 0;
          std::this_thread::yield();
        }
      } while (locked_.load(std::memory_order_relaxed));
    }
  }
  bool try_lock() noexcept SPINDLE_TRY_ACQUIRE(true) {
    return !locked_.load(std::memory_order_relaxed) &&
           !locked_.exchange(true, std::memory_order_acquire);
  }
  void unlock() noexcept SPINDLE_RELEASE() { locked_.store(false, std::memory_order_release); }

 private:
  static constexpr unsigned max_backoff = 128;  // pauses
  static constexpr unsigned yield_after = 1024;  // pauses (~35 us)
  std::atomic<bool> locked_{false};
};

}  // namespace spindle::detail

// std::lock_guard over a spinlock, the guard every spinlock user takes
// (`std::lock_guard g(lock_)`), with the attributes libstdc++'s has not: it
// holds the lock for its lifetime, so members guarded by the lock may be used
// in its scope. Same members and behaviour as the primary template.
template <>
class SPINDLE_SCOPED_CAPABILITY std::lock_guard<spindle::detail::spinlock> {
 public:
  using mutex_type = spindle::detail::spinlock;
  explicit lock_guard(mutex_type& m) noexcept SPINDLE_ACQUIRE(m) : m_(m) { m_.lock(); }
  lock_guard(mutex_type& m, std::adopt_lock_t) noexcept SPINDLE_REQUIRES(m) : m_(m) {}
  ~lock_guard() SPINDLE_RELEASE() { m_.unlock(); }
  lock_guard(const lock_guard&) = delete;
  lock_guard& operator=(const lock_guard&) = delete;

 private:
  mutex_type& m_;
};
