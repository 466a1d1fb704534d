// join: how a fiber's end meets its task handle (task<T>::join / detach).
//
// Two atomics of the fiber carry the protocol:
//
//   sched.started   false -> true, once: whoever starts the fiber. The
//                   scheduler before its first run on a stack of its own
//                   (claim_start), or a joiner that runs it inline on its own
//                   stack (try_run_inline in join.cpp). The loser skips it:
//                   a queue entry of a fiber run inline only drops the
//                   queue's reference (ran_inline, claim_start).
//   join_state      running -> done                 (finished, nobody joined yet)
//                   running -> detached -> done     (task::detach, then the end)
//                   running -> <joiner's waiter> -> done
//                   The CAS that moves it away from `running` decides who
//                   reports or collects the outcome; whoever sets `done`
//                   wakes the joiner's waiter, or reports an exception of a
//                   detached fiber.
//
// The writers of join_state, all here except task::detach's CAS, which is
// detail::detach() in <spindle/detail/fiber.hpp> (inline: spawn(...).detach()
// is the spawn path, guarded by `spindle-bench spawn`):
//   complete()               the fiber's end (fiber_switch.cpp), or a first run
//                            that found no stack
//   discard_unstarted()      ~runtime(), for a fiber that never started
//   wait_for_completion()    task::join: parks on a waiter, or runs the fiber
//                            inline; withdraws the waiter if its wait is
//                            cancelled (runtime shutdown, task::cancel)
// The outcome (`error`, the result, `sched.unwinding`) is written before
// `done` (release) and read by the joiner after it (acquire).
#pragma once

#include <spindle/detail/fiber.hpp>
#include <spindle/detail/waiter.hpp>

#include <atomic>
#include <cstdint>

namespace spindle::detail {

// A queue entry whose fiber a joiner already ran inline: only the queue's
// reference is left to drop. For an entry the caller holds (taken from a
// queue), sched.stack cannot change under it.
inline bool ran_inline(const fiber* f) noexcept {
  return !f->sched.stack && f->sched.started.load(std::memory_order_acquire);
}

// Before a fiber taken from a queue runs: false if a joiner already ran it
// inline (the queue's reference is then dropped and the fiber skipped).
// On every switch (inline; guarded by `spindle-bench yield`).
inline bool claim_start(fiber* f) noexcept {
  if (f->sched.stack || !f->sched.started.exchange(true, std::memory_order_acq_rel)) return true;
  f->release();
  return false;
}

// Sets `done` and wakes the joiner if one waits; returns the state replaced.
// With a joiner it passes through `waking` while it notifies: a joiner whose
// wait was cancelled at that moment finds its waiter taken and waits for
// `done` before its waiter goes (wait_for_completion). One CAS, as an
// exchange would cost, unless a joiner waits.
inline std::uintptr_t set_done(fiber& f) noexcept {
  std::uintptr_t prev = f.join_state.load(std::memory_order_acquire);
  bool joiner;
  do joiner = prev != join_running && prev != join_detached;
  while (!f.join_state.compare_exchange_weak(prev, joiner ? join_waking : join_done,
                                             std::memory_order_acq_rel, std::memory_order_acquire));
  if (joiner) {
    reinterpret_cast<waiter*>(prev)->notify();
    f.join_state.store(join_done, std::memory_order_release);
  }
  return prev;
}

// The fiber has finished (or failed before it ran): `done`, then the joiner is
// woken or a detached fiber's exception reported. Once per fiber, on its own
// stack or its worker's (inline: on the path of every fiber's end).
inline void complete(fiber& f) noexcept {
  if (set_done(f) == join_detached && f.error) report_detached_error(f);
}

// Shutdown, for a fiber that never started and never will: its body is
// destroyed without running, it completes with a std::logic_error and no
// result, and the queue's reference is dropped.
void discard_unstarted(fiber* f) noexcept;

}  // namespace spindle::detail
