// coop_budget: a fiber that never waits cannot keep its worker, nor pile up
// fibers without bound.
//
// A socket call tries the system call first and waits only when it would
// block, and spawn() never waits, so a fiber reading a connection that always
// has data (a client pipelining, a flood of accepts) or spawning in a loop
// never parks: without this, the other fibers of its worker wait until it
// stops (the stall monitor then reports it after stall_threshold), and a
// spawn loop can queue fibers faster than the workers run them (with a busy
// neighbour process, hundreds of thousands of them, whose fresh memory the
// kernel had to clear). Tokio answers the first with its cooperative budget
// (128 resource operations per task poll); this is that budget for stackful
// fibers.
//
// Each socket call that may wait (net/socket_call.hpp, retry) and each spawn
// by a fiber onto its own runtime (runtime.cpp, submit_new) spends one unit
// of the running fiber's budget for its run slice. The socket call that finds
// `coop_budget_per_slice` spent first yields (this_fiber::yield: every fiber
// ready on the worker runs), then goes on; the spawn does so only while
// spawned fibers pile up (spend_spawn_budget). Yielding before the
// operation, never after it, keeps what it did: a yield that unwinds the
// fiber (the runtime ending) happens before any byte is taken or any fiber
// started, and it is what ends a fiber that spawns or reads for ever at
// shutdown.
//
// The slice is told by the worker's fibers_run counter, which every switch
// into a fiber moves: the switch path stores nothing for this. The fields
// are the worker thread's own (worker.hpp). Cost per operation: a few loads,
// two compares and a store (guarded by `spindle-bench spawn` and `echo`).
#pragma once

#include <cstdint>
#include <spindle/this_fiber.hpp>

#include "sched/context.hpp"
#include "sched/worker.hpp"

namespace spindle::detail {

inline constexpr std::uint32_t coop_budget_per_slice = 128;

// One unit of the running fiber's budget; true when it is spent (the
// operation should yield first). `w` runs a fiber (w.current).
inline bool budget_spent_by(worker& w) noexcept {
  const std::uint64_t run = w.counters.fibers_run.load(std::memory_order_relaxed);
  if (run != w.budget_run) {
    w.budget_run = run;
    w.budget_spent = 0;
  }
  return ++w.budget_spent > coop_budget_per_slice;
}

// Yields, then starts a fresh budget of which the yielding operation is the
// first unit. Returns the worker the fiber resumed on (it may have been
// stolen).
inline worker& yield_for_budget() {
  this_fiber::yield();
  worker& now = *current_worker();
  now.budget_run = now.counters.fibers_run.load(std::memory_order_relaxed);
  now.budget_spent = 1;
  return now;
}

// A socket call's unit. `w` is the calling thread's worker, running a fiber.
inline void spend_coop_budget(worker& w) {
  if (budget_spent_by(w)) [[unlikely]]
    yield_for_budget();
}

// A spawn's unit; returns the worker the fiber runs on afterwards. Past the
// budget it yields only while spawned fibers pile up (worker::spawns_pile_up:
// 16,384 waiting in the global queue) or the runtime stops, and looks again
// 128 spawns later otherwise. Yielding whenever the budget ran out throttled
// every spawn loop to the pace its children start at: a loop spawning 10,000
// sleepers took 35 ms instead of 1 ms, and the sleeps' p99 lateness was 1.7x
// (`spindle-bench sleep`); a backlog that size arises only when the fibers
// cannot be run as fast as they are made (a busy neighbour process: spawn_ns
// 2.3x with the rule, `compare.sh --hog 1`). Once the runtime stops, spawns
// go to the global queue and the ring stays as it was, so no backlog need
// show: a fiber that only spawns would keep its worker from stopping while
// it filled memory; the yield unwinds it.
inline worker& spend_spawn_budget(worker& w) {
  if (!budget_spent_by(w)) [[likely]]
    return w;
  if (!w.spawns_pile_up() && !w.stopping.load(std::memory_order_relaxed)) {
    w.budget_spent = 0;
    return w;
  }
  return yield_for_budget();
}

}  // namespace spindle::detail
