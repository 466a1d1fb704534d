// this_fiber::set_name / name (observe.hpp). A name is written under the
// lock of the fiber's registry shard, which is where the dump reads it.
#include <spindle/observe.hpp>
#include <stdexcept>

#include "sched/context.hpp"
#include "sched/runtime_core.hpp"

namespace spindle::this_fiber {

void set_name(std::string_view name) {
  detail::fiber* f = detail::current_identity();
  if (!f) throw std::logic_error("spindle::this_fiber::set_name called outside a fiber");
  // Copied first (a long name allocates), so that the lock guards only the swap.
  detail::fiber_name copy;
  copy.assign(name);
  f->sched.rt->registry().with_lock_of(*f, [&] { f->name.swap(copy); });
}

std::string name() {
  const detail::fiber* f = detail::current_identity();
  if (!f) throw std::logic_error("spindle::this_fiber::name called outside a fiber");
  return std::string(f->name.view());
}

}  // namespace spindle::this_fiber
