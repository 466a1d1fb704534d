// spindle::barrier: a reusable rendezvous of a fixed number of parties, for
// fibers and threads.
//
//   spindle::barrier b(n);
//   for (...) { step(); b.arrive_and_wait(); }   // in each of n parties
//
// Each phase completes when the n-th party arrives; it wakes the other n - 1
// and the next phase starts at once. Unlike std::barrier, n must be at least 1
// (std::invalid_argument otherwise). Once every party of the last phase has
// returned, the barrier may be destroyed.
#pragma once

#include <cstddef>
#include <spindle/detail/spinlock.hpp>
#include <spindle/detail/waiter.hpp>

namespace spindle {

class barrier {
 public:
  explicit barrier(std::ptrdiff_t parties);
  barrier(const barrier&) = delete;
  barrier& operator=(const barrier&) = delete;

  void arrive_and_wait();

 private:
  const std::ptrdiff_t parties_;
  detail::spinlock spin_;
  std::ptrdiff_t remaining_ SPINDLE_GUARDED_BY(spin_);  // arrivals still missing in this phase
  detail::wait_queue queue_ SPINDLE_GUARDED_BY(spin_);  // the parties of this phase that arrived
};

}  // namespace spindle
