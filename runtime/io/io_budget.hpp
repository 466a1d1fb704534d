// io_budget: a fiber whose sockets are always ready cannot keep its worker.
//
// A socket call tries the system call first and waits only when it would
// block, so a fiber reading a connection that always has data (a client
// pipelining, a flood of accepts) never parks: without this, the other
// fibers of its worker wait until its stream runs dry (the stall monitor
// then reports it after stall_threshold). Tokio answers the same with its
// cooperative budget (128 resource operations per task poll); this is that
// budget for stackful fibers.
//
// Each socket call that may wait (socket_call.hpp, retry) spends one unit of
// the running fiber's budget for its run slice; the call that finds
// `io_budget_per_slice` spent first yields (this_fiber::yield: every fiber
// ready on the worker runs), then makes its system call. Yielding before the
// call, never after it, keeps what the call moved: a yield that unwinds the
// fiber (the runtime ending) happens before any byte is taken.
//
// The slice is told by the worker's fibers_run counter, which every switch
// into a fiber moves: the switch path stores nothing for this. The fields
// are the worker thread's own (worker.hpp). Cost per call: a thread-local
// load, two compares and a store, against a system call of ~1 µs.
#pragma once

#include <cstdint>
#include <spindle/this_fiber.hpp>

#include "sched/context.hpp"
#include "sched/worker.hpp"

namespace spindle::detail {

inline constexpr std::uint32_t io_budget_per_slice = 128;

inline void spend_io_budget() {
  worker* w = current_worker();
  if (!w || !w->current) return;  // a plain thread, or the scheduler loop
  const std::uint64_t run = w->counters.fibers_run.load(std::memory_order_relaxed);
  if (run != w->io_budget_run) {
    w->io_budget_run = run;
    w->io_budget_spent = 0;
  }
  if (++w->io_budget_spent <= io_budget_per_slice) return;
  this_fiber::yield();  // the switch back moves fibers_run: a fresh budget
}

}  // namespace spindle::detail
