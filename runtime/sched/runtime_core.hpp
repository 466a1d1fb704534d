// runtime_core: the state one spindle::runtime shares between its workers.
//
// Queues of runnable fibers, from the cheapest to reach to the most shared:
//   worker::runnext     the fiber a worker readied last (one slot)
//   worker::local       the worker's ring of 256
//   global_             moodycamel::ConcurrentQueue: spawns and wake-ups from
//                       plain threads, and overflow of full rings
// A fiber is in at most one of them, and in none while it runs or is parked.
//
// Idle workers park through their parker (parker.hpp), which also drives the
// reactor. "Which runtime am I on?" is sched/context.hpp, not this header.
//
// Shutdown (`stopping`): see runtime_core.cpp, ~runtime_core(); the graceful
// one (runtime::shutdown: cancel all, wait, then the same) is shutdown.cpp.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <spindle/detail/blocking_job.hpp>
#include <spindle/detail/caller_id.hpp>
#include <vector>

#include "fiber/stack_pool.hpp"
#include "io/reactor.hpp"
#include "observe/fiber_registry.hpp"
#include "observe/runtime_list.hpp"
#include "observe/trace_session.hpp"
#include "sched/blocking_pool.hpp"
#include "sched/global_queue.hpp"
#include "sched/idle_set.hpp"
#include "sched/live_fibers.hpp"
#include "sched/parker.hpp"
#include "sched/worker.hpp"
#include "sync/annotated_mutex.hpp"
#include "wait/timer_queue.hpp"

namespace spindle {
struct options;
enum class io_backend : std::uint8_t;
}  // namespace spindle

namespace spindle::detail {

class dump_on_signal;
class stall_monitor;

class runtime_core {
 public:
  explicit runtime_core(const options& opts);
  ~runtime_core();
  runtime_core(const runtime_core&) = delete;
  runtime_core& operator=(const runtime_core&) = delete;

  // Makes a new or woken fiber runnable, from any thread. On one of this
  // runtime's workers it goes to that worker's queues (woken: the runnext
  // slot), elsewhere to the global queue; then other workers are told.
  void submit(fiber* f, bool woken) noexcept;

  // Wakes one parked worker if nobody is searching (idle_set.hpp).
  void notify_work() noexcept;

  // A block of fiber ids (increasing with spawn order), for one worker.
  std::uint64_t reserve_ids(std::uint64_t n) noexcept {
    return next_id_.fetch_add(n, std::memory_order_relaxed);
  }

  bool stopping() const noexcept { return stopping_.load(std::memory_order_acquire); }

  // runtime::shutdown (shutdown.cpp): cancels every fiber, waits up to
  // `grace` for all of them to end, then shuts down as ~runtime() does.
  // Idempotent; a plain thread (or another runtime's fiber) only.
  void shutdown(clock::duration grace);
  // True from the start of shutdown(): the park door treats it as a
  // cancellation request of every fiber (waiter.cpp). A relaxed load on the
  // line of `stopping_`, which the door reads anyway.
  bool cancelling_all() const noexcept { return cancelling_all_.load(std::memory_order_relaxed); }
  // True once shut down: spawning is refused (submit_new).
  bool closed() const noexcept { return closed_.load(std::memory_order_acquire); }

  // Spawns and ends, counted for shutdown (live_fibers.hpp). `w`: the
  // calling worker of this runtime, or null.
  void count_spawn(const worker* w) noexcept {
    if (w)
      live_.spawned_on(w->index);
    else
      live_.spawned_elsewhere();
  }
  // As the body of a fiber of this runtime has ended on worker `w` (of this
  // runtime, or of another whose fiber joined it inline).
  void count_end(const worker& w) noexcept {
    if (&w.rt == this)
      live_.ended_on(w.index);
    else
      live_.ended_elsewhere();
    if (cancelling_all()) [[unlikely]] tell_shutdown();
  }

  std::size_t worker_count() const noexcept { return workers_.size(); }
  io_backend io() const noexcept { return io_; }

  // True if one of this runtime's workers is running the fiber `o` names
  // (owner_running, sync/caller_id.cpp): a relaxed load per worker.
  bool runs(owner_id o) const noexcept {
    for (const auto& w : workers_)
      if (w->running.load(std::memory_order_relaxed) == o) return true;
    return false;
  }

  stack_pool& stacks() noexcept { return stacks_; }

  // Every live fiber (observe/fiber_registry.hpp).
  fiber_registry& registry() noexcept { return registry_; }
  // How many fibers are alive and were spawned (sched/live_fibers.hpp).
  const live_fibers& live() const noexcept { return live_; }

  // runtime::start_trace / stop_trace (observe/trace_session.hpp).
  trace_session& trace() noexcept { return trace_; }

  // The pool for a fiber's own stack size (fiber_options::stack_size): the
  // runtime's pool when `bytes` fits in its stacks, else a pool of stacks of
  // the next power of two, made on first use and kept until the runtime
  // ends. Throws std::invalid_argument beyond stack_pool::max_stack_size.
  stack_pool& stacks_for(std::size_t bytes);

  // Calls fn(stack_pool&) for the runtime's pool and every sized one.
  template <class Fn>
  void for_each_stack_pool(Fn&& fn) {
    fn(stacks_);
    std::lock_guard<annotated_mutex> g(sized_stacks_lock_);
    for (auto& p : sized_stacks_) fn(*p);
  }

  // For runtime::dump() and runtime::metrics() (observe/).
  const std::vector<std::unique_ptr<worker>>& workers() const noexcept { return workers_; }
  std::size_t timers_pending() noexcept { return timers_.size(); }
  blocking_pool::counts blocking_counts() noexcept { return blocking_.current_counts(); }

  // Shared with every socket attached to it (socket_fd), so a socket that
  // outlives the runtime can still detach and close safely.
  const std::shared_ptr<detail::reactor>& reactor() const noexcept { return reactor_; }

  // A fiber's deadline (waiter::wait_until): fires by unparking its waiter.
  // The parked workers hear of a deadline earlier than any before it.
  void add_timer(timer_entry& t) {
    if (timers_.add(t)) parker::on_earlier_deadline(*this);
  }
  void cancel_timer(timer_entry& t) noexcept { timers_.cancel(t); }

  // True in a run_blocking() call of this runtime (on its pool's thread).
  bool in_blocking_call() const noexcept { return blocking_.runs_on_this_thread(); }

  // Hands a run_blocking() call to the blocking pool (see blocking_pool::submit).
  void submit_blocking(blocking_job& job) { blocking_.submit(job); }

 private:
  // The scheduler itself: a worker runs its loop on these queues, timers and
  // this reactor, and its parker blocks in the reactor or on a condition
  // variable. Wrapping each of their uses in an operation here would only
  // restate worker.cpp and parker.cpp, so they reach the members directly;
  // every other file goes through the operations above.
  friend class worker;
  friend class parker;

  // A fiber ended while cancelling_all_: shutdown re-reads the count (shutdown.cpp).
  void tell_shutdown() noexcept;

  // Shutdown, in steps (runtime_core.cpp). Idempotent.
  void shut_down();
  void stop_workers();
  void run_all_runnable(worker& host);
  void cancel_suspended(worker& host);
  void report_stuck_fibers();

  // options::on_worker_start / on_worker_stop; called by each worker thread.
  const std::function<void(std::size_t)> on_worker_start_;
  const std::function<void(std::size_t)> on_worker_stop_;
  stack_pool stacks_;
  annotated_mutex sized_stacks_lock_;
  std::vector<std::unique_ptr<stack_pool>> sized_stacks_ SPINDLE_GUARDED_BY(sized_stacks_lock_);
  const bool stack_guard_;
  timer_queue timers_;
  std::shared_ptr<detail::reactor> reactor_;
  global_queue global_;
  idle_set idle_;
  std::vector<std::unique_ptr<worker>> workers_;
  // options::io as resolved (io/io_backend.hpp); set before the workers start.
  io_backend io_{};
  fiber_registry registry_;
  blocking_pool blocking_;
  // options::stall_threshold (null when 0): made before the workers start,
  // stopped first at shutdown, destroyed after the workers (they call it).
  std::unique_ptr<stall_monitor> monitor_;
  // options::dump_signal (null when 0); stopped first at shutdown.
  std::unique_ptr<dump_on_signal> dump_on_signal_;
  // Destroyed after the workers are joined: no worker records any more.
  trace_session trace_;
  // Who blocks in reactor_->poll() (parker.hpp); a cache line of its own.
  driver_seat driver_;
  // Read on every switch: a cache line of its own, away from the driver flags.
  // cancelling_all_ and closed_ share it: read where stopping_ is.
  alignas(64) std::atomic<bool> stopping_{false};
  std::atomic<bool> cancelling_all_{false};
  std::atomic<bool> closed_{false};
  std::atomic<std::uint64_t> next_id_{1};
  live_fibers live_;

  // Graceful shutdown (shutdown.cpp). shutdown_lock_ serialises shutdown()
  // calls; ended_lock_ orders shutdown's wait for the fibers' ends with the
  // ends' notifications.
  std::mutex shutdown_lock_;
  std::mutex ended_lock_;
  std::condition_variable ended_cv_;  // a fiber ended while cancelling_all_

  // In the process's list of runtimes, for debuggers (scripts/gdb/spindle.py).
  runtime_list_entry listed_{*this};
};

}  // namespace spindle::detail
