// spindle::condition_variable (api/spindle/sync/condition_variable.hpp).
//
// The waiter joins queue_ before it releases the user's mutex, which is what
// makes "change state under the mutex, then notify" lossless. A notifier's
// last touch of the condition variable is spin_.unlock(); it unparks the
// claimed waiters afterwards, and they cannot return (and perhaps destroy the
// condition variable) before that unpark. A waiter that times out takes spin_
// to leave the queue, so it also waits for any notifier still inside.
#include <spindle/detail/wake_list.hpp>
#include <spindle/sync/condition_variable.hpp>
#include <system_error>

namespace spindle {

void condition_variable::notify_one() noexcept {
  detail::wake_list wake;
  std::lock_guard<detail::spinlock> g(spin_);
  if (detail::wait_node* n = queue_.claim_front()) wake.push(*n);
}

void condition_variable::notify_all() noexcept {
  detail::wake_list wake;
  std::lock_guard<detail::spinlock> g(spin_);
  detail::claim_all(queue_, wake);
}

std::cv_status condition_variable::wait_until_steady(std::unique_lock<mutex>& lk,
                                                     detail::clock::time_point deadline) {
  if (!lk.owns_lock() || !lk.mutex()->held_by(detail::caller_id())) {
    throw std::system_error(
        std::make_error_code(std::errc::operation_not_permitted),
        "spindle::condition_variable::wait: the lock is not held by the caller");
  }
  detail::waiter w;
  detail::wait_node node(w);
  {
    std::lock_guard<detail::spinlock> g(spin_);
    queue_.push_back(node);
  }
  lk.unlock();  // cannot throw: ownership was checked above
  const detail::wake r = deadline == detail::no_deadline ? w.wait() : w.wait_until(deadline);
  if (r != detail::wake::notified) {
    std::lock_guard<detail::spinlock> g(spin_);
    queue_.erase_if_linked(node);
  }
  detail::waiter::rethrow_if_cancelled(r);
  lk.lock();
  return r == detail::wake::notified ? std::cv_status::no_timeout : std::cv_status::timeout;
}

}  // namespace spindle
