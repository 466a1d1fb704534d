// The thread-local state behind sched/context.hpp.
#include "sched/context.hpp"

#include "sched/runtime_core.hpp"
#include "sched/worker.hpp"

#include <stdexcept>
#include <string>

namespace spindle::detail {
namespace {

// initial-exec: one %fs-relative load, not a __tls_get_addr call (the library
// is position-independent).
thread_local worker* tl_worker [[gnu::tls_model("initial-exec")]] = nullptr;

}  // namespace

[[gnu::noinline]] worker* current_worker() noexcept {
  asm volatile("" ::: "memory");
  return tl_worker;
}

void set_current_worker(worker* w) noexcept {
  asm volatile("" ::: "memory");
  tl_worker = w;
}

fiber* current_fiber() noexcept {
  worker* w = current_worker();
  return w ? w->current : nullptr;
}

fiber* current_identity() noexcept {
  fiber* f = current_fiber();
  return f ? &running_on(*f) : nullptr;
}

runtime_core* current_runtime() noexcept {
  worker* w = current_worker();
  return w && w->current ? &w->rt : nullptr;
}

runtime_core& current_runtime_or_throw(const char* what) {
  if (runtime_core* rt = current_runtime()) return *rt;
  throw std::logic_error(std::string(what) + " called outside a fiber");
}

const std::shared_ptr<reactor>& current_reactor_or_throw(const char* what) {
  return current_runtime_or_throw(what).reactor();
}

}  // namespace spindle::detail
