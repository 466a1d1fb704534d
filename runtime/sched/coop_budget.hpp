// coop_budget: a fiber that never waits cannot keep its worker.
//
// A socket call tries the system call first and waits only when it would
// block, and spawn() never waits, so a fiber reading a connection that always
// has data (a client pipelining, a flood of accepts) or spawning in a loop
// never parks: without this, the other fibers of its worker wait until it
// stops (the stall monitor then reports it after stall_threshold), and a
// spawn loop fills the run queues faster than they drain. With a busy
// neighbour process on the machine that backlog grew to hundreds of thousands
// of queued fibers, whose fresh memory the kernel had to clear: spawn_ns 316
// against 82 ns with a yield every 256 spawns (`compare.sh --hog 1`). Tokio
// answers the same with its cooperative budget (128 resource operations per
// task poll); this is that budget for stackful fibers.
//
// Each socket call that may wait (net/socket_call.hpp, retry) and each spawn
// by a fiber onto its own runtime (runtime.cpp, submit_new) spends one unit
// of the running fiber's budget for its run slice; the operation that finds
// `coop_budget_per_slice` spent first yields (this_fiber::yield: every fiber
// ready on the worker runs), then goes on. Yielding before the operation,
// never after it, keeps what it did: a yield that unwinds the fiber (the
// runtime ending) happens before any byte is taken or any fiber started, and
// it is what ends a fiber that spawns or reads for ever at shutdown.
//
// The slice is told by the worker's fibers_run counter, which every switch
// into a fiber moves: the switch path stores nothing for this. The fields
// are the worker thread's own (worker.hpp). Cost per operation: a few loads,
// two compares and a store (guarded by `spindle-bench spawn`).
#pragma once

#include <cstdint>
#include <spindle/this_fiber.hpp>

#include "sched/context.hpp"
#include "sched/worker.hpp"

namespace spindle::detail {

inline constexpr std::uint32_t coop_budget_per_slice = 128;

// `w` is the calling thread's worker, running a fiber (w.current). Returns
// the worker the fiber runs on afterwards (another one if it yielded and was
// stolen).
inline worker& spend_coop_budget(worker& w) {
  const std::uint64_t run = w.counters.fibers_run.load(std::memory_order_relaxed);
  if (run != w.budget_run) {
    w.budget_run = run;
    w.budget_spent = 0;
  }
  if (++w.budget_spent <= coop_budget_per_slice) [[likely]]
    return w;
  this_fiber::yield();
  // A fresh budget, of which this operation is the first unit.
  worker& now = *current_worker();
  now.budget_run = now.counters.fibers_run.load(std::memory_order_relaxed);
  now.budget_spent = 1;
  return now;
}

}  // namespace spindle::detail
