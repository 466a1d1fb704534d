// ordered_locks<N>: holds up to N spinlocks at once without deadlock.
//
// select must look at several channels atomically. Every party that holds
// more than one channel lock takes them in ascending address order (and a
// channel that appears in several cases only once), so two selects over the
// same channels can never wait for each other; plain channel operations hold
// one lock at a time and cannot take part in a cycle.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <functional>
#include <spindle/detail/spinlock.hpp>

namespace spindle::detail {

template <std::size_t N>
class ordered_locks {
 public:
  explicit ordered_locks(const std::array<spinlock*, N>& locks) noexcept : locks_(locks) {
    std::sort(locks_.begin(), locks_.end(), std::less<spinlock*>());
    count_ = static_cast<std::size_t>(std::unique(locks_.begin(), locks_.end()) - locks_.begin());
  }

  // Which locks, and how many, is known only at run time: beyond what the
  // thread-safety analysis can follow (run_select's cases say so too).
  void lock() noexcept SPINDLE_NO_THREAD_SAFETY_ANALYSIS {
    for (std::size_t i = 0; i < count_; ++i) locks_[i]->lock();
  }
  void unlock() noexcept SPINDLE_NO_THREAD_SAFETY_ANALYSIS {
    for (std::size_t i = count_; i > 0; --i) locks_[i - 1]->unlock();
  }

 private:
  std::array<spinlock*, N> locks_;
  std::size_t count_;
};

}  // namespace spindle::detail
