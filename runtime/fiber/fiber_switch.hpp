// fiber_switch: every context switch in spindle, and the park protocol.
//
// The switch path is inline (always): after a stack switch every `ret` until
// the next `call` mispredicts, because the return-stack buffer still holds
// the other context's return addresses, so each function level between
// jump_fcontext and user code costs ~5 ns (reference machine, measured with
// `spindle-bench yield`).
//
// A switch is one jump_fcontext (Boost.Context's assembly: save six callee-
// saved registers, swap stack pointers, jump; ~5 ns on the reference
// machine). The jumping side leaves a note in its worker (pending_prev, pending_action) and
// the side that lands reads it *on the new stack*, once the old fiber is
// completely off its own stack. Only then is the old fiber published:
//
//   requeue  (yield)   pushed to the tail of the local ring
//   park     (wait)    marked parked; or, if an unpark came in the meantime,
//                      pushed to run again
//   finish             its stack goes back to the pool, its run reference is dropped
//
// So no other worker can ever resume a fiber that is still running on its
// stack: the invariant the scheduler stands on (guarded by
// tests/park_protocol_test.cpp, millions of cross-worker wake-ups under TSan).
//
// The park protocol (fiber_sched_state::park), between the parking fiber and
// whoever unparks it (exactly one party, see waiter.hpp):
//
//   running --land()--> parked --unpark()--> (running, submitted)
//   running --unpark()--> woken --land()--> (running, submitted)
//
// unpark() and land() each exchange the state; the one that sees the other's
// mark submits the fiber. A fiber that finds itself already `woken` before it
// switches does not switch at all.
//
// A cancellable wait parks as `parked_cancellable`, and a cancellation
// request (wake_cancelled, after it stored the fiber's `requested` flag)
// takes the park word to one of two states with one CAS:
//
//   parked_cancellable --canceller--> cancel_woken (and submits the fiber)
//   running            --canceller--> cancel_pending
//
// land() parks a cancellable wait with a CAS from `running`: if it finds
// `cancel_pending` instead, a request came while the fiber was on its way
// into the wait, so it does not park it but stores `cancel_woken` and
// submits it. All of it RMWs and seq_cst accesses on one word (a total
// order), so a request is either seen by land() or finds the fiber parked:
// never lost, and the parking fiber pays no atomic operation more than a
// plain park. A fiber woken this way resumes with its park word not
// `running` (`cancel_woken`, or `woken` if its waiter's claimer unparked it
// meanwhile: unpark() submits only a parked fiber) and sorts the rest out
// itself (waiter.cpp, after_cancel_wake). `cancel_pending` is also what a
// request leaves on a fiber that merely runs: it counts as `running`
// everywhere (the request itself is the sticky flag, which every
// cancellable wait reads first), and a plain park overwrites it.
// land() never touches a fiber after it published it as parked: from then
// on another worker may run it, finish it and free it.
#pragma once

#include "fiber/context_switch.hpp"
#include "fiber/join.hpp"
#include "fiber/sanitizers.hpp"
#include "sched/runtime_core.hpp"
#include "sched/worker.hpp"

namespace spindle::detail {
namespace switch_detail {

// The low bit marks a parked fiber (off its stack), so unpark() tests one bit.
enum : std::uint32_t {
  park_running = 0,
  park_parked = 1,
  park_woken = 2,
  park_parked_cancellable = 3,
  park_cancel_woken = 4,
  park_cancel_pending = 6,  // low bit clear: not parked
};

// The park word of a fiber that runs (a pending request changes nothing
// until it waits again).
inline bool runs_unwoken(std::uint32_t park) noexcept {
  return park == park_running || park == park_cancel_pending;
}

void fiber_entry(ctx::transfer_t t);
// Gives a fiber that has never run its stack and initial context. Without
// memory for a stack the fiber fails instead, as if its body had thrown the
// allocation's exception (its join rethrows it; detached, it is reported),
// its run reference is dropped, and this returns false: the error reaches
// that fiber's owner only, never the worker or the fiber that is switching.
bool prepare_first_run(worker& w, fiber* f) noexcept;

}  // namespace switch_detail

namespace switch_detail {

inline sanitizer_context& san_of(worker& w, fiber* f) noexcept {
  return f ? f->sched.stack->san : w.sched_san;
}

// A fiber woken on its way into its park: its waker did not submit it (see
// unpark_fiber), so the trace records the wake here, by an unknown waker.
inline void trace_woken_in_park(worker& w, fiber* f) noexcept {
  if (trace_buffer* tb = w.trace.load(std::memory_order_acquire)) [[unlikely]]
    tb->record_wake_unknown(f);
}

// Runs on the new stack right after every jump: applies the note the
// previous context left. Cost: a few stores, plus one atomic exchange to park.
[[gnu::always_inline]] inline void land(ctx::transfer_t t) noexcept {
  worker& w = *static_cast<worker*>(t.data);
  after_switch(san_of(w, w.current));
  fiber* prev = w.pending_prev;
  after_switch_action action = w.pending_action;
  w.pending_action = after_switch_action::none;
  if (!prev) {
    w.sched_context = t.fctx;
    return;
  }
  switch (action) {
    case after_switch_action::none:
      prev->sched.context = t.fctx;
      break;
    case after_switch_action::requeue:
      prev->sched.context = t.fctx;
      w.push_local(prev, false);
      break;
    case after_switch_action::park:
      prev->sched.context = t.fctx;
      if (prev->sched.park.exchange(park_parked, std::memory_order_acq_rel) == park_woken) {
        prev->sched.park.store(park_running, std::memory_order_relaxed);
        trace_woken_in_park(w, prev);
        if (w.push_local(prev, true)) w.rt.notify_work();
      }
      break;
    case after_switch_action::park_cancellable: {
      prev->sched.context = t.fctx;
      std::uint32_t s = park_running;
      if (!prev->sched.park.compare_exchange_strong(s, park_parked_cancellable,
                                                    std::memory_order_seq_cst)) {
        // Woken, or its cancellation requested, on the way out: run it
        // again; the door sees `cancel_woken` (woken: a normal wake).
        prev->sched.park.store(s == park_woken ? park_running : park_cancel_woken,
                               std::memory_order_relaxed);
        trace_woken_in_park(w, prev);
        if (w.push_local(prev, true)) w.rt.notify_work();
      }
      break;
    }
    case after_switch_action::finish:
      w.release_finished(prev);
      break;
  }
}

// Switches from `self` (null: the scheduler loop) to `next` (null: the
// scheduler loop), leaving `action` for the landing side to apply to `self`.
// `next` already has a stack when `self` is null (resume_from_scheduler).
// Returns the worker the caller resumed on (it may have migrated).
[[gnu::always_inline]] inline worker& jump(worker& w, fiber* self, fiber* next, after_switch_action action) {
  if (next && !next->sched.stack) [[unlikely]] {
    if (!prepare_first_run(w, next)) next = nullptr;  // it failed: to the scheduler loop instead
  }
  w.pending_prev = self;
  w.pending_action = action;
  w.current = next;
  // For contended mutex lockers (owner_running): one relaxed store to the
  // worker's own line, lost in the noise of `spindle-bench yield`.
  w.running.store(next ? fiber_owner_id(next->sched.id) : no_owner, std::memory_order_relaxed);
  if (next) worker_counters::bump(w.counters.fibers_run);  // runtime::metrics(); a load and a store
  // runtime::start_trace: off, one load and one predictable branch.
  if (trace_buffer* tb = w.trace.load(std::memory_order_acquire)) [[unlikely]]
    tb->record_run(self, next, static_cast<std::uint32_t>(action));
  void* target = next ? next->sched.context : w.sched_context;
  before_switch(san_of(w, self), san_of(w, next), action == after_switch_action::finish);
  ctx::transfer_t t = switch_context(target, &w);
  land(t);
  return *static_cast<worker*>(t.data);
}

// The running fiber leaves its worker: straight to the next local fiber if
// there is one (one jump), else to the scheduler loop.
// Returns the worker the caller resumed on.
[[gnu::always_inline]] inline worker& switch_away(worker& w, fiber* self, after_switch_action action) {
  fiber* next = nullptr;
  if (!w.stopping.load(std::memory_order_relaxed)) [[likely]] {
    do next = w.next_local();
    while (next && !claim_start(next));
  }
  return jump(w, self, next, action);
}

}  // namespace switch_detail

// Scheduler loop -> fiber f; returns when the worker is back in its loop.
void resume_from_scheduler(worker& w, fiber* f);

// Parks the running fiber until unpark_fiber(), or, if `cancellable`, until a
// cancellation request (wake_cancelled). `on`: the waiter shutdown may
// cancel, or null for a wait that must not be cancelled. `w`: the calling
// fiber's worker, just read (current_worker()).
[[gnu::always_inline]] inline void park_current(worker& w, waiter* on, bool cancellable) {
  using namespace switch_detail;
  fiber* self = w.current;
  if (self->sched.park.load(std::memory_order_acquire) == park_woken) {
    self->sched.park.store(park_running, std::memory_order_relaxed);
    return;  // unparked before it even left
  }
  self->sched.stack->blocked_on = on;
  switch_away(w, self,
              cancellable ? after_switch_action::park_cancellable : after_switch_action::park);
  self->sched.stack->blocked_on = nullptr;
}

// Makes a parked (or parking) fiber runnable again. Exactly once per park.
inline void unpark_fiber(fiber* f) noexcept {
  using namespace switch_detail;
  if (f->sched.park.exchange(park_woken, std::memory_order_acq_rel) & park_parked) {
    f->sched.park.store(park_running, std::memory_order_relaxed);
    f->sched.rt->submit(f, true);
  }
  // else: still on its way out; land() sees `woken` and submits it.
}

// A cancellation request's wake, after `requested` was stored: takes f from
// parked_cancellable to cancel_woken and submits it, or from running to
// cancel_pending, which land() sees if f is on its way into a wait (see the
// top of this file). Does nothing if f waits in a wait that is not
// cancellable or was woken already. Any thread; f must stay alive.
inline void wake_cancelled(fiber* f) noexcept {
  using namespace switch_detail;
  std::uint32_t s = f->sched.park.load(std::memory_order_seq_cst);
  for (;;) {
    if (s == park_parked_cancellable) {
      if (f->sched.park.compare_exchange_weak(s, park_cancel_woken, std::memory_order_seq_cst)) {
        f->sched.rt->submit(f, true);
        return;
      }
    } else if (s == park_running) {
      if (f->sched.park.compare_exchange_weak(s, park_cancel_pending, std::memory_order_seq_cst))
        return;
    } else {
      return;
    }
  }
}

}  // namespace spindle::detail
