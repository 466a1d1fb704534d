// trace_buffer: one worker's record of a trace (runtime::start_trace), a
// bounded array of fixed-size events filled from the front.
//
// One writer, one reader, no lock and no read-modify-write:
//  * the writer is the worker's thread (or, at shutdown, the thread that
//    adopted the worker: never both at once). It writes the slot at `count_`
//    and only then stores count_ + 1 (release);
//  * the reader (stop_trace) loads `count_` (acquire) and reads the slots
//    below it, which are complete and never written again. A write in
//    progress meanwhile goes to the slot at or past the count it loaded, so
//    it is simply not in the trace ("the in-progress event is dropped").
// When the next event does not fit, it and every event after it are counted
// in `dropped_` instead: the recorded events stay a prefix of what happened,
// so the slices built from them are consistent.
//
// The buffer is allocated, and its pages touched, by start_trace: recording
// never allocates or faults. Who frees it, and when a worker can no longer
// write to it: trace_session.hpp.
//
// Cost of an event while tracing: trace_ticks() (rdtsc, ~10 ns on the
// reference machine against ~26 for clock::now()'s vDSO call) and a few stores
// into the worker's own lines; guarded by `spindle-bench yield_traced`.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <spindle/detail/clock.hpp>
#include <spindle/detail/waiter.hpp>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

namespace spindle::detail {

// Whether the time-stamp counter can be the trace's clock: on x86-64 when
// the CPU says it is invariant (one rate whatever the frequency and sleep
// states, the same on every core: Linux's nonstop_tsc). Asked once, at the
// first start_trace (a CPUID, which traps to the hypervisor in a VM: not at
// program start), and kept by each session and its buffers.
bool trace_tsc_usable() noexcept;

// The trace's clock: every event's time, and the session's start and stop, in
// ticks of the time-stamp counter (`tsc`: trace_tsc_usable()) or steady-clock
// nanoseconds. The session turns ticks into nanoseconds when it writes the
// file, with the rate it measures between start_trace and stop_trace
// (trace_capture).
inline std::int64_t trace_ticks(bool tsc) noexcept {
#if defined(__x86_64__)
  if (tsc) [[likely]]
    return static_cast<std::int64_t>(__rdtsc());
#else
  (void)tsc;
#endif
  return clock::now().time_since_epoch().count();
}

class fiber;

enum class trace_event_kind : std::uint8_t {
  // The worker switches: `a` (a fiber id, 0 = the scheduler loop) stops
  // running, `b` starts; `c` is what happens to `a` (after_switch_action).
  // A stack that join() runs another fiber on counts as that fiber, and the
  // start and end of such an inline run are switches too.
  run,
  // `b` was made runnable by `a` (a fiber id; 0 = the scheduler loop: a
  // timer or the reactor; unknown_waker: it was woken on its way into its
  // park, by a thread that did not submit it).
  wake,
  // Fiber `a` begins a wait of kind `c` (a wait_kind); `b` is its detail
  // (the descriptor of an IO wait).
  wait,
  // This worker took fiber `a` from worker `c`'s queue.
  steal,
  // Fiber `a` ended; its name, `c` bytes long, fills the next
  // name_slots(c) slots as raw bytes.
  name,
};

struct trace_event {
  std::int64_t ts;  // trace_ticks()
  std::uint64_t a;
  std::uint64_t b;
  std::uint32_t c;
  trace_event_kind kind;
};
static_assert(sizeof(trace_event) == 32);

inline constexpr std::uint64_t unknown_waker = ~std::uint64_t{0};

inline std::size_t name_slots(std::size_t bytes) noexcept {
  return (bytes + sizeof(trace_event) - 1) / sizeof(trace_event);
}

class trace_buffer {
 public:
  // `tsc`: the session's clock (trace_ticks).
  trace_buffer(std::size_t capacity, bool tsc);
  trace_buffer(const trace_buffer&) = delete;
  trace_buffer& operator=(const trace_buffer&) = delete;

  // ---- the writer (out of line: the switch path calls them only while tracing)
  void record_run(const fiber* from, const fiber* to, std::uint32_t action) noexcept;
  void record_wake(const fiber* waker, const fiber* woken) noexcept;
  void record_wake_unknown(const fiber* woken) noexcept;
  void record_wait(const fiber& who, const wait_reason& why) noexcept;
  void record_steal(const fiber& f, std::uint32_t victim) noexcept;
  void record_end(const fiber& f) noexcept;  // only for a named fiber

  // ---- the reader
  // The number of complete events; the slots below it may be read.
  std::size_t published() const noexcept { return count_.load(std::memory_order_acquire); }
  const trace_event* events() const noexcept { return events_.get(); }
  std::uint64_t dropped() const noexcept { return dropped_.load(std::memory_order_acquire); }

 private:
  void push(trace_event_kind kind, std::uint64_t a, std::uint64_t b, std::uint32_t c) noexcept;
  void drop(std::size_t n) noexcept;

  const std::size_t capacity_;
  const bool tsc_;  // trace_ticks(tsc_) stamps the events
  const std::unique_ptr<trace_event[]> events_;
  // Written by the writer alone (a load and a release store, no RMW).
  std::atomic<std::size_t> count_{0};
  std::atomic<std::uint64_t> dropped_{0};
  bool full_ = false;  // the writer's own: something was dropped, so drop the rest
};

}  // namespace spindle::detail
