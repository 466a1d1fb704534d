// runtime::shutdown(grace): cancel every fiber, give them `grace` to end,
// then shut down as ~runtime() does (runtime_core.cpp).
//
// Cancelling every fiber takes two things:
//
//  * `cancelling_all_`, which the park door reads beside `stopping_`
//    (waiter.cpp) and treats as a cancellation request of whichever fiber
//    waits: every wait from then on throws spindle::cancelled (outside a
//    shield), also for fibers that had not started yet or are spawned during
//    the grace period, and this_fiber::cancelled() is true. It is sticky:
//    nothing clears it.
//  * A wake for the fibers already parked in a cancellable wait, which the
//    flag alone would never reach. They are found through the stack pool (a
//    fiber that has a stack is started and not ended; a parked fiber has
//    one), which may only be read while no worker runs a fiber: stacks are
//    taken and given back, and fibers freed, only by the worker that runs
//    them. So the workers are paused: each returns to its scheduler loop at
//    its running fiber's next switch (the path stop_workers uses) and waits
//    in pause_point. Then every owner of a stack in use gets request_cancel()
//    (flag, plus the lock-free wake of cancel_state.hpp), and the workers
//    resume.
//
// Why no request is lost: a fiber that read the flag before it was set, and
// so went on to park, is parked (published by land()) before its worker can
// reach the pause: the pause finds it. A fiber that runs after the pause
// reads the flag: the pause's lock orders the flag's store before it. Wakers
// on plain threads (a channel send, t.cancel(), a blocking-pool thread) may
// run during the pause: they only move fibers to the global queue, they never
// run them, so no stack changes hands.
//
// A fiber that never reaches a switch keeps the pause waiting, as it keeps
// ~runtime() waiting; the pause gives up at the grace deadline (the fibers
// not woken then are unwound by the shutdown that follows).
//
// Waiting for the ends: live_fibers counts spawns and ends; after the flag is
// set, every end (count_end) tells shutdown, which re-reads the count under
// pause_lock_, so the last end cannot slip between its read and its wait.
#include <spindle/detail/cancel_state.hpp>

#include "fiber/fiber_switch.hpp"
#include "sched/context.hpp"
#include "sched/runtime_core.hpp"

namespace spindle::detail {
namespace {

// cv.wait_until, where `deadline` may be no_deadline (the clock's last
// instant, which the condition variable must not convert). True once the
// deadline has passed.
bool wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& g,
                clock::time_point deadline) {
  if (deadline == no_deadline) {
    cv.wait(g);
    return false;
  }
  cv.wait_until(g, deadline);
  return clock::now() >= deadline;
}

}  // namespace

void runtime_core::shutdown(clock::duration grace) {
  std::lock_guard<std::mutex> serial(shutdown_lock_);
  if (closed()) return;  // idempotent
  const clock::time_point now = clock::now();
  const clock::time_point deadline = grace <= clock::duration::zero() ? now
                                     : grace >= no_deadline - now     ? no_deadline
                                                                      : now + grace;
  cancelling_all_.store(true, std::memory_order_seq_cst);
  if (pause_workers(deadline)) cancel_every_started_fiber();
  resume_workers();
  {
    std::unique_lock<std::mutex> g(pause_lock_);
    while (live_.count() != 0)
      if (wait_until(ended_cv_, g, deadline)) break;
  }
  shut_down();
}

// Diverts every worker to pause_point (see the top of this file); true once
// all of them are there, false if `deadline` came first.
bool runtime_core::pause_workers(clock::time_point deadline) {
  {
    std::lock_guard<std::mutex> g(pause_lock_);
    pausing_ = true;
  }
  // The workers' `stopping` sends a running fiber's next switch to the
  // scheduler loop (switch_away) and the loop to pause_point (find_work).
  for (auto& w : workers_) w->stopping.store(true, std::memory_order_seq_cst);
  for (auto& w : workers_) w->unpark();
  reactor_->wake();
  std::unique_lock<std::mutex> g(pause_lock_);
  while (paused_ != workers_.size()) {
    if (wait_until(pause_cv_, g, deadline)) return paused_ == workers_.size();
  }
  return true;
}

void runtime_core::resume_workers() noexcept {
  std::lock_guard<std::mutex> g(pause_lock_);
  // Cleared before pausing_, under the lock: a worker leaving pause_point
  // finds its loop undiverted.
  for (auto& w : workers_) w->stopping.store(false, std::memory_order_relaxed);
  pausing_ = false;
  pause_cv_.notify_all();
}

void runtime_core::pause_point() noexcept {
  std::unique_lock<std::mutex> g(pause_lock_);
  if (!pausing_) return;  // resumed before this worker got here
  ++paused_;
  pause_cv_.notify_all();
  pause_cv_.wait(g, [&] { return !pausing_; });
  --paused_;
}

// Every worker is in pause_point: no fiber runs, so the in-use stacks and
// their owners stay put (stack_pool::for_each_in_use's condition).
void runtime_core::cancel_every_started_fiber() noexcept {
  stacks_.for_each_in_use([](stack_block& s) { request_cancel(*s.owner); });
}

void runtime_core::tell_shutdown() noexcept {
  std::lock_guard<std::mutex> g(pause_lock_);
  ended_cv_.notify_all();
}

}  // namespace spindle::detail
