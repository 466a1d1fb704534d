// stall_monitor: options::stall_threshold (Go's sysmon, the part that
// notices a goroutine that does not yield).
//
// A thread, "spindle-mon", looks at every worker each `tick` (threshold/4,
// 1 to 10 ms) while any worker is busy. A worker whose fibers_run counter
// and running fiber have not changed for `threshold` has run that one fiber
// all along: it is reported once (on_stall, or one line on stderr), marked
// `stalled`, and the spare worker is started: a worker object outside the
// scheduler's set, on a thread of the monitor's, that runs the stalled
// workers' runnable fibers, the global queue, due timers and IO
// (worker::serve_stalls). When every stalled worker has switched again the
// spare hands back what it holds and sleeps until the next stall.
//
// Idle cost: none. When every worker is parked the monitor sleeps on a
// condition variable; a worker leaving its park wakes it (worker::enter_busy
// calls on_worker_busy: one load of `sleeping_` unless the monitor sleeps).
// The two sides order themselves Dekker-style: the worker stores busy_since
// and then loads sleeping_, the monitor stores sleeping_ and then loads
// every busy_since, all seq_cst, so one of them sees the other.
//
// Threads: run() is the monitor thread; the spare thread runs spare_main();
// on_worker_busy() is called by workers. lock_ guards stop_ and the
// condition variables' predicates.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <spindle/observe.hpp>
#include <thread>
#include <vector>

namespace spindle::detail {

class runtime_core;
class worker;

class stall_monitor {
 public:
  stall_monitor(runtime_core& rt, std::chrono::nanoseconds threshold,
                std::function<void(const stall_report&)> on_stall);
  ~stall_monitor();
  // Stops the spare (after the fiber it runs switches) and the monitor
  // thread; idempotent. Workers may still call on_worker_busy() afterwards.
  void stop() noexcept;
  stall_monitor(const stall_monitor&) = delete;
  stall_monitor& operator=(const stall_monitor&) = delete;

  // A worker left its park (any worker thread).
  void on_worker_busy() noexcept {
    if (sleeping_.load(std::memory_order_seq_cst)) wake();
  }

 private:
  void run();
  void spare_main();
  void wake() noexcept;
  bool all_idle() const noexcept;
  void report(std::size_t worker_index, std::uint64_t fiber_id,
              std::chrono::nanoseconds for_how_long);
  void start_spare();
  void stop_spare() noexcept;

  runtime_core& rt_;
  const std::chrono::nanoseconds threshold_;
  const std::chrono::nanoseconds tick_;
  const std::function<void(const stall_report&)> on_stall_;

  std::mutex lock_;
  std::condition_variable wake_monitor_;
  bool stop_ = false;                  // guarded by lock_
  std::atomic<bool> sleeping_{false};  // the monitor waits for a busy worker

  // The spare: created at the first stall, its thread kept (asleep on
  // wake_spare_) between stalls. spare_active_ is what serve_stalls() polls.
  std::unique_ptr<worker> spare_;
  std::thread spare_thread_;
  std::condition_variable wake_spare_;
  std::atomic<bool> spare_active_{false};

  std::thread thread_;
};

}  // namespace spindle::detail
