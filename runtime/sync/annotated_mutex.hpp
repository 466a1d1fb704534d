// annotated_mutex: a std::mutex that clang's thread-safety analysis can see.
//
// libstdc++'s std::mutex and std::lock_guard carry no thread-safety
// attributes, so members guarded by one cannot be SPINDLE_GUARDED_BY it
// (api/spindle/detail/thread_safety.hpp). This is the same mutex under a
// capability; `std::lock_guard g(m)` picks the annotated guard below, so code
// that locks it reads as it would with a std::mutex. Not for a mutex that a
// std::condition_variable waits on: that needs a std::unique_lock<std::mutex>.
#pragma once

#include <spindle/detail/thread_safety.hpp>

#include <mutex>

namespace spindle::detail {

class SPINDLE_CAPABILITY("mutex") annotated_mutex {
 public:
  void lock() SPINDLE_ACQUIRE() { m_.lock(); }
  bool try_lock() SPINDLE_TRY_ACQUIRE(true) { return m_.try_lock(); }
  void unlock() SPINDLE_RELEASE() { m_.unlock(); }

 private:
  std::mutex m_;
};

}  // namespace spindle::detail

// As std::lock_guard<spinlock> (detail/spinlock.hpp): the primary template's
// members and behaviour, with the attributes.
template <>
class SPINDLE_SCOPED_CAPABILITY std::lock_guard<spindle::detail::annotated_mutex> {
 public:
  using mutex_type = spindle::detail::annotated_mutex;
  explicit lock_guard(mutex_type& m) SPINDLE_ACQUIRE(m) : m_(m) { m_.lock(); }
  lock_guard(mutex_type& m, std::adopt_lock_t) noexcept SPINDLE_REQUIRES(m) : m_(m) {}
  ~lock_guard() SPINDLE_RELEASE() { m_.unlock(); }
  lock_guard(const lock_guard&) = delete;
  lock_guard& operator=(const lock_guard&) = delete;

 private:
  mutex_type& m_;
};
