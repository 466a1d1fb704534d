// runtime::metrics(): the workers' counters (worker_counters, written by each
// worker alone) and the runtime's totals, added up on demand. Nothing here
// stops a worker: a snapshot costs one load per counter, the timer queue's
// lock and the blocking pool's.
#include <spindle/runtime.hpp>

#include "sched/runtime_core.hpp"
#include "sched/worker.hpp"

namespace spindle {

runtime_metrics runtime::metrics() const {
  using detail::clock;
  runtime_metrics m;
  const auto& workers = core_->workers();
  m.workers.reserve(workers.size());
  std::uint64_t io_begun = 0, io_ended = 0;
  for (const auto& w : workers) {
    const detail::worker_counters& c = w->counters;
    worker_metrics& wm = m.workers.emplace_back();
    wm.fibers_run = c.fibers_run.load(std::memory_order_relaxed);
    wm.steals = c.steals.load(std::memory_order_relaxed);
    wm.parks = c.parks.load(std::memory_order_relaxed);
    wm.io_polls = c.io_polls.load(std::memory_order_relaxed);
    wm.queue_depth = w->local.size() + (w->runnext.load(std::memory_order_relaxed) ? 1 : 0);
    wm.busy_ns = c.busy_ns.load(std::memory_order_relaxed);
    // A busy worker's current stretch counts too.
    if (const std::int64_t since = c.busy_since.load(std::memory_order_relaxed)) {
      const std::int64_t now = clock::now().time_since_epoch().count();
      if (now > since) wm.busy_ns += static_cast<std::uint64_t>(now - since);
    }
    io_begun += c.io_waits_begun.load(std::memory_order_relaxed);
    io_ended += c.io_waits_ended.load(std::memory_order_relaxed);
  }
  m.fibers_alive = core_->live().count();
  m.fibers_spawned = core_->live().spawned();
  const detail::blocking_pool::counts blocking = core_->blocking_counts();
  m.blocking_threads = blocking.threads;
  m.blocking_queued = blocking.queued;
  m.timers_pending = core_->timers_pending();
  // The counters are read one worker after another: a wait that began after
  // its worker was read but ended before another was could make the
  // difference negative for a moment.
  m.io_waiting = io_begun > io_ended ? static_cast<std::size_t>(io_begun - io_ended) : 0;
  return m;
}

}  // namespace spindle
