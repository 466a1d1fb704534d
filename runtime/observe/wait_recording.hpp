// wait_recording: how the park door (runtime/wait/waiter.cpp) and an inline
// join (runtime/fiber/join.cpp) write a fiber's wait_record for the dump, and
// count IO waits for the metrics.
#pragma once

#include <spindle/detail/fiber.hpp>
#include <spindle/detail/spinlock.hpp>
#include <spindle/detail/waiter.hpp>

#include "sched/context.hpp"
#include "sched/worker.hpp"

namespace spindle::detail {

inline bool is_io(wait_kind k) noexcept {
  return k == wait_kind::io_read || k == wait_kind::io_write || k == wait_kind::io_accept ||
         k == wait_kind::io_connect;
}

// What the fiber waits on, for the dump (wait_record in detail/fiber.hpp):
// relaxed stores into the fiber's own control block, no read-modify-write.
inline void begin_wait_record(worker& w, fiber& who, const wait_reason& why) noexcept {
  wait_record& rec = who.wait;
  rec.seq.store(rec.seq.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  rec.object.store(why.object, std::memory_order_relaxed);
  rec.detail.store(why.detail, std::memory_order_relaxed);
  rec.since.store(w.coarse_now, std::memory_order_relaxed);
  rec.kind.store(static_cast<std::uint32_t>(why.kind), std::memory_order_release);
  if (is_io(why.kind)) worker_counters::bump(w.counters.io_waits_begun);
  if (trace_buffer* tb = w.trace.load(std::memory_order_acquire)) [[unlikely]]
    tb->record_wait(who, why);  // runtime::start_trace
}

// join() runs a fiber inline on the joiner's stack (fiber/join.cpp): for the
// trace, the stack switches from one fiber to the other without a jump.
// Named inline children leave their name in the trace as they end.
inline void trace_inline_run(worker& w, const fiber* from, const fiber* to,
                             after_switch_action action) noexcept {
  if (trace_buffer* tb = w.trace.load(std::memory_order_acquire)) [[unlikely]] {
    if (action == after_switch_action::finish && !from->name.empty()) tb->record_end(*from);
    tb->record_run(from, to, static_cast<std::uint32_t>(action));
  }
}

// A mutex wait's record may be pinned by a dump reading who holds the mutex
// (see wait_record): the CAS fails until the pin is gone, a few loads later.
inline void end_wait_record(fiber& who, wait_kind kind) noexcept {
  const auto k = static_cast<std::uint32_t>(kind);
  if (kind == wait_kind::mutex) {
    std::uint32_t expected = k;
    while (!who.wait.kind.compare_exchange_weak(expected, 0, std::memory_order_acq_rel)) {
      expected = k;
      cpu_relax();
    }
  } else {
    who.wait.kind.store(0, std::memory_order_relaxed);
  }
  // The worker it resumed on (it may have moved): looked up only for IO.
  if (is_io(kind)) worker_counters::bump(current_worker()->counters.io_waits_ended);
}

}  // namespace spindle::detail
