// The public entry points of <spindle/runtime.hpp> and <spindle/task.hpp>, on
// top of runtime_core (the join protocol itself: fiber/join.cpp).
#include <cxxabi.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <spindle/cancel.hpp>
#include <spindle/cancelled.hpp>
#include <spindle/runtime.hpp>
#include <string>
#include <typeinfo>
#include <utility>

#include "report.hpp"
#include "sched/context.hpp"
#include "sched/coop_budget.hpp"
#include "sched/runtime_core.hpp"
#include "sched/worker.hpp"

namespace spindle {

runtime::runtime() : runtime(options{}) {}

runtime::runtime(options opts) : core_(new detail::runtime_core(opts)) {}

runtime::~runtime() {
  detail::worker* w = detail::current_worker();
  if (w && &w->rt == core_) {
    std::fputs("spindle: a runtime was destroyed by one of its own fibers\n", stderr);
    std::abort();
  }
  delete core_;  // after shutdown(): only the members go (shut_down is idempotent)
}

void runtime::shutdown(std::chrono::nanoseconds grace) {
  detail::worker* w = detail::current_worker();
  if (w && &w->rt == core_)
    throw std::logic_error(
        "spindle::runtime::shutdown called in a fiber of that runtime (it would wait for itself)");
  if (core_->in_blocking_call())
    throw std::logic_error(
        "spindle::runtime::shutdown called in a run_blocking call of that runtime (it would wait "
        "for itself)");
  core_->shutdown(std::chrono::duration_cast<detail::clock::duration>(grace));
}

std::size_t runtime::workers() const noexcept {
  return core_->worker_count();
}

io_backend runtime::io() const noexcept {
  return core_->io();
}

void runtime::check_block_on_allowed() {
  if (detail::current_fiber())
    throw std::logic_error("spindle::runtime::block_on called inside a fiber (it would block a worker thread)");
}

bool in_fiber() noexcept { return detail::current_fiber() != nullptr; }

namespace detail {

// Spawn: one allocation (the fiber, made by the caller), the cooperative
// budget's check and one queue push.
// Guarded by `spindle-bench spawn` and `skynet`.
void submit_new(runtime_core& rt, fiber* f) {
  worker* w = current_worker();
  const bool own = w && &w->rt == &rt;  // a worker of rt (a fiber never leaves its runtime)
  // A fiber spawning onto its own runtime spends its cooperative budget: a
  // spawn loop whose fibers pile up lets them run before it goes on, so the
  // queues stay bounded (sched/coop_budget.hpp). Before anything is published.
  if (own && w->current) {
    try {
      w = &spend_spawn_budget(*w);
    } catch (...) {
      delete f;  // the runtime is ending (fiber_unwind): the spawn never happened
      throw;
    }
  }
  // On the line submit() reads (stopping): no extra miss. A spawn racing with
  // the end of shutdown() is the caller's race, as one racing with ~runtime().
  if (rt.closed()) [[unlikely]] {
    delete f;  // the callable with it; the task handle is never made
    throw std::logic_error("spindle::spawn: the runtime was shut down (runtime::shutdown)");
  }
  f->sched.rt = &rt;
  if (own) {
    if (w->next_id == w->id_limit) {
      constexpr std::uint64_t block = 1024;
      w->next_id = rt.reserve_ids(block);
      w->id_limit = w->next_id + block;
    }
    f->sched.id = w->next_id++;
    rt.count_spawn(w);
  } else {
    f->sched.id = rt.reserve_ids(1);
    rt.count_spawn(nullptr);
  }
  // Registered before it is published: it may run and end at once.
  rt.registry().add(*f, own ? w->index : fiber_registry::from_thread);
  rt.submit(f, false);
}

void submit_new(runtime_core& rt, fiber* f, const fiber_options& o) {
  try {
    if (o.stack_size) {
      rt.stacks_for(o.stack_size);  // validates the size (and makes its pool now, not at first run)
      f->stack_request = static_cast<std::uint32_t>(o.stack_size);
    }
    f->name.assign(o.name);
  } catch (...) {
    f->discard_body();
    delete f;
    throw;
  }
  submit_new(rt, f);
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

std::string describe_exception(std::exception_ptr e) noexcept {
  std::string what = "unknown exception";
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    const char* message = x.what();  // a broken override may return null
    what = readable_type_name(typeid(x));
    what.append(": ").append(message ? message : "(what() returned null)");
  } catch (...) {
    if (const std::type_info* type = abi::__cxa_current_exception_type())
      what = "exception of type " + readable_type_name(*type);
  }
  return what;
}

std::string quoted_name(std::string_view name) {
  std::string out;
  out.reserve(name.size() + 2);
  out += '"';
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      static constexpr char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 15];
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

namespace {

bool is_cancellation(const std::exception_ptr& e) noexcept {
  try {
    std::rethrow_exception(e);
  } catch (const spindle::cancelled&) {
    return true;
  } catch (...) {
  }
  return false;
}

}  // namespace

// "spindle: detached fiber 12 "conn 42" terminated by an exception: ...". The
// name is read without the registry's lock: the fiber has ended, so nothing
// writes it any more.
void report_detached_error(fiber& f) noexcept {
  // runtime::shutdown cancelled it: how a detached fiber is expected to end
  // then, not an error worth a line per fiber.
  if (f.sched.rt->cancelling_all() && is_cancellation(f.error)) return;
  std::string name;
  if (!f.name.empty()) name.append(" ").append(quoted_name(f.name.view()));  // (append: GCC 12's -Wrestrict misfires on operator+)
  std::fprintf(stderr, "spindle: detached fiber %llu%s terminated by an exception: %s\n",
               static_cast<unsigned long long>(f.sched.id), name.c_str(),
               describe_exception(f.error).c_str());
}

void run_on_blocking_pool(runtime_core& rt, blocking_job& job) {
  try {
    // Already cancelled (or out of time): the call is not started, as its
    // result would only be dropped.
    this_fiber::throw_if_cancelled();
    rt.submit_blocking(job);
  } catch (...) {
    job.release();  // never queued: the pool's reference goes (the callable with the job)
    throw;
  }
  job.done.park({wait_kind::blocking_call, &job});
}

}  // namespace detail
}  // namespace spindle
