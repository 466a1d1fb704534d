#include "sched/worker.hpp"

#include <pthread.h>

#include <cstdio>
#include <exception>
#include <functional>
#include <string>
#include <utility>

#include "fiber/fiber_switch.hpp"
#include "fiber/stack_overflow.hpp"
#include "io/uring/io_ring.hpp"
#include "observe/stall_monitor.hpp"
#include "sched/runtime_core.hpp"
#include "sched/thread_start.hpp"

namespace spindle::detail {
namespace {

// Rounds of stealing over all victims before a searching worker parks.
constexpr int steal_rounds = 3;

}  // namespace

void bind_scheduler_context(sanitizer_context& san) noexcept {
  san = sanitizer_context{};
  san.tsan_fiber = tsan_current_fiber();
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    void* addr;
    std::size_t size;
    pthread_attr_getstack(&attr, &addr, &size);
    san.stack_bottom = addr;
    san.stack_size = size;
    pthread_attr_destroy(&attr);
  }
}

worker::worker(runtime_core& r, std::uint32_t i)
    : rt(r), index(i), rng{0x9E3779B97F4A7C15ull * (i + 1)}, parker_(*r.reactor_) {}

worker::~worker() = default;

void worker::use_ring(std::unique_ptr<io_ring> r) noexcept {
  ring = std::move(r);
  parker_.sleep_in(ring.get());
}

void worker::flush_ring() noexcept {
  ring->flush(*this);
  if (std::exchange(polled_work, false)) rt.notify_work();
}

void worker::start() { thread_ = start_thread([this] { run(); }); }

void worker::join() {
  if (thread_.joinable()) thread_.join();
}

void worker::push_overflow(fiber* f) noexcept {
  while (!local.try_push(f)) {
    // Full ring: move the older half and f to the global queue in one go.
    fiber* batch[run_queue::capacity / 2 + 1];
    std::uint32_t n = local.take_half(batch);
    if (n) {
      batch[n++] = f;
      // Entries already run inline by their joiner are dropped here, not
      // shipped: a worker that joins everything inline never pops its ring,
      // so they would pile up in the global queue (fib on one worker: 1.6
      // million of them).
      std::uint32_t live = 0;
      for (std::uint32_t i = 0; i < n; ++i) {
        if (ran_inline(batch[i])) batch[i]->release();
        else batch[live++] = batch[i];
      }
      if (live) rt.global_.push_bulk(batch, live);
      return;
    }
  }
}

bool worker::spawns_pile_up() const noexcept {
  return local.size() >= run_queue::capacity / 2 && rt.global_.size_approx() >= spawn_backlog;
}

void worker::release_finished(fiber* f) noexcept {
  stack_block* s = f->sched.stack;
  tsan_destroy_fiber(s->san.tsan_fiber);
  s->san.tsan_fiber = nullptr;
  f->sched.stack = nullptr;
  if (s->pool == &rt.stacks_) [[likely]]
    rt.stacks_.release(stacks, s);
  else
    s->pool->release_shared(s);
  if (!f->ended.load(std::memory_order_relaxed)) {
    f->release();
  } else if (remote_ends.count == fiber_registry::remote_ends::capacity) {
    flush_remote_ends();  // the batch held the run reference
  }
}

fiber_registry& worker::rt_registry() noexcept {
  return rt.registry_;
}

void worker::flush_remote_ends() noexcept {
  if (remote_ends.count == 0) return;
  rt.registry_.flush(remote_ends);
}

fiber* worker::periodic_check() noexcept {
  const clock::time_point now = clock::now();
  coarse_now = now.time_since_epoch().count();
  if (!rt.timers_.empty()) rt.timers_.fire_due(now);
  parker::poll_io_nonblocking(*this);
  if (ring && ring->busy()) flush_ring();  // requests queued behind fibers that keep running
  fiber* f;
  return rt.global_.try_pop(f) ? f : nullptr;
}

void worker::enter_busy() noexcept {
  const std::int64_t now = clock::now().time_since_epoch().count();
  coarse_now = now;
  // seq_cst, then the monitor's flag: see stall_monitor.hpp.
  counters.busy_since.store(now, std::memory_order_seq_cst);
  if (rt.monitor_) rt.monitor_->on_worker_busy();
}

void worker::leave_busy() noexcept {
  flush_remote_ends();
  const std::int64_t now = clock::now().time_since_epoch().count();
  const std::int64_t since = counters.busy_since.load(std::memory_order_relaxed);
  worker_counters::bump(counters.busy_ns, static_cast<std::uint64_t>(now - since));
  counters.busy_since.store(0, std::memory_order_relaxed);
  worker_counters::bump(counters.parks);
}

fiber* worker::take_global() noexcept {
  // Take a batch: a burst of spawns from a plain thread spreads in few steps.
  fiber* batch[32];
  std::size_t n =
      rt.global_.try_pop_bulk(batch, std::min<std::size_t>(32, run_queue::capacity - local.size()));
  if (n == 0) return nullptr;
  for (std::size_t i = 1; i < n; ++i) push_local(batch[i], false);
  return batch[0];
}

fiber* worker::steal() noexcept {
  const std::size_t n = rt.workers_.size();
  for (int round = 0; round < steal_rounds; ++round) {
    std::size_t start = rng.below(n);
    for (std::size_t k = 0; k < n; ++k) {
      worker& v = *rt.workers_[(start + k) % n];
      if (&v == this) continue;
      if (fiber* f = v.local.steal_into(local)) {
        worker_counters::bump(counters.steals);
        if (trace_buffer* tb = trace.load(std::memory_order_acquire)) [[unlikely]]
          tb->record_steal(*f, v.index);
        return f;
      }
      // The runnext slot is stealable too, so a fiber cannot be stranded
      // behind a worker busy with one long-running fiber (tokio#4730); not on
      // the first round, to leave message-passing pairs on their worker.
      if (round > 0 && v.runnext.load(std::memory_order_relaxed)) {
        if (fiber* f = v.runnext.exchange(nullptr, std::memory_order_acq_rel)) {
          worker_counters::bump(counters.steals);
          if (trace_buffer* tb = trace.load(std::memory_order_acquire)) [[unlikely]]
            tb->record_steal(*f, v.index);
          return f;
        }
      }
    }
    if (fiber* f = take_global()) return f;
    cpu_relax();
  }
  return nullptr;
}

bool worker::any_work_visible() noexcept {
  if (rt.global_.size_approx() != 0) return true;
  for (auto& v : rt.workers_)
    if (!v->local.empty() || v->runnext.load(std::memory_order_relaxed)) return true;
  return false;
}

fiber* worker::find_work() {
  auto found = [this](fiber* f) {
    if (searching) {
      searching = false;
      if (rt.idle_.stop_searching()) rt.notify_work();  // the last searcher hands over the search
    }
    return f;
  };
  for (;;) {
    if (rt.stopping()) return nullptr;
    if (fiber* f = next_local()) return found(f);
    // Out of fibers: the requests they queued go to the kernel in one call,
    // and what completed meanwhile runs next.
    if (ring && ring->busy()) {
      flush_ring();
      if (fiber* f = next_local()) return found(f);
    }
    if (!rt.timers_.empty()) rt.timers_.fire_due(clock::now());
    if (fiber* f = take_global()) return found(f);
    // No reactor poll here: an idle worker that finds nothing to steal parks,
    // and the parking worker that drives the reactor blocks in it, which
    // returns at once if events are waiting: a poll here as well would be a
    // second system call for the same events.
    if (!searching) searching = rt.idle_.try_start_searching();
    if (searching) {
      if (fiber* f = steal()) return found(f);
    }
    // Nothing anywhere: park. The last searcher re-checks every queue after
    // listing itself as parked (idle_set.hpp), so no submission is missed.
    if (rt.idle_.park(index, searching) && any_work_visible()) rt.notify_work();
    searching = false;
    leave_busy();
    parker_.park(*this);
    enter_busy();
    searching = rt.idle_.unpark_self(index);
    if (std::exchange(polled_work, false)) rt.notify_work();  // the park polled
  }
}

namespace {

// Runs a user's worker hook; what it throws is reported, not propagated
// (there is nobody on a worker thread to take it).
void call_hook(const std::function<void(std::size_t)>& hook, const char* which,
               std::size_t index) noexcept {
  if (!hook) return;
  try {
    hook(index);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "spindle: options::%s threw on worker %zu: %s (ignored)\n", which, index,
                 e.what() ? e.what() : "");
  } catch (...) {
    std::fprintf(stderr, "spindle: options::%s threw on worker %zu (ignored)\n", which, index);
  }
}

}  // namespace

fiber* worker::take_from_stalled() noexcept {
  for (auto& v : rt.workers_) {
    if (!v->stalled.load(std::memory_order_relaxed)) continue;
    // Its fibers' reads and writes: submitted, and their completions
    // reaped, here (the fibers they wake queue on this spare).
    if (v->ring && v->ring->busy()) {
      v->ring->try_flush(*this);
      if (std::exchange(polled_work, false)) rt.notify_work();
      if (fiber* f = next_local()) return f;
    }
    if (fiber* f = v->local.steal_into(local)) return f;
    if (v->runnext.load(std::memory_order_relaxed)) {
      if (fiber* f = v->runnext.exchange(nullptr, std::memory_order_acq_rel)) return f;
    }
  }
  return nullptr;
}

void worker::serve_stalls(const std::atomic<bool>& active) {
  enter_busy();
  while (active.load(std::memory_order_acquire) && !rt.stopping()) {
    fiber* f = next_local();
    if (!f) f = take_from_stalled();
    if (!f) f = take_global();
    if (!f) {
      // Nothing runnable: what the stalled worker would have done between
      // its fibers. A short sleep, not a park: this thread is not in the
      // idle set, and it serves only while a stall lasts.
      const clock::time_point now = clock::now();
      if (!rt.timers_.empty()) rt.timers_.fire_due(now);
      parker::poll_io_nonblocking(*this);
      if (!(f = next_local())) {
        const clock::time_point next = rt.timers_.next_deadline();
        std::this_thread::sleep_until(std::min(next, now + std::chrono::milliseconds(1)));
        continue;
      }
    }
    if (claim_start(f)) resume_from_scheduler(*this, f);
  }
  // Retire: what it still holds goes where every worker can take it.
  bool handed = false;
  for (fiber* f; (f = local.pop()) || (f = runnext.exchange(nullptr, std::memory_order_acq_rel));) {
    rt.global_.push(f);
    handed = true;
  }
  if (handed) rt.notify_work();
  leave_busy();
  rt.stacks_.drain(stacks);
}

void worker::run() {
  const std::string name = "spindle-w" + std::to_string(index);
  name_this_thread(name.c_str());
  call_hook(rt.on_worker_start_, "on_worker_start", index);
  set_current_worker(this);
  stack_overflow_guard guard;  // alternate signal stack for the overflow report
  bind_scheduler_context(sched_san);
  enter_busy();
  while (fiber* f = find_work()) {
    if (claim_start(f)) resume_from_scheduler(*this, f);
  }
  rt.stacks_.drain(stacks);
  leave_busy();
  set_current_worker(nullptr);
  call_hook(rt.on_worker_stop_, "on_worker_stop", index);
}

}  // namespace spindle::detail
