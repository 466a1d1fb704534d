#include <mutex>
#include <new>
#include <spindle/detail/waiter.hpp>

#include "fiber/fiber_switch.hpp"
#include "observe/wait_recording.hpp"
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

// An inline-joined fiber parks on the stack's owner: a canceller of that
// fiber, or of a fiber whose join runs it, must wake the owner (see
// cancel_links::parked_host). Stored at each one's first park there; later
// parks only compare. Without memory for the links, a request reaches the
// wait at the next park only.
void note_parked_host(fiber& who, fiber* host) noexcept {
  try {
    std::atomic<fiber*>& slot = links_of(who).parked_host;
    // seq_cst: ordered before the park's own CAS and `requested` load, so a
    // canceller either sees the owner here or the fiber sees its request.
    if (slot.load(std::memory_order_relaxed) != host) slot.store(host, std::memory_order_seq_cst);
  } catch (const std::bad_alloc&) {
  }
}

// A fiber run inline by a join (who != the stack's owner): notes the owner
// as the parked host of `who` and of each joiner whose cancellation reaches
// it (so their cancellers wake this park), each before its request is read
// (see note_parked_host). True if one of them is cancelled.
bool note_owner_and_read_requests(fiber& who, fiber* owner) noexcept {
  return any_reaching(who, [owner](fiber& f) {
    if (&f != owner) note_parked_host(f, owner);  // the owner's canceller wakes its own word
    return f.cancel.requested.load(std::memory_order_seq_cst);
  });
}

}  // namespace

// The fiber half of the door. Cost when nothing is cancelled: a load of
// `requested`, one of the runtime's `cancelling_all` (runtime::shutdown; on
// the line of `stopping`, just read), a load of the scope pointer, and the
// same park as before (a cancellable park differs only in the constant
// stored); guarded by `spindle-bench pingpong` and `mutex`.
wake waiter::suspend(wait_reason why, clock::time_point deadline) {
  if (!fiber_) return suspend_thread(deadline);
  fiber* self = fiber_;
  // Who runs here: the stack's own fiber, or the one a join() runs inline.
  fiber* who = &running_on(*self);
  cancel_state& cancel = who->cancel;
  bool cancellable = cancel.shield_depth == 0;
  if (cancel_if_stopping(*this, self)) return finish_fiber_wait(self, wake::cancelled);
  bool scope_deadline = false;
  runtime_core& rt = *self->sched.rt;
  // runtime::shutdown cancels every fiber of the runtime through its flag: a
  // fiber parked before it was set is woken by shutdown (sched/shutdown.cpp).
  // A fiber a join runs inline: its joiners' requests count too.
  if (cancellable &&
      (rt.cancelling_all() || (who == self ? cancel.requested.load(std::memory_order_seq_cst)
                                           : note_owner_and_read_requests(*who, self)))) {
    if (try_claim(wake::interrupted)) return wake::interrupted;
    cancellable = false;  // a notifier claimed us first: wait for its unpark
  }
  if (cancellable) {
    const clock::time_point scoped = reaching_deadline(*who);  // its joiners' too
    if (scoped < deadline) {
      deadline = scoped;
      scope_deadline = true;
    }
  }
  const bool timed = deadline != no_deadline;
  if (timed) {
    if (clock::now() >= deadline && try_claim(wake::timed_out))
      return scope_deadline ? wake::expired : wake::timed_out;
    timer_.deadline = deadline;
    timer_.owner = this;
    rt.add_timer(timer_);
  }
  worker& w = *current_worker();
  begin_wait_record(w, *who, why);
  park_current(w, this, cancellable);
  // Resumed by an unpark, the park word is `running` again (the unparker
  // stored it before it submitted us), or `cancel_pending` if a request came
  // since. Anything else: a cancellation woke us.
  const wake r =
      cancellable && !switch_detail::runs_unwoken(self->sched.park.load(std::memory_order_acquire))
          ? after_cancel_wake(self, *who)
          : state();
  end_wait_record(*who, why.kind);
  if (timed && r != wake::timed_out) rt.cancel_timer(timer_);
  if (r == wake::timed_out && scope_deadline) return wake::expired;
  return finish_fiber_wait(self, r);
}

// After a cancellation request woke the fiber: either nobody claimed the
// waiter (claim it as interrupted: nobody will unpark it) or a notifier or the
// timer did, and its unpark is owed, unless it came already (the park word is
// then `woken`, which the exchange consumes).
//
// The request may also not reach this wait: a joiner's whose shield covers
// the join that runs `who` inline (its canceller wakes the stack's owner, as
// for any fiber parked on that stack). Then the fiber waits on, parking
// again unless its unpark came meanwhile.
wake waiter::after_cancel_wake(fiber* self, fiber& who) {
  using namespace switch_detail;
  for (;;) {
    const std::uint32_t was = self->sched.park.exchange(park_running, std::memory_order_acq_rel);
    if (cancel_reaches(who) || self->sched.rt->cancelling_all()) {
      if (try_claim(wake::interrupted)) return wake::interrupted;
      if (was != park_woken) park_current(*current_worker(), this, false);
      return state();
    }
    if (was == park_woken) return state();  // claimed and unparked meanwhile
    park_current(*current_worker(), this, true);
    if (runs_unwoken(self->sched.park.load(std::memory_order_acquire))) return state();
  }
}

wake waiter::suspend_thread(clock::time_point deadline) {
  if (deadline == no_deadline) {
    thread_->park();
  } else if (!thread_->park_until(deadline)) {
    if (try_claim(wake::timed_out)) return wake::timed_out;
    thread_->park();  // a notifier claimed it first: its unpark is on the way
  }
  return state();
}

}  // namespace spindle::detail
