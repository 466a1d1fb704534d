// spindle::condition_variable_any: a condition variable that waits with any
// lock (BasicLockable: lock() and unlock()), for fibers and threads, as
// std::condition_variable_any does.
//
//   spindle::shared_mutex sm;
//   spindle::condition_variable_any cv;
//   std::shared_lock lk(sm);
//   cv.wait(lk, [&] { return ready; });     // readers wait too
//
// The lock is released while the caller waits and held again when the call
// returns (also when it throws, except on runtime shutdown: as with
// spindle::condition_variable the fiber then unwinds without locking again).
// If releasing the lock throws (a std::unique_lock that owns nothing throws
// operation_not_permitted), the call throws that before waiting. Use
// condition_variable with spindle::mutex where it serves: it checks that the
// caller holds the mutex, which a generic lock cannot tell.
//
// Spurious wake-ups do not occur, but use the predicate forms anyway. Timed
// waits never end early as measured by steady_clock. notify_* need not be
// called with the lock held; a notify after a state change made under the
// lock is never lost, because a waiter queues before it releases the lock.
#pragma once

#include <chrono>
#include <condition_variable>
#include <spindle/detail/deadline.hpp>
#include <spindle/detail/notify_queue.hpp>
#include <utility>

namespace spindle {

class condition_variable_any {
 public:
  constexpr condition_variable_any() noexcept = default;
  condition_variable_any(const condition_variable_any&) = delete;
  condition_variable_any& operator=(const condition_variable_any&) = delete;

  void notify_one() noexcept { queue_.notify_one(); }
  void notify_all() noexcept { queue_.notify_all(); }

  template <class Lock>
  void wait(Lock& lk) {
    wait_until_steady(lk, detail::no_deadline);
  }
  template <class Lock, class Predicate>
  void wait(Lock& lk, Predicate pred) {
    while (!pred()) wait(lk);
  }

  template <class Lock, class Clock, class Duration>
  std::cv_status wait_until(Lock& lk, const std::chrono::time_point<Clock, Duration>& tp) {
    return wait_until_steady(lk, detail::to_deadline(tp));
  }
  template <class Lock, class Clock, class Duration, class Predicate>
  bool wait_until(Lock& lk, const std::chrono::time_point<Clock, Duration>& tp, Predicate pred) {
    return wait_until_steady(lk, detail::to_deadline(tp), std::move(pred));
  }

  template <class Lock, class Rep, class Period>
  std::cv_status wait_for(Lock& lk, const std::chrono::duration<Rep, Period>& d) {
    return wait_until_steady(lk, detail::deadline_after(d));
  }
  template <class Lock, class Rep, class Period, class Predicate>
  bool wait_for(Lock& lk, const std::chrono::duration<Rep, Period>& d, Predicate pred) {
    return wait_until_steady(lk, detail::deadline_after(d), std::move(pred));
  }

 private:
  template <class Lock>
  std::cv_status wait_until_steady(Lock& lk, detail::clock::time_point deadline) {
    detail::waiter w;
    detail::wait_node node(w);
    queue_.enqueue(node);
    try {
      lk.unlock();
    } catch (...) {
      queue_.abandon(w, node);
      throw;
    }
    const detail::wake r = queue_.wait(w, node, deadline);  // fiber_unwind: see above
    lk.lock();
    return r == detail::wake::notified ? std::cv_status::no_timeout : std::cv_status::timeout;
  }

  template <class Lock, class Predicate>
  bool wait_until_steady(Lock& lk, detail::clock::time_point deadline, Predicate pred) {
    while (!pred()) {
      if (wait_until_steady(lk, deadline) == std::cv_status::timeout) return pred();
    }
    return true;
  }

  detail::notify_queue queue_;
};

}  // namespace spindle
