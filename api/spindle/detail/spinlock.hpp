// spinlock: the short internal lock that guards every wait queue in spindle.
//
// Critical sections under it are a handful of pointer moves (link or unlink a
// waiter, move a value), never a context switch and never a system call, so a
// test-and-test-and-set lock with a CPU pause beats a futex mutex. After a few
// thousand spins the holder has probably been preempted by the OS, so the
// spinner gives up its time slice rather than burn it.
#pragma once

#include <atomic>
#include <thread>

namespace spindle::detail {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

class spinlock {
 public:
  void lock() noexcept {
    for (unsigned spins = 0;; ++spins) {
      if (!locked_.exchange(true, std::memory_order_acquire)) return;
      while (locked_.load(std::memory_order_relaxed)) {
        if (++spins < 4096) {
          cpu_relax();
        } else {
          spins = 0;
          std::this_thread::yield();
        }
      }
    }
  }
  bool try_lock() noexcept {
    return !locked_.load(std::memory_order_relaxed) &&
           !locked_.exchange(true, std::memory_order_acquire);
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

}  // namespace spindle::detail
