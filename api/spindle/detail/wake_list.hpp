// wake_list: waiters claimed under a primitive's spinlock, unparked after it.
//
// The waiter protocol (waiter.hpp) wants every unpark() after the notifier has
// released its spinlock, and unpark() to be the notifier's last touch of each
// waiter. A notifier that wakes several waiters (notify_all, a latch reaching
// zero, a barrier phase, a semaphore release of n) collects them here while it
// holds the lock and unparks them once it no longer does.
//
// Declare it before the lock guard: its destructor, which runs after the
// guard's, unparks whatever was collected, so an exception thrown under the
// lock cannot strand a claimed waiter.
//
// The list links the claimed nodes through wait_node::next. That is safe: a
// claimed node is in no queue any more (claim_front popped it), and its owner
// cannot return from wait() -- and so cannot destroy the node -- before the
// unpark that happens here. For the same reason unpark_all() reads a node's
// `next` before unparking it: after unpark() the node may be gone.
#pragma once

#include <spindle/detail/waiter.hpp>

namespace spindle::detail {

class wake_list {
 public:
  wake_list() noexcept = default;
  ~wake_list() { unpark_all(); }
  wake_list(const wake_list&) = delete;
  wake_list& operator=(const wake_list&) = delete;

  // `n` must have been claimed by the caller and popped from its queue.
  void push(wait_node& n) noexcept {
    n.next = nullptr;
    if (tail_)
      tail_->next = &n;
    else
      head_ = &n;
    tail_ = &n;
  }

  bool empty() const noexcept { return head_ == nullptr; }

  // In claim order; only once the primitive's lock is released.
  void unpark_all() noexcept {
    wait_node* n = head_;
    head_ = tail_ = nullptr;
    while (n) {
      wait_node* next = n->next;
      n->w->unpark();
      n = next;
    }
  }

 private:
  wait_node* head_ = nullptr;
  wait_node* tail_ = nullptr;
};

// Claims every waiter of `q` into `out`; returns how many. Under q's lock.
// `mark(node)` runs on each node as it is claimed, before its owner can see
// it (the reactor stores in wait_node::tag how the wait ended).
template <class Mark>
std::size_t claim_all(wait_queue& q, wake_list& out, Mark&& mark) noexcept {
  std::size_t n = 0;
  while (wait_node* w = q.claim_front()) {
    mark(*w);
    out.push(*w);
    ++n;
  }
  return n;
}

inline std::size_t claim_all(wait_queue& q, wake_list& out) noexcept {
  return claim_all(q, out, [](wait_node&) noexcept {});
}

}  // namespace spindle::detail
