// How the contended paths of spindle's synchronisation primitives spin before
// they park.
//
// Spinning pays when the holder is running on another worker and about to
// release: a park/unpark round trip costs several microseconds (two context
// switches, maybe waking a worker), a short critical section far less. It is
// wasted when the holder is suspended, and it keeps the worker from running
// its other fibers. A PAUSE costs 10-140 cycles depending on the CPU (about
// 35 ns on the reference machine, docs/BENCHMARKS.md).
//
// lock_spin, used by shared_mutex, spends about Go's total budget (Go looks 4
// times, 30 pauses apart: 120 pauses) as 32 looks 4 pauses apart (128
// pauses): it looks at the lock often and pauses briefly, the opposite of
// what spindle::mutex found to pay (below). That split has not been measured
// against the reverse for shared_mutex.
//
// spindle::mutex spins differently (spin_backoff): only while the
// holder is running on another worker (owner_running: a suspended holder
// cannot release, so its contenders park at once), and with long pauses
// between its looks. A short first pause makes the spinner
// snatch the lock in the few nanoseconds between the holder's unlock and its
// next lock, and the lock's cache line then bounces between the workers on
// every such steal. Measured interleaved with Go on 2 workers (1,000 fibers x
// 1,000 lock/increment/unlock, `spindle-bench mutex`): Go's budget 52-100 ms,
// exponential from 1 pause 24-35 ms, from 64 pauses 18-21 ms, Go 34-41 ms;
// and mutex_test's starvation test, where holders suspend inside the
// critical section, 72 ms with Go's budget and ~30 ms with the holder check.
// Every pause at 256 (the current spin) measured 18.8 ms against 20.1 for
// exponential from 64 (interleaved, 21 runs each), 17.2 against 19.2 in another run.
//
// Under a noisy neighbour (a busy process beside the two workers on two
// cores, `compare.sh --hog 1`) the holder's OS thread is sometimes preempted
// inside its critical section while its worker still shows it running, so
// spinners spend their whole budget. Parking the rest of that holding's
// contenders at once (a "stalled holder" bit), a budget of a quarter, or a
// longer first pause all measured the same as this within the noise (21
// interleaved runs each, 26-28 ms medians against Go's 37). What helps is
// to give the CPU to the preempted holder: nap_for_preempted_holder below.
#pragma once

#include <time.h>

#include <spindle/detail/caller_id.hpp>
#include <spindle/detail/spinlock.hpp>

namespace spindle::detail {

struct spin_budget {
  int checks;            // how many times to look at the lock
  int pauses_per_check;  // CPU pauses between two looks
};

// shared_mutex: critical sections are usually short, so a longer spin pays.
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

// spindle::mutex's spin: up to `checks` looks, `pauses` CPU pauses apart
// (~9 us on the reference machine; the whole budget is ~140 us, spent only
// while the holder keeps running).
class spin_backoff {
 public:
  static constexpr int checks = 16;
  static constexpr int woken_checks = 2;  // how long a spinner may hold `woken`
  static constexpr int nap_after = 6;     // looks before nap_for_preempted_holder
  static void pause() noexcept {
    for (unsigned i = 0; i < pauses; ++i) cpu_relax();
  }

 private:
  static constexpr unsigned pauses = 256;
};

// spin_backoff::nap_after looks (~55 us, a thousand times this benchmark's
// critical section) went by while the holder kept the mutex and its worker
// still showed it running: its OS thread is most likely preempted (more
// runnable threads than cores: a neighbour process). Spinning on, or parking
// fibers that the next unlock must wake one by one, keeps this CPU busy while
// the holder's thread waits for one; sleeping a moment lets the kernel run it
// here (pause-loop exiting in hypervisors does the same for a preempted
// vCPU). At most `preempted_holder_naps` per lock, then the spinner spins its
// whole budget and parks. `spindle-bench mutex` with one busy neighbour
// (21 interleaved runs): 24.1 ms without naps, 21.6 with naps after the whole
// budget, 19.2 after 6 looks, Go 34; two neighbours 30.1 against 34.0 and
// Go 39.8; quiet unchanged (18.6 against 19.1).
inline constexpr int preempted_holder_naps = 2;
inline void nap_for_preempted_holder() noexcept {
  // 50 us: longer than a context switch, far shorter than a time slice.
  timespec ts{0, 50'000};
  nanosleep(&ts, nullptr);
}

// Whether the fiber or thread `o` is running right now: a fiber only if a
// worker of the caller's runtime runs it at this moment; a thread (or a caller
// outside a runtime, which cannot tell) always. A hint, read without locks:
// it decides between spinning and parking, never correctness (a fiber that
// join() runs inline on its parent's stack counts as not running, so its
// contenders park rather than spin).
bool owner_running(owner_id o) noexcept;

}  // namespace spindle::detail
