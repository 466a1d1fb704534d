// The condition variables (api/spindle/sync/condition_variable.hpp and
// condition_variable_any.hpp) and the queue they share
// (api/spindle/detail/notify_queue.hpp).
#include <spindle/detail/deadline.hpp>
#include <spindle/detail/notify_queue.hpp>
#include <spindle/detail/wake_list.hpp>
#include <spindle/sync/condition_variable.hpp>
#include <system_error>

namespace spindle {
namespace detail {

void notify_queue::notify_one() noexcept {
  wake_list woken;
  std::lock_guard<spinlock> g(spin_);
  if (wait_node* n = queue_.claim_front()) woken.push(*n);
}

void notify_queue::notify_all() noexcept {
  wake_list woken;
  std::lock_guard<spinlock> g(spin_);
  claim_all(queue_, woken);
}

void notify_queue::enqueue(wait_node& n) noexcept {
  std::lock_guard<spinlock> g(spin_);
  queue_.push_back(n);
}

wake notify_queue::wait(waiter& w, wait_node& n, clock::time_point deadline) {
  return w.park({wait_kind::condition, this}, deadline, [&] {
    std::lock_guard<spinlock> g(spin_);
    queue_.erase_if_linked(n);
  });
}

void notify_queue::abandon(waiter& w, wait_node& n) noexcept {
  // Claiming our own waiter shuts every notifier out; one that popped the
  // node meanwhile fails its claim and drops it.
  if (w.try_claim(wake::timed_out)) {
    std::lock_guard<spinlock> g(spin_);
    queue_.erase_if_linked(n);
    return;
  }
  // A notifier claimed it: wait for its unpark (nobody else can claim it now,
  // so this park cannot be cancelled or time out).
  w.park({wait_kind::condition, this});
}

}  // namespace detail

void condition_variable::notify_one() noexcept {
  queue_.notify_one();
}

void condition_variable::notify_all() noexcept {
  queue_.notify_all();
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
  queue_.enqueue(node);
  lk.unlock();  // cannot throw: ownership was checked above
  // On shutdown wait() throws before the mutex is locked again (see the header).
  const detail::wake r = queue_.wait(w, node, deadline);
  lk.lock();
  return r == detail::wake::notified ? std::cv_status::no_timeout : std::cv_status::timeout;
}

}  // namespace spindle
