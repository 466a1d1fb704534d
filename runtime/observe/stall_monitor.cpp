#include "observe/stall_monitor.hpp"

#include <algorithm>
#include <cstdio>
#include <exception>

#include "fiber/stack_overflow.hpp"
#include "report.hpp"
#include "sched/context.hpp"
#include "sched/runtime_core.hpp"
#include "sched/thread_start.hpp"
#include "sched/worker.hpp"

namespace spindle::detail {
namespace {

std::chrono::nanoseconds tick_for(std::chrono::nanoseconds threshold) {
  return std::clamp<std::chrono::nanoseconds>(threshold / 4, std::chrono::milliseconds(1),
                                              std::chrono::milliseconds(10));
}

}  // namespace

stall_monitor::stall_monitor(runtime_core& rt, std::chrono::nanoseconds threshold,
                             std::function<void(const stall_report&)> on_stall)
    : rt_(rt), threshold_(threshold), tick_(tick_for(threshold)), on_stall_(std::move(on_stall)) {
  thread_ = start_thread([this] { run(); });
}

stall_monitor::~stall_monitor() {
  stop();
}

void stall_monitor::stop() noexcept {
  {
    std::lock_guard<std::mutex> g(lock_);
    stop_ = true;
    spare_active_.store(false, std::memory_order_release);
  }
  wake_monitor_.notify_all();
  wake_spare_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (spare_thread_.joinable()) spare_thread_.join();
  for (auto& w : rt_.workers()) w->stalled.store(false, std::memory_order_relaxed);
}

void stall_monitor::wake() noexcept {
  std::lock_guard<std::mutex> g(lock_);
  sleeping_.store(false, std::memory_order_relaxed);
  wake_monitor_.notify_one();
}

bool stall_monitor::all_idle() const noexcept {
  for (const auto& w : rt_.workers())
    if (w->counters.busy_since.load(std::memory_order_seq_cst) != 0) return false;
  return true;
}

void stall_monitor::run() {
  name_this_thread("spindle-mon");
  struct seen {
    std::uint64_t runs = 0;
    owner_id running = no_owner;
    clock::time_point since{};
    bool stalled = false;
  };
  std::vector<seen> last(rt_.workers().size());
  std::unique_lock<std::mutex> g(lock_);
  while (!stop_) {
    if (all_idle()) {
      sleeping_.store(true, std::memory_order_seq_cst);
      if (all_idle())
        wake_monitor_.wait(g, [&] { return stop_ || !sleeping_.load(std::memory_order_relaxed); });
      sleeping_.store(false, std::memory_order_relaxed);
      continue;
    }
    wake_monitor_.wait_for(g, tick_, [&] { return stop_; });
    if (stop_) break;
    g.unlock();
    const clock::time_point now = clock::now();
    bool any_stalled = false;
    const auto& workers = rt_.workers();
    for (std::size_t i = 0; i < workers.size(); ++i) {
      worker& w = *workers[i];
      const std::uint64_t runs = w.counters.fibers_run.load(std::memory_order_relaxed);
      const owner_id running = w.running.load(std::memory_order_relaxed);
      seen& s = last[i];
      if (runs == s.runs && running == s.running && is_fiber_owner(running)) {
        if (!s.stalled && now - s.since >= threshold_) {
          s.stalled = true;
          w.stalled.store(true, std::memory_order_relaxed);
          report(i, fiber_id_of(running), now - s.since);
        }
      } else {
        if (s.stalled) w.stalled.store(false, std::memory_order_relaxed);
        s = seen{runs, running, now, false};
      }
      any_stalled |= s.stalled;
    }
    if (any_stalled != spare_active_.load(std::memory_order_relaxed)) {
      if (any_stalled)
        start_spare();
      else
        stop_spare();
    }
    g.lock();
  }
}

void stall_monitor::report(std::size_t worker_index, std::uint64_t fiber_id,
                           std::chrono::nanoseconds for_how_long) {
  stall_report r;
  r.worker = worker_index;
  r.fiber_id = fiber_id;
  r.running_for = for_how_long;
  rt_.registry().for_each([&](const fiber& f) {
    if (f.sched.id == fiber_id) r.fiber_name.assign(f.name.view());
  });
  if (!on_stall_) {
    std::fprintf(stderr,
                 "spindle: worker %zu has run fiber %llu %s for %lld ms without a switch; a spare "
                 "thread serves its other fibers, timers and IO until it switches\n",
                 r.worker, static_cast<unsigned long long>(r.fiber_id),
                 quoted_name(r.fiber_name).c_str(),
                 static_cast<long long>(r.running_for.count() / 1'000'000));
    return;
  }
  try {
    on_stall_(r);
  } catch (...) {
    std::fprintf(stderr, "spindle: options::on_stall threw (ignored): %s\n",
                 describe_exception(std::current_exception()).c_str());
  }
}

void stall_monitor::start_spare() {
  std::lock_guard<std::mutex> g(lock_);
  if (stop_) return;
  if (!spare_) {
    try {
      spare_ = std::make_unique<worker>(rt_, static_cast<std::uint32_t>(rt_.workers().size()));
      spare_thread_ = start_thread([this] { spare_main(); });
    } catch (const std::exception& e) {
      // No thread (thread limit) or no memory: the stall is reported, and
      // its worker's fibers wait for it as they would without a monitor.
      std::fprintf(stderr, "spindle: no spare thread for a stalled worker: %s\n", e.what());
      spare_.reset();
      return;
    }
  }
  spare_active_.store(true, std::memory_order_release);
  wake_spare_.notify_one();
}

void stall_monitor::stop_spare() noexcept {
  std::lock_guard<std::mutex> g(lock_);
  spare_active_.store(false, std::memory_order_release);
}

void stall_monitor::spare_main() {
  name_this_thread("spindle-spare");
  set_current_worker(spare_.get());
  stack_overflow_guard guard;
  bind_scheduler_context(spare_->sched_san);
  std::unique_lock<std::mutex> g(lock_);
  for (;;) {
    wake_spare_.wait(g, [&] { return stop_ || spare_active_.load(std::memory_order_relaxed); });
    if (stop_) break;
    g.unlock();
    spare_->serve_stalls(spare_active_);
    g.lock();
  }
  set_current_worker(nullptr);
}

}  // namespace spindle::detail
