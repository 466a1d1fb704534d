// The thread-local state behind sched/context.hpp.
#include "sched/context.hpp"

#include <spindle/detail/caller_id.hpp>
#include <stdexcept>
#include <string>

#include "sched/runtime_core.hpp"
#include "sched/worker.hpp"

namespace spindle::detail {
namespace {

// initial-exec: one %fs-relative load, not a __tls_get_addr call (the library
// is position-independent).
thread_local worker* tl_worker [[gnu::tls_model("initial-exec")]] = nullptr;

// The one way tl_worker is read: behind a compiler barrier, so that its
// address is never reused from before a switch. Each lookup below reads it
// itself instead of calling current_worker(): one call per lookup, not two
// (a park constructs a waiter, which asks for the current fiber; a spawn
// and an inline join ask for the runtime and the fiber).
[[gnu::always_inline]] inline worker* this_thread_worker() noexcept {
  asm volatile("" ::: "memory");
  return tl_worker;
}

}  // namespace

[[gnu::noinline]] worker* current_worker() noexcept {
  return this_thread_worker();
}

// caller_id (api/spindle/detail/caller_id.hpp; how ids are made:
// sync/caller_id.cpp) lives here to read tl_worker without a second call (it
// never suspends, so nothing is cached across a switch). Called on every
// mutex lock and unlock, inside the critical section for the unlock: one call
// instead of two took `spindle-bench mutex --workers 1` from 17.1 to 15.7 ms
// (interleaved, 11 runs).
owner_id caller_id() noexcept {
  if (worker* w = this_thread_worker()) {
    if (const fiber* f = w->current) return fiber_owner_id(running_on(*f).sched.id);
  }
  alignas(2) thread_local const char thread_tag = 0;
  return reinterpret_cast<owner_id>(&thread_tag);
}

void set_current_worker(worker* w) noexcept {
  asm volatile("" ::: "memory");
  tl_worker = w;
}

fiber* current_fiber() noexcept {
  worker* w = this_thread_worker();
  return w ? w->current : nullptr;
}

fiber* current_identity() noexcept {
  worker* w = this_thread_worker();
  fiber* f = w ? w->current : nullptr;
  return f ? &running_on(*f) : nullptr;
}

runtime_core* current_runtime() noexcept {
  worker* w = this_thread_worker();
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
