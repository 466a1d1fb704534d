// fiber_switch.cpp: the cold half of the switch machinery (first run, fiber
// entry and exit). See fiber_switch.hpp.
#include "fiber/fiber_switch.hpp"

#include "fiber/join.hpp"

#include <cstdio>
#include <exception>

namespace spindle::detail {
namespace switch_detail {

// Cold: once per fiber, on its first run; the stack comes from the worker's
// cache (no lock, no system call) unless the pool must map a new slab. The
// try block costs nothing unless something is thrown.
bool prepare_first_run(worker& w, fiber* f) noexcept {
  stack_block* s;
  try {
    s = f->stack_request == 0 ? w.rt.stacks().acquire(w.stacks)
                              : w.rt.stacks_for(f->stack_request).acquire_shared();
  } catch (...) {
    f->error = std::current_exception();
    w.rt.registry().remove(*f);
    complete(*f);
    w.rt.count_end(w);
    f->release();  // the run's reference; the fiber never ran, so no stack to give back
    return false;
  }
  s->owner = f;
  s->san.tsan_fiber = tsan_create_fiber();
  f->sched.stack = s;
  f->sched.context = ctx::make_fcontext(s->top(), s->size, fiber_entry);
  return true;
}

void fiber_entry(ctx::transfer_t t) {
  land(t);
  fiber* self = static_cast<worker*>(t.data)->current;
  try {
    self->run_body();
  } catch (const fiber_unwind&) {
    // Runtime shutdown unwound the stack; nothing to report, no result (the
    // flag is already set by whoever threw, except a fiber_unwind of the
    // fiber's own making).
    self->sched.unwinding = true;
  } catch (...) {
    self->error = std::current_exception();
  }
  // The fiber may have migrated: the worker is re-read, never cached. It
  // leaves the registry and the count before its joiner can see it end.
  worker& w = *current_worker();
  w.unregister_at_end(*self);
  w.rt.count_end(w);
  complete(*self);
  switch_away(w, self, after_switch_action::finish);
  std::fputs("spindle: a finished fiber was resumed\n", stderr);
  std::abort();
}

}  // namespace switch_detail

using namespace switch_detail;

// Scheduler loop -> fiber; a fiber that cannot get a stack fails without a switch.
void resume_from_scheduler(worker& w, fiber* f) {
  if (!f->sched.stack && !prepare_first_run(w, f)) return;
  jump(w, nullptr, f, after_switch_action::none);
}

}  // namespace spindle::detail
