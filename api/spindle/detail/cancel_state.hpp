// cancel_state: what a fiber knows about its own cancellation.
//
// A request (task::cancel, a task_group's cancel, runtime::shutdown) is
// sticky: `requested` goes false -> true once and stays. The park door
// (waiter::park, runtime/wait/waiter.cpp) reads it before every cancellable
// wait, and the canceller wakes a fiber that is already in one, without a
// lock: a cancellable wait parks as `parked_cancellable`, and the canceller
// takes the fiber's park word from there to `cancel_woken`, or from
// `running` to `cancel_pending`, with one CAS; the worker that parks the
// fiber (land(), runtime/fiber/fiber_switch.hpp) does so with a CAS from
// `running` and runs it again if it finds `cancel_pending`:
//
//   canceller                            parking fiber
//   requested.store(true)   [seq_cst]    if (requested.load()) throw  [seq_cst]
//   CAS park: parked -> cancel_woken     switch away; land():
//          or running -> cancel_pending    CAS park: running -> parked
//                                          (fails on cancel_pending: run again)
//
// The two CASes on one word are ordered: either the canceller finds the
// fiber parked, or land() finds the pending request, so a request that races
// with a park is never lost. The woken fiber finds its waiter still pending, claims it
// itself as `interrupted`, leaves its queue and throws spindle::cancelled; a
// notifier that claimed the waiter first wins instead (its value is taken, its
// unpark absorbed), so nothing handed over is ever dropped.
//
// Deadline scopes (with_timeout / with_deadline) need no cross-thread state:
// a fiber's innermost cancel_scope holds the earliest enclosing deadline, and
// every cancellable wait parks until the earlier of its own deadline and that.
//
// Ownership: `requested` is written by any thread; every other field belongs
// to the running fiber (the identity that runs: an inline-joined child has its
// own), except cancel_links' `groups`, guarded by `lock`, and `parked_host`
// (see there).
#pragma once

#include <atomic>
#include <cstdint>
#include <spindle/detail/clock.hpp>
#include <spindle/detail/spinlock.hpp>

namespace spindle::detail {

class fiber;
struct group_link;

// One with_timeout/with_deadline (or a task_group child's inherited deadline)
// on the running fiber's stack; `deadline` is already the earliest of its own
// and every enclosing scope's.
struct cancel_scope {
  clock::time_point deadline = no_deadline;
  clock::time_point own = no_deadline;
  cancel_scope* outer = nullptr;
};

// Four bytes, so it fits beside fiber::refs: a fiber's control block stays in
// the allocator's 128-byte class (spawn touches two cache lines).
struct cancel_state {
  std::atomic<bool> requested{false};
  spinlock lock;
  // Waits inside a shield ignore `requested` and scope deadlines.
  std::uint16_t shield_depth = 0;
};

// What only some fibers need; allocated (under cancel_state::lock) by the
// fiber itself the first time it enters a deadline scope, creates a
// task_group or parks while run inline, and freed with the fiber.
struct cancel_links {
  cancel_scope* scopes = nullptr;  // innermost scope, or null; the fiber's own
  // task_groups created by this fiber: a request cancels their children too.
  group_link* groups = nullptr;  // guarded by cancel_state::lock
  // While this fiber runs inline on another fiber's stack (join() ran it
  // before it started), once a park on that stack was reached by its
  // cancellation (its own park, or, for a joiner, the park of a fiber it
  // runs inline): the stack's owner, whose park word holds those parks. The
  // canceller reads it and wakes that owner under cancel_state::lock.
  // Written only on that stack: by the door at each cancellable park (a
  // relaxed compare after the first: nothing per park, `spindle-bench
  // pingpong`), cleared when this fiber ends there or starts a join that
  // runs another inline (detail::leave_host; the door notes it again if the
  // child's parks reach it), after which the clearer passes through the lock
  // once, so no canceller still holds the old owner. The owner is alive in
  // between: it is inside join() on the same stack. A wake that finds no
  // cancellable park changes nothing; one that wakes a park this fiber's
  // request does not reach is undone by the door (waiter.cpp,
  // after_cancel_wake).
  std::atomic<fiber*> parked_host{nullptr};
};

// Links a task_group into the list of its owner's groups.
struct group_link {
  group_link* next = nullptr;
  group_link* prev = nullptr;
  // cancel(group) cancels every child of the group (runtime/cancel/task_group.cpp).
  void (*cancel)(void* group) noexcept = nullptr;
  void* group = nullptr;
};

// f's cancel_links, allocated on first use (runtime/cancel/cancel.cpp). Only
// by the fiber f itself.
cancel_links& links_of(fiber& f);

// The inline-run end of cancel_links::parked_host: `f` (the running
// identity) stops running as the innermost fiber on its joiner's stack. Only
// by f itself; free unless f parked there.
void leave_host(fiber& f) noexcept;

// Requests the cancellation of `f` and of the children of every task_group it
// owns; wakes it if it is parked in a cancellable wait. Any thread; f must be
// alive (the caller holds a reference).
void request_cancel(fiber& f) noexcept;

}  // namespace spindle::detail
