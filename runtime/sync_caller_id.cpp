// caller_id (api/spindle/detail/caller_id.hpp). A fiber is named by its id,
// which is unique for the life of the process (unlike its address, which a
// later fiber may reuse), made odd; a thread by the address of its own
// thread_local, which is even because the variable is aligned.
//
// On every lock and unlock (guarded by `spindle-bench mutex`): one call to the
// non-inlined current_worker(), the rest inline.
#include <spindle/detail/caller_id.hpp>
#include <spindle/detail/fiber.hpp>

#include "worker.hpp"

namespace spindle::detail {

owner_id caller_id() noexcept {
  if (worker* w = current_worker()) {
    if (const fiber* f = w->current) {
      if (f->sched.inline_child) f = f->sched.inline_child;
      return static_cast<owner_id>(f->sched.id << 1) | 1;
    }
  }
  alignas(2) thread_local const char thread_tag = 0;
  return reinterpret_cast<owner_id>(&thread_tag);
}

}  // namespace spindle::detail
