// caller_id (api/spindle/detail/caller_id.hpp). A fiber is named by its id,
// which is unique for the life of the process (unlike its address, which a
// later fiber may reuse), made odd; a thread by the address of its own
// thread_local, which is even because the variable is aligned.
#include <spindle/detail/caller_id.hpp>
#include <spindle/detail/fiber.hpp>

namespace spindle::detail {

owner_id caller_id() noexcept {
  if (const fiber* f = current_identity()) return static_cast<owner_id>(f->sched.id << 1) | 1;
  alignas(2) thread_local const char thread_tag = 0;
  return reinterpret_cast<owner_id>(&thread_tag);
}

}  // namespace spindle::detail
