// How the contended paths of spindle's synchronisation primitives spin before
// they park.
//
// Spinning pays when the holder is running on another worker and about to
// release: a park/unpark round trip costs several microseconds (two context
// switches, maybe waking a worker), a short critical section far less. It is
// wasted when the holder is suspended, and it keeps the worker from running
// its other fibers. A PAUSE costs 10-140 cycles depending on the CPU (about
// 35 ns on the AMD EPYC machines we measure on).
//
// lock_spin is Go's budget (4 x 30 pauses). Measured on 2 workers with
// 1,000 fibers: a tight lock/increment/unlock loop takes ~16 ms with 4x this
// budget, ~20 ms with it and ~40 ms with a quarter of it, while a workload
// whose holders suspend inside the critical section (mutex_test's starvation
// test) takes 330, 90 and 40 ms. Looking at the lock less often and pausing
// longer in between beats the reverse: fewer loads of the contended line.
#pragma once

#include <spindle/detail/spinlock.hpp>

namespace spindle::detail {

struct spin_budget {
  int checks;            // how many times to look at the lock
  int pauses_per_check;  // CPU pauses between two looks
};

// Mutexes: critical sections are usually short, so a longer spin pays.
inline constexpr spin_budget lock_spin{32, 4};
// Semaphores: permits are usually held across long (suspending) work.
inline constexpr spin_budget permit_spin{8, 2};

inline void spin_pause(const spin_budget& b) noexcept {
  for (int i = 0; i < b.pauses_per_check; ++i) cpu_relax();
}

// Calls try_once() up to b.checks times, pausing in between; true once it
// succeeds.
template <class TryOnce>
bool spin_until(const spin_budget& b, TryOnce try_once) {
  for (int i = 0; i < b.checks; ++i) {
    if (try_once()) return true;
    spin_pause(b);
  }
  return false;
}

}  // namespace spindle::detail
