// caller_id (api/spindle/detail/caller_id.hpp). A fiber is named by its id,
// which is unique for the life of the process (unlike its address, which a
// later fiber may reuse), made odd; a thread by the address of its own
// thread_local, which is even because the variable is aligned.
//
// On every lock and unlock (guarded by `spindle-bench mutex`): one call to the
// non-inlined current_worker(), the rest inline.
#include <spindle/detail/caller_id.hpp>
#include <spindle/detail/fiber.hpp>

#include "sched/context.hpp"
#include "sched/runtime_core.hpp"
#include "sched/worker.hpp"
#include "sync/spin.hpp"

namespace spindle::detail {

owner_id caller_id() noexcept {
  if (worker* w = current_worker()) {
    if (const fiber* f = w->current) return fiber_owner_id(running_on(*f).sched.id);
  }
  alignas(2) thread_local const char thread_tag = 0;
  return reinterpret_cast<owner_id>(&thread_tag);
}

bool owner_running(owner_id o) noexcept {
  if (o == handed_over) return false;  // to a waiter that has not run yet
  // A plain thread: the OS runs it. Or nobody: the holder is between its
  // unlock and its next lock, or a few instructions from saying who it is.
  if (!(o & 1)) return true;
  worker* self = current_worker();
  if (!self) return true;  // a thread spinning: it cannot see the workers
  return self->rt.runs(o);
}

}  // namespace spindle::detail
