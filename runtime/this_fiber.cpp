// The body of <spindle/this_fiber.hpp>: what a fiber asks about or does to
// itself.
#include <spindle/this_fiber.hpp>

#include "fiber/fiber_switch.hpp"
#include "sched/context.hpp"

#include <spindle/detail/waiter.hpp>

#include <stdexcept>

namespace spindle::this_fiber {

// Guarded by `spindle-bench yield` (target < 15 ns): one ring pop, one push,
// one jump; everything between jump_fcontext and the caller is inline.
void yield() {
  using namespace detail;
  using namespace detail::switch_detail;
  worker* w = current_worker();
  if (!w || !w->current) [[unlikely]]
    throw std::logic_error("spindle::this_fiber::yield called outside a fiber");
  fiber* self = w->current;
  worker& now = switch_away(*w, self, after_switch_action::requeue);
  if (now.stopping.load(std::memory_order_relaxed) && !self->sched.unwinding) [[unlikely]] {
    self->sched.unwinding = true;
    throw fiber_unwind{};
  }
}

void sleep_until(detail::clock::time_point deadline) {
  if (!detail::current_fiber()) throw std::logic_error("spindle::this_fiber::sleep_until called outside a fiber");
  detail::waiter w;
  w.park({detail::wait_kind::sleep, nullptr, deadline.time_since_epoch().count()}, deadline);
}

std::uint64_t id() {
  detail::fiber* f = detail::current_identity();
  if (!f) throw std::logic_error("spindle::this_fiber::id called outside a fiber");
  return f->sched.id;
}

}  // namespace spindle::this_fiber
