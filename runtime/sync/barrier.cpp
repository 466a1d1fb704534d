// spindle::barrier (api/spindle/sync/barrier.hpp).
//
// The last arrival of a phase resets the count and claims every waiter under
// spin_, so a party of the next phase that arrives at once queues for the next
// phase, never for this one. It unparks them after releasing spin_, its last
// touch of the barrier: the woken parties may destroy it when they return.
#include <mutex>
#include <spindle/detail/wake_list.hpp>
#include <spindle/sync/barrier.hpp>
#include <stdexcept>

namespace spindle {

barrier::barrier(std::ptrdiff_t parties) : parties_(parties), remaining_(parties) {
  if (parties < 1) throw std::invalid_argument("spindle::barrier: fewer than one party");
}

void barrier::arrive_and_wait() {
  detail::waiter w;
  detail::wait_node node(w);
  {
    detail::wake_list wake;
    std::lock_guard<detail::spinlock> g(spin_);
    if (--remaining_ == 0) {
      remaining_ = parties_;
      detail::claim_all(queue_, wake);
      return;
    }
    queue_.push_back(node);
  }
  w.park({detail::wait_kind::barrier, this}, detail::no_deadline, [&] {
    std::lock_guard<detail::spinlock> g(spin_);
    queue_.erase_if_linked(node);
  });
}

}  // namespace spindle
