// spindle::recursive_mutex: a mutex its owner may lock again, for fibers and
// threads, as std::recursive_mutex (Lockable and TimedLockable).
//
//   spindle::recursive_mutex m;
//   std::lock_guard a(m);
//   std::lock_guard b(m);   // the same fiber: no deadlock
//
// Every lock() or successful try_lock*() by the owner must be matched by one
// unlock(); the mutex is released by the last. unlock() by anyone but the
// owner throws std::system_error(errc::operation_not_permitted). Ownership
// follows the fiber from worker to worker (as for spindle::mutex), so a fiber
// that resumes on another thread still owns it.
//
// Built on spindle::mutex: contended lockers spin briefly, then park.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <spindle/detail/caller_id.hpp>
#include <spindle/sync/mutex.hpp>
#include <system_error>

namespace spindle {

class recursive_mutex {
 public:
  constexpr recursive_mutex() noexcept = default;
  recursive_mutex(const recursive_mutex&) = delete;
  recursive_mutex& operator=(const recursive_mutex&) = delete;

  void lock() {
    acquire([this] {
      inner_.lock();
      return true;
    });
  }

  bool try_lock() noexcept {
    return acquire([this]() noexcept { return inner_.try_lock(); });
  }

  template <class Rep, class Period>
  bool try_lock_for(const std::chrono::duration<Rep, Period>& d) {
    return acquire([&] { return inner_.try_lock_for(d); });
  }

  template <class Clock, class Duration>
  bool try_lock_until(const std::chrono::time_point<Clock, Duration>& tp) {
    return acquire([&] { return inner_.try_lock_until(tp); });
  }

  void unlock() {
    if (owner_.load(std::memory_order_relaxed) != detail::caller_id()) {
      throw std::system_error(std::make_error_code(std::errc::operation_not_permitted),
                              "spindle::recursive_mutex::unlock: not locked by the caller");
    }
    if (--depth_ > 0) return;
    owner_.store(detail::no_owner, std::memory_order_relaxed);
    inner_.unlock();
  }

 private:
  // The owner locking again only counts: only the owner can see its own id
  // in owner_ (anyone else reads another id or no_owner), so no race decides
  // this. Anyone else takes inner_ with lock_inner() and becomes the owner.
  template <class LockInner>
  bool acquire(LockInner lock_inner) {
    const detail::owner_id me = detail::caller_id();
    if (owner_.load(std::memory_order_relaxed) == me) {
      ++depth_;
      return true;
    }
    if (!lock_inner()) return false;
    owner_.store(me, std::memory_order_relaxed);
    depth_ = 1;
    return true;
  }

  mutex inner_;
  // Written only by the holder of inner_ (relaxed: inner_'s acquire and
  // release order it); read by anyone to compare with their own id.
  std::atomic<detail::owner_id> owner_{detail::no_owner};
  std::size_t depth_ = 0;  // touched only by the owner
};

}  // namespace spindle
