// The public entry points of <spindle/runtime.hpp>, <spindle/task.hpp> and
// <spindle/this_fiber.hpp>, on top of runtime_core.
#include <spindle/runtime.hpp>
#include <spindle/this_fiber.hpp>

#include "fiber_switch.hpp"
#include "runtime_core.hpp"
#include "stack_pool.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <typeinfo>
#include <utility>

namespace spindle {

runtime::runtime() : runtime(options{}) {}

runtime::runtime(options opts) : core_(new detail::runtime_core(opts)) {}

runtime::~runtime() {
  detail::worker* w = detail::current_worker();
  if (w && &w->rt == core_) {
    std::fputs("spindle: a runtime was destroyed by one of its own fibers\n", stderr);
    std::abort();
  }
  delete core_;
}

std::size_t runtime::workers() const noexcept { return core_->workers.size(); }

void runtime::check_block_on_allowed() {
  if (detail::current_fiber())
    throw std::logic_error("spindle::runtime::block_on called inside a fiber (it would block a worker thread)");
}

bool in_fiber() noexcept { return detail::current_fiber() != nullptr; }

namespace detail {

fiber* current_fiber() noexcept {
  worker* w = current_worker();
  return w ? w->current : nullptr;
}

fiber* current_identity() noexcept {
  fiber* f = current_fiber();
  return f && f->sched.inline_child ? f->sched.inline_child : f;
}

runtime_core* current_runtime() noexcept {
  worker* w = current_worker();
  return w && w->current ? &w->rt : nullptr;
}

runtime_core& current_runtime_or_throw(const char* what) {
  if (runtime_core* rt = current_runtime()) return *rt;
  throw std::logic_error(std::string(what) + " called outside a fiber");
}

// Spawn: one allocation (the fiber, made by the caller) and one queue push.
// Guarded by `spindle-bench spawn` and `skynet`.
void submit_new(runtime_core& rt, fiber* f) {
  f->sched.rt = &rt;
  worker* w = current_worker();
  if (w && &w->rt == &rt) {
    if (w->next_id == w->id_limit) {
      constexpr std::uint64_t block = 1024;
      w->next_id = rt.reserve_ids(block);
      w->id_limit = w->next_id + block;
    }
    f->sched.id = w->next_id++;
  } else {
    f->sched.id = rt.reserve_ids(1);
  }
  rt.submit(f, false);
}

namespace {

// Runs a fiber that has not started yet on the joiner's own stack: no stack
// to take, no switch, no wake-up (help-first joining, as TBB and libfork do;
// it turns skynet and fib into depth-first work on each worker while idle
// workers steal the siblings). Only with half the joiner's stack still free.
bool try_run_inline(fiber& f) {
  // Only `started` may be read here: `sched.stack` is written by whichever
  // worker starts the fiber, concurrently with this join.
  fiber* self = current_fiber();
  if (!self || f.sched.started.load(std::memory_order_acquire)) return false;
  auto* sp = static_cast<char*>(__builtin_frame_address(0));
  stack_block* s = self->sched.stack;
  if (static_cast<std::size_t>(sp - s->bottom) < s->size / 2) return false;
  if (f.sched.started.exchange(true, std::memory_order_acq_rel)) return false;
  // The child keeps its own identity (this_fiber::id, mutex ownership).
  struct identity_scope {
    fiber* self;
    fiber* outer;
    ~identity_scope() { self->sched.inline_child = outer; }
  } scope{self, std::exchange(self->sched.inline_child, &f)};
  try {
    f.run_body();
  } catch (const fiber_unwind&) {
    f.join_state.store(join_done, std::memory_order_release);
    throw;  // shutdown unwinds the joiner too: they share a stack
  } catch (...) {
    f.error = std::current_exception();
  }
  // The task handle is the only joiner and it is here: nobody else to wake.
  f.join_state.store(join_done, std::memory_order_release);
  return true;
}

}  // namespace

void wait_for_completion(fiber& f) {
  if (f.join_state.load(std::memory_order_acquire) == join_done) return;
  if (try_run_inline(f)) return;
  waiter w;
  std::uintptr_t expected = join_running;
  if (!f.join_state.compare_exchange_strong(expected, reinterpret_cast<std::uintptr_t>(&w),
                                            std::memory_order_acq_rel)) {
    return;  // finished meanwhile
  }
  wake r = w.wait();
  if (r == wake::cancelled) {
    // Shutdown runs fibers one at a time on one thread, so the joined fiber
    // is not inside complete() now: withdrawing the waiter is race-free.
    expected = reinterpret_cast<std::uintptr_t>(&w);
    f.join_state.compare_exchange_strong(expected, join_running, std::memory_order_acq_rel);
    waiter::rethrow_if_cancelled(r);
  }
}

void report_detached_error(fiber& f) noexcept {
  std::string what = "unknown exception";
  try {
    std::rethrow_exception(f.error);
  } catch (const std::exception& e) {
    what = std::string(typeid(e).name()) + ": " + e.what();
  } catch (...) {
  }
  std::fprintf(stderr, "spindle: detached fiber %llu terminated by an exception: %s\n",
               static_cast<unsigned long long>(f.sched.id), what.c_str());
}

void run_on_blocking_pool(runtime_core& rt, blocking_job& job) {
  waiter w;
  job.done = &w;
  rt.blocking.submit(job);
  w.wait_uncancellable();
}

}  // namespace detail

namespace this_fiber {

void sleep_until(detail::clock::time_point deadline) {
  if (!detail::current_fiber()) throw std::logic_error("spindle::this_fiber::sleep_until called outside a fiber");
  detail::waiter w;
  detail::waiter::rethrow_if_cancelled(w.wait_until(deadline));
}

std::uint64_t id() {
  detail::fiber* f = detail::current_identity();
  if (!f) throw std::logic_error("spindle::this_fiber::id called outside a fiber");
  return f->sched.id;
}

}  // namespace this_fiber
}  // namespace spindle
