// fiber_local storage (api/spindle/fiber_local.hpp): where a fiber's or a
// thread's instances live, and when they go.
#include <atomic>
#include <memory>
#include <spindle/detail/fiber.hpp>
#include <spindle/fiber_local.hpp>

namespace spindle::detail {

local_values::~local_values() {
  while (!slots_.empty()) {
    const slot s = slots_.back();
    slots_.pop_back();
    s.destroy(s.value);
  }
}

local_values& current_local_values() {
  if (fiber* f = current_identity()) {
    if (!f->locals) f->locals = new local_values;
    return *f->locals;
  }
  thread_local std::unique_ptr<local_values> thread_values;
  if (!thread_values) thread_values = std::make_unique<local_values>();
  return *thread_values;
}

std::uint64_t new_local_key() noexcept {
  static std::atomic<std::uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

void destroy_locals(fiber& f) noexcept {
  // Detached first: an instance's destructor that touches a fiber_local
  // makes a fresh table, destroyed here in the next round.
  while (local_values* values = f.locals) {
    f.locals = nullptr;
    delete values;
  }
}

}  // namespace spindle::detail
