#include "observe/trace_buffer.hpp"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include <cstring>
#include <spindle/detail/clock.hpp>
#include <spindle/detail/fiber.hpp>
#include <string_view>

namespace spindle::detail {
namespace {

// Who runs on f's stack: f, or the fiber a join() runs inline there.
std::uint64_t id_of(const fiber* f) noexcept {
  if (!f) return 0;
  return running_on(*f).sched.id;
}

}  // namespace

bool trace_tsc_usable() noexcept {
#if defined(__x86_64__)
  static const bool usable = [] {
    unsigned a = 0, b = 0, c = 0, d = 0;
    return __get_cpuid(0x80000007, &a, &b, &c, &d) && (d & (1u << 8)) != 0;
  }();
  return usable;
#else
  return false;
#endif
}

// make_unique value-initialises: every page is touched here, not on a worker
// in the middle of a trace.
trace_buffer::trace_buffer(std::size_t capacity, bool tsc)
    : capacity_(capacity), tsc_(tsc), events_(std::make_unique<trace_event[]>(capacity)) {}

void trace_buffer::drop(std::size_t n) noexcept {
  full_ = true;
  dropped_.store(dropped_.load(std::memory_order_relaxed) + n, std::memory_order_release);
}

void trace_buffer::push(trace_event_kind kind, std::uint64_t a, std::uint64_t b,
                        std::uint32_t c) noexcept {
  const std::size_t n = count_.load(std::memory_order_relaxed);
  if (full_ || n == capacity_) [[unlikely]] {
    drop(1);
    return;
  }
  events_[n] = trace_event{trace_ticks(tsc_), a, b, c, kind};
  count_.store(n + 1, std::memory_order_release);
}

void trace_buffer::record_run(const fiber* from, const fiber* to, std::uint32_t action) noexcept {
  push(trace_event_kind::run, id_of(from), id_of(to), action);
}

void trace_buffer::record_wake(const fiber* waker, const fiber* woken) noexcept {
  push(trace_event_kind::wake, id_of(waker), id_of(woken), 0);
}

void trace_buffer::record_wake_unknown(const fiber* woken) noexcept {
  push(trace_event_kind::wake, unknown_waker, id_of(woken), 0);
}

void trace_buffer::record_wait(const fiber& who, const wait_reason& why) noexcept {
  push(trace_event_kind::wait, who.sched.id, static_cast<std::uint64_t>(why.detail),
       static_cast<std::uint32_t>(why.kind));
}

void trace_buffer::record_steal(const fiber& f, std::uint32_t victim) noexcept {
  push(trace_event_kind::steal, f.sched.id, 0, victim);
}

// The name is read without the registry's lock: the fiber itself is the only
// writer of its name (this_fiber::set_name), and this runs on its stack.
void trace_buffer::record_end(const fiber& f) noexcept {
  const std::string_view name = f.name.view();
  const std::size_t slots = 1 + name_slots(name.size());
  const std::size_t n = count_.load(std::memory_order_relaxed);
  if (full_ || capacity_ - n < slots) [[unlikely]] {
    drop(1);  // one event: the name
    return;
  }
  events_[n] = trace_event{trace_ticks(tsc_), f.sched.id, 0,
                           static_cast<std::uint32_t>(name.size()), trace_event_kind::name};
  std::memcpy(static_cast<void*>(&events_[n + 1]), name.data(), name.size());
  count_.store(n + slots, std::memory_order_release);
}

}  // namespace spindle::detail
