// The public entry points of <spindle/runtime.hpp>, <spindle/task.hpp> and
// <spindle/this_fiber.hpp>, on top of runtime_core.
#include <spindle/runtime.hpp>
#include <spindle/this_fiber.hpp>

#include "fiber/fiber_switch.hpp"
#include "sched/context.hpp"
#include "sched/runtime_core.hpp"
#include "fiber/stack_pool.hpp"

#include <cxxabi.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
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
    f.sched.unwinding = true;  // no result: a later join() of f must throw
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

void throw_unwound_join(fiber& f) {
  // A fiber of a runtime that is shutting down is unwound at its next wait;
  // a join that cannot produce a result is such a wait (and a logic_error
  // escaping a detached fiber there would be reported as if it were a bug).
  worker* w = current_worker();
  if (w && w->current && w->rt.stopping() && !w->current->sched.unwinding) {
    w->current->sched.unwinding = true;
    throw fiber_unwind{};
  }
  // Discarded unstarted: its own logic_error ("... before this fiber started").
  if (f.error) std::rethrow_exception(std::exchange(f.error, nullptr));
  throw std::logic_error(
      "spindle::task::join: the runtime was destroyed while this fiber was suspended (it was "
      "unwound and has no result)");
}

namespace {

// A type's name as the source spells it (`std::runtime_error`, not
// `St13runtime_error`); the mangled name if it cannot be demangled.
std::string readable_type_name(const std::type_info& type) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> name(
      abi::__cxa_demangle(type.name(), nullptr, nullptr, &status), std::free);
  return status == 0 && name ? std::string(name.get()) : std::string(type.name());
}

}  // namespace

void report_detached_error(fiber& f) noexcept {
  std::string what = "unknown exception";
  try {
    std::rethrow_exception(f.error);
  } catch (const std::exception& e) {
    const char* message = e.what();  // a broken override may return null
    what = readable_type_name(typeid(e)) + ": " + (message ? message : "(what() returned null)");
  } catch (...) {
    if (const std::type_info* type = abi::__cxa_current_exception_type())
      what = "exception of type " + readable_type_name(*type);
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
