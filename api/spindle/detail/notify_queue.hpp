// notify_queue: the waiters of a condition variable (spindle::condition_variable
// and condition_variable_any), and the one way to wait among them.
//
// The waiting side queues its node *before* it releases the user's lock,
// which is what makes "change state under the lock, then notify" lossless:
//
//   q.enqueue(node); lk.unlock(); r = q.wait(w, node, deadline); lk.lock();
//
// A notifier's last touch of the queue is its spinlock's unlock; it unparks
// the claimed waiters afterwards, and they cannot return (and perhaps destroy
// the condition variable) before that unpark. A waiter that times out takes
// the spinlock to leave the queue, so it also waits for a notifier inside.
#pragma once

#include <spindle/detail/spinlock.hpp>
#include <spindle/detail/waiter.hpp>

namespace spindle::detail {

class notify_queue {
 public:
  constexpr notify_queue() noexcept = default;

  void notify_one() noexcept;
  void notify_all() noexcept;

  // Queues n (whose waiter the caller owns); the caller then releases its
  // lock and calls wait(), or abandon() if releasing failed.
  void enqueue(wait_node& n) noexcept;

  // Waits until n is notified or `deadline` (no_deadline: none) passes, and
  // leaves the queue. Throws fiber_unwind if the runtime shuts down meanwhile.
  wake wait(waiter& w, wait_node& n, clock::time_point deadline);

  // Takes n back without waiting; if a notify claimed it already, waits for
  // that notifier's unpark, after which w may be destroyed.
  void abandon(waiter& w, wait_node& n) noexcept;

 private:
  spinlock spin_;
  wait_queue queue_ SPINDLE_GUARDED_BY(spin_);
};

}  // namespace spindle::detail
