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
//    flag alone would never reach: every fiber of the registry (the dump's
//    list of live fibers, observe/fiber_registry.hpp) gets request_cancel()
//    (its flag, plus the lock-free wake of cancel_state.hpp). A shard's lock
//    keeps its fibers from ending while they are walked; the workers keep
//    running.
//
// Why no request is lost: a fiber that read the flag before it was set, and
// so went on to park, is live, so the walk reaches it, and request_cancel
// against a fiber on its way into a wait is the per-fiber race the park
// protocol already settles (fiber_switch.hpp). A fiber spawned after the walk
// reads the flag at its first wait.
//
// Waiting for the ends: live_fibers counts spawns and ends; after the flag is
// set, every end (count_end) tells shutdown, which re-reads the count under
// ended_lock_, so the last end cannot slip between its read and its wait.
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
  registry_.for_each([](fiber& f) { request_cancel(f); });
  {
    std::unique_lock<std::mutex> g(ended_lock_);
    while (live_.count() != 0)
      if (wait_until(ended_cv_, g, deadline)) break;
  }
  shut_down();
}

void runtime_core::tell_shutdown() noexcept {
  std::lock_guard<std::mutex> g(ended_lock_);
  ended_cv_.notify_all();
}

}  // namespace spindle::detail
