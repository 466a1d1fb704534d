// count_gate (api/spindle/detail/count_gate.hpp): the paths that take spin_.
#include <mutex>
#include <spindle/detail/count_gate.hpp>
#include <spindle/detail/wake_list.hpp>

namespace spindle::detail {

count_gate::~count_gate() {
  spin_.lock();
  spin_.unlock();
}

bool count_gate::add_to_zero(std::ptrdiff_t delta) {
  wake_list wake;
  std::lock_guard<spinlock> g(spin_);
  // Others may have added meanwhile: this may no longer reach zero.
  std::ptrdiff_t c = count_.load(std::memory_order_relaxed);
  do {
    if (c + delta < 0) return false;
  } while (!count_.compare_exchange_weak(c, c + delta, std::memory_order_acq_rel,
                                         std::memory_order_relaxed));
  if (c + delta == 0) claim_all(queue_, wake);
  return true;
}

bool count_gate::wait_slow(clock::time_point deadline) {
  waiter w;
  wait_node node(w);
  {
    std::lock_guard<spinlock> g(spin_);
    if (count_.load(std::memory_order_acquire) == 0) return true;
    queue_.push_back(node);
  }
  const wake r = w.park({kind_, this}, deadline, [&] {
    std::lock_guard<spinlock> g(spin_);
    queue_.erase_if_linked(node);
  });
  // Timed out: the count may have reached zero since (the add that did so
  // skipped this waiter, already claimed). The caller is still inside the
  // gate, so it is alive.
  return r == wake::notified || is_zero();
}

}  // namespace spindle::detail
