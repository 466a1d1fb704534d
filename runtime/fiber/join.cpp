// The join protocol's cold half: joining (inline or parked), the join of an
// unwound fiber, and shutdown's discard. See join.hpp.
#include "fiber/join.hpp"

#include <exception>
#include <stdexcept>
#include <utility>

#include "fiber/stack_pool.hpp"
#include "observe/wait_recording.hpp"
#include "sched/context.hpp"
#include "sched/runtime_core.hpp"
#include "sched/worker.hpp"

namespace spindle::detail {
namespace {

// Runs a fiber that has not started yet on the joiner's own stack: no stack
// to take, no switch, no wake-up (help-first joining, as TBB and libfork do;
// it turns skynet and fib into depth-first work on each worker while idle
// workers steal the siblings). Only with half the joiner's stack still free.
bool try_run_inline(fiber& f) {
  // Only `started` may be read here: `sched.stack` is written by whichever
  // worker starts the fiber, concurrently with this join.
  worker* w = current_worker();  // until the child runs: it may migrate
  fiber* self = w ? w->current : nullptr;
  if (!self || f.sched.started.load(std::memory_order_acquire)) return false;
  auto* sp = static_cast<char*>(__builtin_frame_address(0));
  stack_block* s = self->sched.stack;
  const auto free_bytes = static_cast<std::size_t>(sp - s->bottom);
  if (free_bytes < s->size / 2 || free_bytes < f.stack_request) return false;
  if (f.sched.started.exchange(true, std::memory_order_acq_rel)) return false;
  // The child keeps its own identity (this_fiber::id, mutex ownership); the
  // joiner shows in the dump as waiting for it.
  fiber* joiner = &running_on(*self);
  // The joiner's parked_host is noted again by the child's parks if the
  // joiner's cancellation reaches them (not through a shield). Only a fiber
  // with cancel_links can have noted one.
  if (joiner->cancel_more) leave_host(*joiner);
  begin_wait_record(*w, *joiner, {wait_kind::join, &f, static_cast<std::int64_t>(f.sched.id)});
  trace_inline_run(*w, self, &f, after_switch_action::none);
  // The joiner's cancellation and deadlines reach the child's waits: the
  // join ends only when the child's run does (fiber.hpp, joined_by).
  f.sched.joined_by = joiner;
  struct identity_scope {
    fiber* self;
    fiber* outer;
    fiber* joiner;
    fiber* child;
    ~identity_scope() {
      if (child->cancel_more) leave_host(*child);  // before its joiner can go on and end
      child->sched.joined_by = nullptr;
      self->sched.inline_child = outer;
      worker& w = *current_worker();  // the child may have migrated
      trace_inline_run(w, child, self, after_switch_action::finish);
      end_wait_record(*joiner, wait_kind::join);
    }
  } scope{self, std::exchange(self->sched.inline_child, &f), joiner, &f};
  // Its end is counted for runtime::shutdown like any fiber's (live_fibers.hpp).
  struct count_end {
    fiber& f;
    ~count_end() { f.sched.rt->count_end(*current_worker()); }
  };
  try {
    count_end counted{f};
    f.run_body();
  } catch (const fiber_unwind&) {
    f.sched.unwinding = true;  // no result: a later join() of f must throw
    f.sched.rt->registry().remove(f);
    f.join_state.store(join_done, std::memory_order_release);
    throw;  // shutdown unwinds the joiner too: they share a stack
  } catch (...) {
    f.error = std::current_exception();
  }
  // The task handle is the only joiner and it is here: nobody else to wake.
  f.sched.rt->registry().remove(f);
  f.join_state.store(join_done, std::memory_order_release);
  return true;
}

}  // namespace

void wait_for_completion(fiber& f) {
  if (f.join_state.load(std::memory_order_acquire) == join_done) return;
  if (try_run_inline(f)) return;
  waiter w;
  std::uintptr_t expected = join_running;
  if (!f.join_state.compare_exchange_strong(expected, reinterpret_cast<std::uintptr_t>(&w),
                                            std::memory_order_acq_rel)) {
    return;  // finished meanwhile
  }
  w.park({wait_kind::join, &f, static_cast<std::int64_t>(f.sched.id)}, no_deadline, [&] {
    // Cancelled: withdraw the waiter, unless the fiber's end took it already;
    // then its notify (which fails: the waiter is claimed) is under way, and
    // the waiter must live until it is over (set_done).
    expected = reinterpret_cast<std::uintptr_t>(&w);
    if (f.join_state.compare_exchange_strong(expected, join_running, std::memory_order_acq_rel))
      return;
    while (f.join_state.load(std::memory_order_acquire) == join_waking) cpu_relax();
  });
}

void throw_unwound_join(fiber& f) {
  // A fiber of a runtime that is shutting down is unwound at its next wait;
  // a join that cannot produce a result is such a wait (and a logic_error
  // escaping a detached fiber there would be reported as if it were a bug).
  worker* w = current_worker();
  if (w && w->current && w->rt.stopping() && !w->current->sched.unwinding) {
    w->current->sched.unwinding = true;
    throw fiber_unwind{};
  }
  // Discarded unstarted: its own logic_error ("... before this fiber started").
  if (f.error) std::rethrow_exception(std::exchange(f.error, nullptr));
  throw std::logic_error(
      "spindle::task::join: the runtime was destroyed while this fiber was suspended (it was "
      "unwound and has no result)");
}

void discard_unstarted(fiber* f) noexcept {
  f->sched.unwinding = true;  // no result (task::join)
  f->discard_body();          // its captures go now, not with the task handle
  f->error = std::make_exception_ptr(
      std::logic_error("spindle: the runtime was destroyed before this fiber started"));
  f->sched.rt->registry().remove(*f);
  set_done(*f);  // a detached fiber's discard is not reported: it is no error of the fiber
  f->release();
}

}  // namespace spindle::detail
