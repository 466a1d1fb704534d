// spindle::condition_variable: waits on a spindle::mutex, for fibers and
// threads, as std::condition_variable does on std::mutex.
//
//   std::unique_lock<spindle::mutex> lk(m);
//   cv.wait(lk, [&] { return ready; });
//   if (!cv.wait_for(lk, 50ms, [&] { return ready; })) { /* timed out */ }
//
// Differences from std, all of them checks: wait on a lock that does not own
// its mutex, or whose mutex the caller does not hold, throws
// std::system_error(errc::operation_not_permitted) before anything else
// happens. Spurious wake-ups do not occur, but use the predicate forms anyway.
// A time_point of a clock other than steady_clock is converted once to a
// steady deadline (as std::this_thread::sleep_until does); timed waits never
// end early as measured by steady_clock.
//
// When the runtime shuts down while a fiber waits here, the fiber unwinds
// without re-locking the mutex (its holder may be unwinding too); the
// unique_lock then simply does not own it.
//
// notify_* need not be called with the mutex held. A notify wakes only waiters
// already queued: the waiting side queues before it releases the mutex, so a
// notify issued after a state change made under the mutex is never lost.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <spindle/detail/deadline.hpp>
#include <spindle/detail/notify_queue.hpp>
#include <spindle/sync/mutex.hpp>
#include <utility>

namespace spindle {

class condition_variable {
 public:
  constexpr condition_variable() noexcept = default;
  condition_variable(const condition_variable&) = delete;
  condition_variable& operator=(const condition_variable&) = delete;

  void notify_one() noexcept;
  void notify_all() noexcept;

  void wait(std::unique_lock<mutex>& lk) { wait_until_steady(lk, detail::no_deadline); }

  template <class Predicate>
  void wait(std::unique_lock<mutex>& lk, Predicate pred) {
    while (!pred()) wait(lk);
  }

  template <class Clock, class Duration>
  std::cv_status wait_until(std::unique_lock<mutex>& lk,
                            const std::chrono::time_point<Clock, Duration>& tp) {
    return wait_until_steady(lk, detail::to_deadline(tp));
  }

  template <class Clock, class Duration, class Predicate>
  bool wait_until(std::unique_lock<mutex>& lk, const std::chrono::time_point<Clock, Duration>& tp,
                  Predicate pred) {
    return wait_until_steady(lk, detail::to_deadline(tp), std::move(pred));
  }

  template <class Rep, class Period>
  std::cv_status wait_for(std::unique_lock<mutex>& lk,
                          const std::chrono::duration<Rep, Period>& d) {
    return wait_until_steady(lk, detail::deadline_after(d));
  }

  template <class Rep, class Period, class Predicate>
  bool wait_for(std::unique_lock<mutex>& lk, const std::chrono::duration<Rep, Period>& d,
                Predicate pred) {
    return wait_until_steady(lk, detail::deadline_after(d), std::move(pred));
  }

 private:
  // detail::no_deadline waits without a time limit.
  std::cv_status wait_until_steady(std::unique_lock<mutex>& lk, detail::clock::time_point deadline);

  template <class Predicate>
  bool wait_until_steady(std::unique_lock<mutex>& lk, detail::clock::time_point deadline,
                         Predicate pred) {
    while (!pred()) {
      if (wait_until_steady(lk, deadline) == std::cv_status::timeout) return pred();
    }
    return true;
  }

  detail::notify_queue queue_;
};

}  // namespace spindle
