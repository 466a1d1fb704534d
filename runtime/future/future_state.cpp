// future_state_base: publishing a result and waiting for it (see
// api/spindle/detail/future_state.hpp).
#include <mutex>
#include <spindle/detail/deadline.hpp>
#include <spindle/detail/future_state.hpp>
#include <spindle/detail/wake_list.hpp>
#include <utility>

namespace spindle::detail {

void future_state_base::publish() noexcept {
  wake_list woken;
  future_continuation* conts;
  {
    std::lock_guard g(lock_);
    ready_.store(true, std::memory_order_release);
    claim_all(waiters_, woken);
    conts = std::exchange(continuations_, nullptr);
  }
  woken.unpark_all();
  // on_ready may free its continuation, so next_ is read first.
  while (conts) {
    future_continuation* next = conts->next_;
    conts->on_ready();
    conts = next;
  }
}

bool future_state_base::wait_until(clock::time_point deadline) {
  if (ready()) return true;
  waiter w;
  wait_node node(w);
  {
    std::lock_guard g(lock_);
    if (ready()) return true;
    waiters_.push_back(node);
  }
  w.park({wait_kind::future, this}, deadline, [&] {
    std::lock_guard g(lock_);
    waiters_.erase_if_linked(node);
  });
  return ready();
}

bool future_state_base::attach(future_continuation& c) noexcept {
  std::lock_guard g(lock_);
  if (ready()) return false;
  c.next_ = continuations_;
  continuations_ = &c;
  return true;
}

}  // namespace spindle::detail
