// spindle::runtime: a pool of worker threads (one per core by default) that
// run fibers, with the reactor, the timers and the blocking-call pool.
//
//   spindle::runtime rt;                       // workers = hardware threads
//   int v = rt.block_on([] { return 42; });    // from a plain thread
//   auto t = rt.spawn(f, args...);             // from any thread
//   auto u = spindle::spawn(f, args...);       // inside a fiber: same runtime
//
// Semantics follow <thread>: the callable and its arguments are decay-copied
// and invoked as rvalues, so move-only and mutable callables work; they are
// destroyed when the call returns or throws, before join() returns.
//
// Rules for code that runs in fibers (see docs/USER_GUIDE.md):
//  * A fiber can resume on another worker thread after any suspension. Do not
//    hold a reference to a thread_local, or an OS mutex (std::mutex), across
//    a call that may suspend (spindle sync, channel, IO, sleep, yield, join,
//    and spawn: in a loop that piles up fibers, every 128th yields first):
//    the reference would point at the old thread's variable, and the OS mutex
//    would be held by a thread that has moved on to other fibers.
//  * A fiber runs until it suspends: a long computation should yield now and
//    then; a blocking system call belongs in run_blocking().
//  * On ~runtime(), suspended fibers are unwound by an exception of type
//    spindle::detail::fiber_unwind; a `catch (...)` must rethrow it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <spindle/detail/blocking_job.hpp>
#include <spindle/detail/fiber.hpp>
#include <spindle/detail/waiter.hpp>
#include <spindle/observe.hpp>
#include <spindle/task.hpp>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace spindle {

// How sockets wait and move bytes (docs/USER_GUIDE.md, "IO backends").
enum class io_backend : std::uint8_t {
  // io_uring where the kernel offers what spindle needs (probed once per
  // process), else the platform's readiness backend: epoll on Linux (also
  // where io_uring is disabled by sysctl or seccomp), kqueue on macOS and the
  // BSDs. The environment variable SPINDLE_IO=epoll or SPINDLE_IO=io_uring
  // overrides the choice.
  automatic,
  // Readiness: a socket call is a system call, and waits in epoll when it
  // would block.
  epoll,
  // Socket reads and writes go through one io_uring per worker: a fiber
  // queues its request and parks; the worker submits every queued request
  // in one system call and reaps completions without one. The runtime
  // constructor throws std::system_error (function_not_supported) where
  // the kernel refuses it. Linux only.
  io_uring,
  // macOS and the BSDs (the only backend there).
  kqueue,
};

// An aggregate: new fields are only ever added at the end.
struct options {
  // Worker threads; 0 = one per CPU this process may use: the CPUs of its
  // affinity mask, fewer under a cgroup v2 CPU quota (a container limited to
  // 2 CPUs gets 2 workers however many the host has).
  std::size_t workers = 0;
  // Usable bytes of every fiber stack, rounded up to whole pages; 0 = 64 KiB
  // (4x that in sanitizer builds, whose frames are larger). At most 1 GiB:
  // a larger size makes the runtime constructor throw std::invalid_argument.
  // A fiber takes its stack when it first runs; without memory for it, the
  // fiber fails without running and its join() throws std::bad_alloc.
  std::size_t stack_size = 0;
  // Upper bound of the run_blocking() thread pool; threads start on demand
  // and exit after 10 s idle.
  std::size_t blocking_threads = 512;
  // A 16 KiB guard region under every stack, so an overflow is reported by
  // name instead of corrupting memory (frames larger than 16 KiB only in code
  // built with -fstack-clash-protection, see docs/USER_GUIDE.md, "Stacks").
  // Costs nothing per switch; on kernels older than 6.13 it costs 2 memory
  // mappings per stack (see docs/DESIGN.md, "Stacks").
  bool stack_guard = true;
  // Called on each worker thread as it starts, before it runs any fiber, with
  // the worker's index (0 to workers - 1): to pin it to a CPU, or register it
  // with a profiler or an allocator. on_worker_stop is called on the worker
  // after its last fiber, as the runtime is destroyed. An exception escaping
  // either is reported on stderr and otherwise ignored. Worker threads are
  // named "spindle-w<index>" (top -H, gdb, perf), blocking-pool threads
  // "spindle-blk".
  std::function<void(std::size_t worker_index)> on_worker_start = nullptr;
  std::function<void(std::size_t worker_index)> on_worker_stop = nullptr;
  // On this signal (SIGUSR1, say) the runtime writes dump() to stderr; 0 =
  // off. The signal is caught as a signal_set catches it (the disposition
  // comes back when the runtime goes) and the dump is formatted on a thread
  // of its own, not in the signal handler.
  int dump_signal = 0;
  // A monitor thread (Go's sysmon) notices a worker that has run one fiber
  // for longer than this without a switch: it reports it (on_stall, or by
  // default one line on stderr) and hands the stalled worker's runnable
  // fibers, due timers and IO polling to a spare thread until the fiber
  // switches, so sleepers, timeouts and sockets of other fibers are served
  // within the threshold plus a few milliseconds. The monitor wakes every
  // threshold/4 (1 to 10 ms) while a worker is busy, and not at all while
  // every worker is idle. 0 = off (no monitor thread).
  std::chrono::nanoseconds stall_threshold = std::chrono::milliseconds(100);
  // Called on the monitor thread for each stall (once per stall); null = the
  // default report. What it throws is reported on stderr and ignored.
  std::function<void(const stall_report&)> on_stall = nullptr;
  // See io_backend; runtime::io() says which one was chosen.
  io_backend io = io_backend::automatic;
};

class runtime {
 public:
  // Throws std::system_error (errc::resource_unavailable_try_again at the
  // thread limit) if a worker thread cannot be created; the workers already
  // started are stopped and joined first, and nothing is leaked.
  runtime();
  explicit runtime(options opts);
  // Stops the workers, unwinds every suspended fiber (destructors run),
  // destroys fibers that never started without running them, waits for
  // run_blocking() calls in progress, joins every thread and frees every stack.
  ~runtime();
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  // Starts f(args...) as a new fiber on this runtime; callable from any thread.
  // Throws std::bad_alloc when there is no memory for the fiber, and
  // std::logic_error after shutdown().
  template <class F, class... A>
  requires(!std::is_same_v<std::remove_cvref_t<F>, fiber_options>) auto spawn(F&& f, A&&... args)
      -> task<detail::spawn_result_t<F, A...>> {
    auto* fb = detail::make_fiber(std::forward<F>(f), std::forward<A>(args)...);
    detail::submit_new(*core_, fb);
    return task<detail::spawn_result_t<F, A...>>(fb);
  }
  // The same, with a name and a stack size of the fiber's own (observe.hpp).
  // Throws std::invalid_argument for a stack_size over 1 GiB.
  template <class F, class... A>
  auto spawn(const fiber_options& o, F&& f, A&&... args) -> task<detail::spawn_result_t<F, A...>> {
    auto* fb = detail::make_fiber(std::forward<F>(f), std::forward<A>(args)...);
    detail::submit_new(*core_, fb, o);
    return task<detail::spawn_result_t<F, A...>>(fb);
  }

  // Runs f() as a fiber on this runtime and blocks the calling thread until it
  // returns; its exception is rethrown here. Throws std::logic_error inside a
  // fiber (it would block the worker).
  template <class F>
  auto block_on(F&& f) -> std::invoke_result_t<std::decay_t<F>> {
    check_block_on_allowed();
    return spawn(std::forward<F>(f)).join();
  }

  // From a plain thread: cancels every fiber (every wait of every fiber of
  // this runtime, started or not, spawned before or during the grace period,
  // throws spindle::cancelled from then on, outside a shield; fibers already
  // waiting are woken), waits until all of them have ended or `grace` has
  // passed, whichever comes first, then does what ~runtime() does to the
  // rest. Returns as soon as every fiber has ended. Idempotent: a second call
  // returns at once; ~runtime() afterwards only frees memory. Afterwards
  // spawn() throws std::logic_error. Throws std::logic_error in a fiber of
  // this runtime, or in one of its run_blocking() calls (it would wait for
  // itself). A fiber that never switches delays it as it delays ~runtime().
  void shutdown(std::chrono::nanoseconds grace);

  // Number of worker threads.
  std::size_t workers() const noexcept;
  // The IO backend in use: epoll, io_uring or kqueue (never automatic).
  io_backend io() const noexcept;

  // Every live fiber, one line each, then the workers, then one "deadlock:"
  // line per cycle of fibers waiting on each other (mutexes, joins). From any
  // thread, at any time; see docs/USER_GUIDE.md, "Seeing inside".
  std::string dump() const;
  // Counters of the workers and the runtime (observe.hpp); from any thread.
  runtime_metrics metrics() const;

  // Records what the workers do into per-worker buffers of bounded size
  // (64 Ki events each, allocated here; events past that are counted as
  // dropped): every run of a fiber, wakes, waits and steals. `path` is
  // opened (created or truncated) here. Throws std::system_error if it
  // cannot be opened, std::logic_error if a trace is already running.
  // From any thread. See docs/USER_GUIDE.md, "Recording a trace".
  void start_trace(const std::string& path);
  // Stops recording and writes the trace to the file as Chrome trace-event
  // JSON (Perfetto, chrome://tracing) on the calling thread; the file is
  // complete when it returns. Throws std::logic_error if no trace is
  // running, std::system_error if the file cannot be written (the trace is
  // stopped either way). ~runtime() stops and writes a running trace.
  void stop_trace();

 private:
  static void check_block_on_allowed();
  detail::runtime_core* core_;
};

// True inside a fiber of any runtime.
bool in_fiber() noexcept;

// Inside a fiber: starts f(args...) as a new fiber on the current runtime.
// Throws std::logic_error outside a fiber.
template <class F, class... A>
requires(!std::is_same_v<std::remove_cvref_t<F>, fiber_options>) auto spawn(F&& f, A&&... args)
    -> task<detail::spawn_result_t<F, A...>> {
  auto& rt = detail::current_runtime_or_throw("spindle::spawn");
  auto* fb = detail::make_fiber(std::forward<F>(f), std::forward<A>(args)...);
  detail::submit_new(rt, fb);
  return task<detail::spawn_result_t<F, A...>>(fb);
}

// The same, with a name and a stack size of the fiber's own (observe.hpp).
template <class F, class... A>
auto spawn(const fiber_options& o, F&& f, A&&... args) -> task<detail::spawn_result_t<F, A...>> {
  auto& rt = detail::current_runtime_or_throw("spindle::spawn");
  auto* fb = detail::make_fiber(std::forward<F>(f), std::forward<A>(args)...);
  detail::submit_new(rt, fb, o);
  return task<detail::spawn_result_t<F, A...>>(fb);
}

// Runs f() on the runtime's blocking thread pool; only the calling fiber
// waits. Its result is returned and its exception rethrown. f (a decay-copy)
// is destroyed on the pool thread as soon as the call returns or throws.
// Called outside a fiber, f() simply runs on the calling thread. If every
// pool thread is busy and no new one can be created (thread limit), f() waits
// for a busy one; if there is no pool thread at all, std::system_error from
// the thread's creation is thrown (errc::resource_unavailable_try_again) and
// f() not run.
//
// The wait is cancellable like every other (spindle::cancelled, and
// with_timeout around it): the fiber stops waiting at once, while the call
// runs to its end on its pool thread, which then destroys its result (or the
// exception it threw, silently: nobody waits for it any more). So whatever
// f captured by reference must outlive the call, not just run_blocking.
// A fiber that is already cancelled (outside a shield) does not start the
// call: it throws spindle::cancelled and f is destroyed unrun. ~runtime()
// still waits for calls in progress.
template <class F>
auto run_blocking(F&& f) -> std::invoke_result_t<std::decay_t<F>> {
  using R = std::invoke_result_t<std::decay_t<F>>;
  detail::runtime_core* rt = detail::current_runtime();
  if (!rt) return std::invoke(std::forward<F>(f));
  struct job final : detail::blocking_job {
    std::optional<std::decay_t<F>> fn;
    std::conditional_t<std::is_void_v<R>, bool, std::optional<R>> result{};
    std::exception_ptr error;
    explicit job(F&& g) : fn(std::forward<F>(g)) {}
    void run() noexcept override {
      try {
        if constexpr (std::is_void_v<R>) {
          std::invoke(std::move(*fn));
        } else {
          result.emplace(std::invoke(std::move(*fn)));
        }
      } catch (...) {
        error = std::current_exception();
      }
      try {
        fn.reset();
      } catch (...) {
        if (!error) error = std::current_exception();
      }
    }
  };
  auto* j = new job(std::forward<F>(f));  // shared with the pool: blocking_job.hpp
  detail::blocking_job_ref mine(*j);
  detail::run_on_blocking_pool(*rt, *j);
  if (j->error) std::rethrow_exception(j->error);
  if constexpr (!std::is_void_v<R>) return std::move(*j->result);
}

}  // namespace spindle
