#include "sched/runtime_core.hpp"

#include <algorithm>
#include <cstdio>
#include <spindle/runtime.hpp>
#include <stdexcept>
#include <string>
#include <thread>

#include "fiber/fiber_switch.hpp"
#include "fiber/join.hpp"
#include "fiber/sanitizers.hpp"
#include "fiber/stack_overflow.hpp"
#include "io/io_backend.hpp"
#include "io/uring/io_ring.hpp"
#include "observe/dump_on_signal.hpp"
#include "observe/stall_monitor.hpp"
#include "sched/context.hpp"
#include "sched/cpu_quota.hpp"

namespace spindle::detail {
namespace {

constexpr std::size_t default_stack_size = std::size_t{64} << 10;

std::size_t pick_workers(std::size_t requested) {
  if (requested) return requested;
  return available_cpus();
}

std::size_t pick_stack_size(std::size_t requested) {
  if (requested > stack_pool::max_stack_size)
    throw std::invalid_argument("spindle::options::stack_size: " + std::to_string(requested) +
                                " bytes is more than the maximum of " +
                                std::to_string(stack_pool::max_stack_size) + " (1 GiB)");
  if (requested) return requested;
  // Sanitizers grow frames (redzones, shadow bookkeeping) several times over.
  return sanitized ? 4 * default_stack_size : default_stack_size;
}

}  // namespace

runtime_core::runtime_core(const options& opts)
    : on_worker_start_(opts.on_worker_start),
      on_worker_stop_(opts.on_worker_stop),
      stacks_(pick_stack_size(opts.stack_size), opts.stack_guard),
      stack_guard_(opts.stack_guard),
      reactor_(detail::reactor::create()),
      idle_(static_cast<std::uint32_t>(pick_workers(opts.workers))),
      registry_(pick_workers(opts.workers)),
      blocking_(opts.blocking_threads),
      live_(pick_workers(opts.workers) + 1) {  // + the stall monitor's spare (index = workers)
  const std::size_t n = pick_workers(opts.workers);
  workers_.reserve(n);
  for (std::size_t i = 0; i < n; ++i)
    workers_.push_back(std::make_unique<worker>(*this, static_cast<std::uint32_t>(i)));
  try {
    io_ = start_rings(pick_io_backend(opts.io), opts.io, workers_, reactor_->descriptor());
    if (opts.stall_threshold.count() > 0)
      monitor_ = std::make_unique<stall_monitor>(*this, opts.stall_threshold, opts.on_stall);
    for (auto& w : workers_) w->start();
    if (opts.dump_signal)
      dump_on_signal_ = std::make_unique<dump_on_signal>(*this, opts.dump_signal);
  } catch (...) {
    // A worker thread could not be created (thread limit: std::system_error,
    // EAGAIN). No destructor runs for a constructor that throws, so stop and
    // join the workers already running (no fiber exists yet, so they only
    // leave their scheduler loops) and let the members free the rest.
    shut_down();
    throw;
  }
}

stack_pool& runtime_core::stacks_for(std::size_t bytes) {
  if (bytes <= stacks_.stack_size()) return stacks_;
  if (bytes > stack_pool::max_stack_size)
    throw std::invalid_argument("spindle::fiber_options::stack_size: " + std::to_string(bytes) +
                                " bytes is more than the maximum of " +
                                std::to_string(stack_pool::max_stack_size) + " (1 GiB)");
  std::size_t size = stacks_.stack_size();
  while (size < bytes) size *= 2;
  std::lock_guard<annotated_mutex> g(sized_stacks_lock_);
  for (auto& p : sized_stacks_)
    if (p->stack_size() >= size) return *p;
  sized_stacks_.push_back(std::make_unique<stack_pool>(size, stack_guard_));
  return *sized_stacks_.back();
}

void runtime_core::submit(fiber* f, bool woken) noexcept {
  worker* w = current_worker();
  if (w && &w->rt == this && !stopping()) {
    // runtime::start_trace. While the worker polls, the reactor is the waker.
    if (trace_buffer* tb = w->trace.load(std::memory_order_acquire)) [[unlikely]]
      if (woken) tb->record_wake(w->polling ? nullptr : w->current, f);
    if (w->polling) {
      w->push_local(f, false);
      w->polled_work = true;  // the poller tells the others once, afterwards
      return;
    }
    if (w->push_local(f, woken)) notify_work();
    return;
  }
  global_.push(f);
  notify_work();
}

void runtime_core::notify_work() noexcept {
  int i = idle_.worker_to_notify();
  if (i >= 0) workers_[static_cast<std::size_t>(i)]->unpark();
}

// Shutdown, in order:
//  1. `stopping` is set and every worker woken; each returns to its scheduler
//     loop at the running fiber's next switch, and exits (stop_workers).
//  2. The calling thread adopts worker 0 (its queues, its stack cache) and
//     becomes the only thread that runs fibers (with an alternate signal
//     stack, so that a stack overflow is still reported by name).
//     Operations left in the io_uring rings are cancelled and reaped, which
//     wakes their fibers (io_ring::drain).
//  3. Fibers that never started are destroyed without running; their joiners
//     get an exception (run_all_runnable). Every suspended fiber is then
//     cancelled, newest first (children before the parents that usually own
//     what they wait on): its wait returns `cancelled`, it unlinks itself and
//     fiber_unwind unwinds its stack, so destructors run. Fibers they wake run
//     to their next suspension, where they unwind too (waits return
//     `cancelled` once the runtime stops) (cancel_suspended).
//  4. run_blocking calls in progress are waited for (their fibers were
//     unwound in step 3; the jobs are shared with the pool, blocking_job.hpp);
//     the blocking pool's threads exit.
//  5. Members go in reverse order: reactor, timers, stacks (all unmapped).
runtime_core::~runtime_core() {
  trace_.stop_at_exit(*this);  // the trace shows the program, not its teardown
  shut_down();
}

void runtime_core::shut_down() {
  if (closed()) return;  // runtime::shutdown() did it already
  if (monitor_) monitor_->stop();
  dump_on_signal_.reset();
  stop_workers();

  worker& host = *workers_.front();
  worker* outer = current_worker();
  set_current_worker(&host);
  bind_scheduler_context(host.sched_san);
  stack_overflow_guard overflow_report;  // this thread now runs fibers: an alternate signal stack

  // Operations still in the rings (their owners' exit cancelled those they
  // submitted) end, so their fibers wake and unwind like the rest.
  for (auto& w : workers_)
    if (w->ring) w->ring->drain();
  run_all_runnable(host);  // unstarted fibers are discarded, started ones resume and unwind
  cancel_suspended(host);
  blocking_.stop();  // waits for calls in progress (their fibers no longer wait for them)
  run_all_runnable(host);
  report_stuck_fibers();
  for (auto& w : workers_) {
    w->flush_remote_ends();  // fibers the host ended for them
    stacks_.drain(w->stacks);
  }
  reactor_->orphan();  // sockets may keep it alive (socket_fd); nobody polls it now
  set_current_worker(outer);
  closed_.store(true, std::memory_order_release);
}

void runtime_core::stop_workers() {
  stopping_.store(true, std::memory_order_seq_cst);
  for (auto& w : workers_) w->stopping.store(true, std::memory_order_seq_cst);
  for (auto& w : workers_) w->unpark();
  reactor_->wake();
  for (auto& w : workers_) w->join();
}

// Runs everything runnable on `host` until nothing is.
void runtime_core::run_all_runnable(worker& host) {
  for (;;) {
    fiber* f = nullptr;
    for (auto& w : workers_) {
      if ((f = w->runnext.exchange(nullptr)) || (f = w->local.pop())) break;
    }
    if (!f && !global_.try_pop(f)) return;
    if (!f->sched.stack) {
      if (claim_start(f)) discard_unstarted(f);  // else: a joiner ran it inline
      continue;
    }
    resume_from_scheduler(host, f);
  }
}

void runtime_core::cancel_suspended(worker& host) {
  std::vector<fiber*> parked;
  for_each_stack_pool([&](stack_pool& p) {
    p.for_each_in_use([&](stack_block& s) { parked.push_back(s.owner); });
  });
  std::sort(parked.begin(), parked.end(), [](fiber* a, fiber* b) { return a->sched.id > b->sched.id; });
  // A fiber cancelled here may finish and free other fibers of the list: hold
  // a reference to each until the pass is over.
  for (fiber* f : parked) f->refs.fetch_add(1, std::memory_order_relaxed);
  for (fiber* f : parked) {
    waiter* w = f->sched.stack ? f->sched.stack->blocked_on : nullptr;
    if (w && !f->sched.unwinding && w->try_claim(wake::cancelled)) w->unpark();
    run_all_runnable(host);
  }
  for (fiber* f : parked) f->release();
}

void runtime_core::report_stuck_fibers() {
  std::size_t stuck = 0;
  for_each_stack_pool([&](stack_pool& p) { p.for_each_in_use([&](stack_block&) { ++stuck; }); });
  if (stuck)
    std::fprintf(stderr,
                 "spindle: %zu fiber(s) stayed blocked while the runtime shut down (their stacks "
                 "are leaked)\n",
                 stuck);
}

}  // namespace spindle::detail
