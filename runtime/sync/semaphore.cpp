// spindle::semaphore (api/spindle/sync/semaphore.hpp).
//
// No lost wake-up: an acquirer publishes `waiters` by a CAS that requires no
// permit to be available, under spin_, before it parks; a release either
// lands before that CAS (which then fails and the acquirer takes the permit)
// or sees `waiters` and goes through spin_, after the acquirer is queued.
//
// Destruction: the fast release is one CAS, its last touch. The slow release
// makes leftover permits available while it still holds spin_, so an acquirer
// that takes one and destroys the semaphore waits in ~semaphore() for spin_.
#include <mutex>
#include <spindle/detail/wake_list.hpp>
#include <spindle/sync/semaphore.hpp>
#include <stdexcept>

#include "sync/spin.hpp"

namespace spindle {

std::uint64_t semaphore::checked_permits(std::ptrdiff_t initial, std::ptrdiff_t maximum) {
  if (initial < 0) throw std::invalid_argument("spindle::semaphore: negative initial count");
  if (maximum < initial || maximum > max()) {
    throw std::invalid_argument(
        "spindle::semaphore: the maximum must lie between the initial count and semaphore::max()");
  }
  return static_cast<std::uint64_t>(initial) * one;
}

semaphore::semaphore(std::ptrdiff_t initial, std::ptrdiff_t maximum)
    : state_(checked_permits(initial, maximum)), max_(static_cast<std::uint64_t>(maximum) * one) {}

semaphore::~semaphore() {
  spin_.lock();
  spin_.unlock();
}

void semaphore::release(std::ptrdiff_t n) {
  if (n < 0) throw std::invalid_argument("spindle::semaphore::release: negative count");
  const std::uint64_t add = static_cast<std::uint64_t>(n) * one;
  std::uint64_t s = state_.load(std::memory_order_relaxed);
  do {
    if (add > max_ - (s & ~waiters)) {
      throw std::logic_error("spindle::semaphore::release: more permits than the maximum");
    }
    if (s & waiters) return release_slow(add);
  } while (!state_.compare_exchange_weak(s, s + add, std::memory_order_release,
                                         std::memory_order_relaxed));
}

void semaphore::release_slow(std::uint64_t add) {
  detail::wake_list wake;
  std::lock_guard<detail::spinlock> g(spin_);
  // One permit per queued waiter, in order; a claimed waiter owns its permit.
  while (add >= one) {
    detail::wait_node* n = queue_.claim_front();
    if (!n) break;
    wake.push(*n);
    add -= one;
  }
  const std::uint64_t clear = queue_.empty() ? waiters : 0;
  std::uint64_t s = state_.load(std::memory_order_relaxed);
  while (!state_.compare_exchange_weak(s, (s & ~clear) + add, std::memory_order_release,
                                       std::memory_order_relaxed)) {
  }
}

bool semaphore::acquire_slow(detail::clock::time_point deadline) {
  if (detail::spin_until(detail::permit_spin, [this] { return try_acquire(); })) return true;
  detail::waiter w;
  detail::wait_node node(w);
  {
    std::lock_guard<detail::spinlock> g(spin_);
    std::uint64_t s = state_.load(std::memory_order_relaxed);
    for (;;) {
      if (s >= one) {
        if (state_.compare_exchange_weak(s, s - one, std::memory_order_acquire,
                                         std::memory_order_relaxed)) {
          return true;
        }
        continue;
      }
      if (state_.compare_exchange_weak(s, s | waiters, std::memory_order_relaxed)) break;
    }
    queue_.push_back(node);
  }
  return w.park({detail::wait_kind::semaphore, this}, deadline, [&] {
    std::lock_guard<detail::spinlock> g(spin_);
    queue_.erase_if_linked(node);
    if (queue_.empty()) state_.fetch_and(~waiters, std::memory_order_relaxed);
  }) == detail::wake::notified;  // notified: a release handed us a permit
}

}  // namespace spindle
