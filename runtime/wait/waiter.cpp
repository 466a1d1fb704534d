#include <spindle/detail/waiter.hpp>

#include "fiber/fiber_switch.hpp"
#include "sched/context.hpp"
#include "sched/runtime_core.hpp"
#include "wait/thread_parker.hpp"

namespace spindle::detail {

thread_parker& thread_parker::current() noexcept {
  static thread_local thread_parker parker;
  return parker;
}

waiter::waiter() noexcept : fiber_(current_fiber()), thread_(nullptr) {
  if (!fiber_) thread_ = &thread_parker::current();
}

void waiter::unpark() noexcept {
  if (fiber* f = fiber_) {
    unpark_fiber(f);
  } else {
    thread_->unpark();
  }
}

namespace {

// Once a runtime stops, a fiber that is not yet unwinding must not start a
// new wait: the wait is cancelled at once, so the fiber unwinds (shutdown).
bool cancel_if_stopping(waiter& w, fiber* f) noexcept {
  if (f->sched.unwinding || !f->sched.rt->stopping()) return false;
  return w.try_claim(wake::cancelled);
}

wake finish_fiber_wait(fiber* f, wake r) noexcept {
  if (r == wake::cancelled) f->sched.unwinding = true;
  return r;
}

}  // namespace

wake waiter::wait() {
  if (!fiber_) {
    thread_->park();
    return state();
  }
  if (cancel_if_stopping(*this, fiber_)) return finish_fiber_wait(fiber_, wake::cancelled);
  park_current(this);
  return finish_fiber_wait(fiber_, state());
}

wake waiter::wait_uncancellable() {
  if (!fiber_) {
    thread_->park();
  } else {
    park_current(nullptr);
  }
  return state();
}

wake waiter::wait_until(clock::time_point deadline) {
  if (!fiber_) {
    if (!thread_->park_until(deadline)) {
      if (try_claim(wake::timed_out)) return wake::timed_out;
      thread_->park();  // a notifier claimed it first: its unpark is on the way
    }
    return state();
  }
  if (cancel_if_stopping(*this, fiber_)) return finish_fiber_wait(fiber_, wake::cancelled);
  if (clock::now() >= deadline && try_claim(wake::timed_out)) return wake::timed_out;
  runtime_core& rt = *fiber_->sched.rt;
  timer_.deadline = deadline;
  timer_.owner = this;
  rt.add_timer(timer_);
  park_current(this);
  wake r = state();
  if (r != wake::timed_out) rt.cancel_timer(timer_);
  return finish_fiber_wait(fiber_, r);
}

}  // namespace spindle::detail
