// runtime_core: the state one spindle::runtime shares between its workers.
//
// Queues of runnable fibers, from the cheapest to reach to the most shared:
//   worker::runnext     the fiber a worker readied last (one slot)
//   worker::local       the worker's ring of 256
//   global              moodycamel::ConcurrentQueue: spawns and wake-ups from
//                       plain threads, and overflow of full rings
// A fiber is in at most one of them, and in none while it runs or is parked.
//
// Shutdown (`stopping`): see runtime_core.cpp, ~runtime_core().
#pragma once

#include "sched/blocking_pool.hpp"
#include "sched/global_queue.hpp"
#include "sched/idle_set.hpp"
#include "io/reactor.hpp"
#include "fiber/stack_pool.hpp"
#include "wait/timer_queue.hpp"
#include "sched/worker.hpp"

#include <spindle/runtime.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

namespace spindle::detail {

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

  // A timer became the earliest deadline: a parked worker must shorten its sleep.
  void on_earlier_deadline() noexcept;

  // A block of fiber ids (increasing with spawn order), for one worker.
  std::uint64_t reserve_ids(std::uint64_t n) noexcept {
    return next_id_.fetch_add(n, std::memory_order_relaxed);
  }

  bool stopping() const noexcept { return stopping_.load(std::memory_order_acquire); }

  const std::size_t stack_size;
  // options::on_worker_start / on_worker_stop; called by each worker thread.
  const std::function<void(std::size_t)> on_worker_start;
  const std::function<void(std::size_t)> on_worker_stop;
  stack_pool stacks;
  timer_queue timers;
  // Shared with every socket attached to it (socket_fd), so a socket that
  // outlives the runtime can still detach and close safely.
  std::shared_ptr<reactor> io;
  global_queue global;
  idle_set idle;
  std::vector<std::unique_ptr<worker>> workers;
  blocking_pool blocking;

  // At most one worker blocks in io->poll(); it holds this flag meanwhile.
  alignas(64) std::atomic<bool> driver_busy{false};
  // True while the driver is inside a blocking io->poll().
  std::atomic<bool> driver_sleeping{false};

 private:
  void shut_down();
  // Read on every switch: a cache line of its own, away from the driver flags.
  alignas(64) std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> next_id_{1};
};

}  // namespace spindle::detail
