// worker: one OS thread of a runtime and the fibers it runs.
//
// Ownership: every field is touched only by the worker's own thread, except
//  * `local` (thieves take from its head, see run_queue.hpp),
//  * `runnext` (thieves may take it when the ring is empty),
//  * `parker_` (unpark() from any thread, see parker.hpp),
//  * `running` (read by contended mutex lockers, see owner_running()),
//  * `trace` (stored by start_trace / stop_trace, observe/trace_session.hpp).
//
// Where a worker's thread runs: either its *scheduler loop* on the thread's
// own stack (run(): find work, park), or a fiber. Fibers switch directly to
// the next runnable fiber when they block or yield, and fall back to the
// scheduler loop only when nothing is runnable locally; so the common switch
// is one jump, not two.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <spindle/detail/caller_id.hpp>
#include <spindle/detail/fast_random.hpp>
#include <spindle/detail/waiter.hpp>
#include <thread>

#include "fiber/sanitizers.hpp"
#include "fiber/stack_pool.hpp"
#include "observe/fiber_registry.hpp"
#include "observe/trace_buffer.hpp"
#include "sched/context.hpp"
#include "sched/parker.hpp"
#include "sched/run_queue.hpp"

namespace spindle::detail {

class io_ring;
class runtime_core;

// What the next context does to the fiber that just switched away, once it
// is off its stack (the park protocol: see fiber_switch.cpp).
enum class after_switch_action : std::uint8_t { none, requeue, park, park_cancellable, finish };

// A worker's counters for runtime::metrics(). Written only by the worker's
// thread (a relaxed load and store, no read-modify-write: nobody else
// writes), read by anyone; a cache line of their own, so a reader never
// slows the worker down by more than a line transfer.
struct alignas(64) worker_counters {
  std::atomic<std::uint64_t> fibers_run{0};  // switches into a fiber
  std::atomic<std::uint64_t> steals{0};      // fibers taken from other workers
  std::atomic<std::uint64_t> parks{0};       // times the worker went idle
  std::atomic<std::uint64_t> io_polls{0};    // reactor polls
  std::atomic<std::uint64_t> busy_ns{0};     // time out of its park, up to its last park
  std::atomic<std::int64_t> busy_since{0};   // when it last left its park (steady ns); 0: parked
  std::atomic<std::uint64_t> io_waits_begun{0};   // IO waits parked here ...
  std::atomic<std::uint64_t> io_waits_ended{0};   // ... and resumed here (the sums differ by
                                                  // the IO waits in progress)

  static void bump(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
};

class worker {
 public:
  worker(runtime_core& rt, std::uint32_t index);
  ~worker();
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  void start();
  void join();

  // Makes f runnable on this worker; must run on this worker's thread.
  // `woken`: f was readied by a fiber here, so it goes in the runnext slot
  // (a message and its receiver stay in one cache); new or yielded fibers go
  // to the tail of the ring. Returns true if other workers should be told
  // about new work.
  bool push_local(fiber* f, bool woken) noexcept;

  // Whether fibers are piling up faster than the workers run them: this
  // worker's ring at least half full and spawn_backlog fibers waiting in the
  // global queue (coop_budget.hpp, spawns). A hint: both counts may be stale.
  static constexpr std::size_t spawn_backlog = 16384;
  bool spawns_pile_up() const noexcept;

  // The next fiber this worker should run from its own queues, or null.
  // Every 61st call looks at the global queue first, so it cannot starve.
  fiber* next_local() noexcept;

  // Go checks its global queue every 61 scheduling rounds: often enough that
  // it cannot starve, rarely enough to stay off the shared cache line; a
  // prime so that it does not fall into step with a program's own periods.
  static constexpr std::uint32_t global_check_interval = 61;
  // A fiber readied by the running one takes the runnext slot, but at most
  // this many times in a row, so two fibers passing messages cannot starve
  // the ring (Tokio: MAX_LIFO_POLLS_PER_TICK = 3).
  static constexpr std::uint32_t max_runnext_streak = 3;

  // Wakes the worker if it is parked (or makes its next park return at once).
  void unpark() noexcept { parker_.unpark(); }

  // The io_uring backend: this worker's ring, and the worker parks in it
  // (io/uring/io_ring.hpp). Before start(), by the runtime.
  void use_ring(std::unique_ptr<io_ring> r) noexcept;

  // A finished fiber is off its stack: the stack goes back to the pool (warm,
  // for the next spawn) and the run's reference is dropped.
  void release_finished(fiber* f) noexcept;

  // The scheduler loop: runs fibers until the runtime stops.
  void run();

  // The loop of the spare worker (observe/stall_monitor.hpp), on the
  // monitor's spare thread, while `active`: runs its own fibers, the
  // runnable fibers of every worker marked `stalled`, the global queue,
  // due timers and IO; then hands what it still holds to the global queue.
  void serve_stalls(const std::atomic<bool>& active);

  // Set by the stall monitor while this worker runs one fiber past the
  // threshold: the spare takes fibers from its queues meanwhile.
  std::atomic<bool> stalled{false};

  runtime_core& rt;
  const std::uint32_t index;

  run_queue local;
  std::atomic<fiber*> runnext{nullptr};

  // The io_uring backend's ring (null with epoll): set before start(), then
  // used by this worker's thread, by the stall monitor's spare while this
  // worker is stalled, and by shutdown's drain (its lock: io_ring.hpp).
  std::unique_ptr<io_ring> ring;

  // caller_id() of the running fiber (no_owner in the scheduler loop):
  // written by this worker at every switch, read by spinning mutex lockers to
  // tell whether the holder is running (spin) or suspended (park at once).
  std::atomic<owner_id> running{no_owner};

  // ---- owned by the worker's thread
  fiber* current = nullptr;            // the running fiber; null in the scheduler loop
  void* sched_context = nullptr;       // the scheduler loop's context while a fiber runs
  sanitizer_context sched_san;         // the scheduler loop's stack, for the sanitizers
  fiber* pending_prev = nullptr;       // the fiber that just switched away, and
  after_switch_action pending_action = after_switch_action::none;  // what to do with it
  stack_cache stacks;
  std::uint32_t until_periodic = global_check_interval;  // rounds left to the periodic check
  std::uint32_t runnext_streak = 0;    // consecutive runs from runnext (bounded)
  xorshift64star rng;                  // victim selection
  bool searching = false;
  // While this worker polls the reactor, the fibers it wakes go to the tail
  // of its ring in event order (not one by one through runnext, each
  // displacing the last), and other workers are told once, after the poll.
  bool polling = false;
  bool polled_work = false;            // a poll queued fibers; whoever polled tells the others
  // Sends the running fiber's next switch to the scheduler loop; read on
  // every switch, in the worker's own cache line. Set once, by shutdown,
  // before the workers are woken (a copy of runtime_core::stopping()).
  std::atomic<bool> stopping{false};
  // The buffer this worker records a trace into (observe/trace_session.hpp),
  // or null: stored by start_trace / stop_trace, loaded at every switch,
  // wake, wait and steal. Off, that is one load (acquire: a plain load on
  // x86) and one predictable branch.
  std::atomic<trace_buffer*> trace{nullptr};
  std::uint64_t next_id = 0, id_limit = 0;  // a block of fiber ids
  // A clock for "waiting since" in the dump, refreshed at every periodic
  // check and every wake from a park: a read of it costs nothing, unlike
  // clock::now() on every park. Steady nanoseconds.
  std::int64_t coarse_now = 0;
  // The running fiber's cooperative budget (sched/coop_budget.hpp): socket
  // calls and spawns made in the run slice that counters.fibers_run had
  // reached at budget_run.
  std::uint64_t budget_run = 0;
  std::uint32_t budget_spent = 0;

  worker_counters counters;
  // Fibers that ended here but belong to another registry shard
  // (observe/fiber_registry.hpp); flushed when full, idle and at the end.
  fiber_registry::remote_ends remote_ends;

  // A fiber ends on this worker, on its own stack: leaves the registry now,
  // or joins remote_ends (see fiber_registry).
  void unregister_at_end(fiber& f) noexcept {
    if (trace_buffer* tb = trace.load(std::memory_order_acquire)) [[unlikely]]
      if (!f.name.empty()) tb->record_end(f);  // the trace names it after it is gone
    rt_registry().remove_at_end(f, index, remote_ends);
  }
  void flush_remote_ends() noexcept;

 private:
  fiber* periodic_check() noexcept;    // every 61st next_local(): timers, IO, global queue
  void push_overflow(fiber* f) noexcept;  // the ring is full
  fiber* find_work();                  // scheduler loop: local, ring, global, timers, IO, steal; parks
  void flush_ring() noexcept;          // the ring's queued requests and completions
  fiber* steal() noexcept;
  fiber* take_from_stalled() noexcept;  // serve_stalls
  fiber* take_global() noexcept;
  bool any_work_visible() noexcept;
  // Around a park: busy time and the park count (counters), the coarse clock.
  void enter_busy() noexcept;
  void leave_busy() noexcept;

  fiber_registry& rt_registry() noexcept;

  parker parker_;
  std::thread thread_;
};

// Hot paths (yield, wake, spawn; guarded by `spindle-bench yield` and
// `pingpong`): a few loads and stores and at most one CAS, no fence.
inline bool worker::push_local(fiber* f, bool woken) noexcept {
  if (woken) {
    fiber* displaced = runnext.exchange(f, std::memory_order_acq_rel);
    if (!displaced) return false;  // this worker runs it next: nobody else need look
    f = displaced;
  }
  if (!local.try_push(f)) push_overflow(f);
  return true;
}

inline fiber* worker::next_local() noexcept {
  if (--until_periodic == 0) [[unlikely]] {
    until_periodic = global_check_interval;
    if (fiber* f = periodic_check()) return f;
  }
  if (runnext_streak < max_runnext_streak && runnext.load(std::memory_order_relaxed)) {
    if (fiber* f = runnext.exchange(nullptr, std::memory_order_acq_rel)) {
      ++runnext_streak;
      return f;
    }
  }
  runnext_streak = 0;
  if (fiber* f = local.pop()) return f;
  if (runnext.load(std::memory_order_relaxed)) return runnext.exchange(nullptr, std::memory_order_acq_rel);
  return nullptr;
}

// Describes the calling thread's own stack as a scheduler-loop context.
void bind_scheduler_context(sanitizer_context& san) noexcept;

}  // namespace spindle::detail
