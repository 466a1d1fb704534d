// owner_running, the spin-or-park hint of spindle::mutex (sync/spin.hpp).
// caller_id itself is in sched/context.cpp, beside the thread-local it reads:
// a fiber is named by its id, which is unique for the life of the process
// (unlike its address, which a later fiber may reuse), made odd; a thread by
// the address of its own thread_local, which is even because the variable is
// aligned.
#include <spindle/detail/caller_id.hpp>
#include <spindle/detail/fiber.hpp>

#include "sched/context.hpp"
#include "sched/runtime_core.hpp"
#include "sched/worker.hpp"
#include "sync/spin.hpp"

namespace spindle::detail {

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
