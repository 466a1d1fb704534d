// trace_json: the Chrome trace-event JSON of a stopped trace (the format
// Perfetto and chrome://tracing load), built from the workers' events.
//
//   {"traceEvents":[...], "displayTimeUnit":"ns", "otherData":{"dropped_events":N}}
//
// pid 1 is the runtime, tid i its worker i (a "thread_name" metadata event
// names it "spindle-w<i>"). Per worker:
//  * one complete event ("ph":"X") per run of a fiber, from the switch into
//    it to the switch away, named by the fiber's name ("fiber <id>" when it
//    has none); args: "fiber" (its id) and "end" (yield, wait: <kind>, exit,
//    or running: it still ran when the trace stopped). A fiber running when
//    the trace started has a slice from the start;
//  * an instant event ("ph":"i") per wake ("wake", args "fiber": the woken
//    one, "by": the fiber running on the waking worker (the waker, or the
//    one whose switch fired a due timer), or "scheduler" for a timer or the
//    reactor in the scheduler loop, or "unknown"), and, when a fiber woke
//    it, a flow ("ph":"s" inside the
//    waker's slice, "ph":"f" at the woken fiber's next slice, on whichever
//    worker that runs);
//  * an instant event per wait ("wait <kind>", args "fiber", and "fd" for IO)
//    and per steal ("steal", args "fiber", "from": the victim's index).
// Timestamps are microseconds since start_trace with three decimals
// (nanoseconds): slices of one worker meet exactly, never overlap.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <unordered_map>
#include <vector>

#include "observe/trace_buffer.hpp"

namespace spindle::detail {

struct trace_capture {
  struct worker_events {
    const trace_event* events = nullptr;
    std::size_t count = 0;  // published events
    std::uint64_t dropped = 0;
  };
  std::vector<worker_events> workers;  // by worker index
  // The session's start and stop in trace_ticks(), and how many nanoseconds
  // a tick is (measured over the session against the steady clock).
  std::int64_t start = 0, stop = 0;
  double ns_per_tick = 1;
  // A time of the trace (ticks) as nanoseconds since the start. Monotonic,
  // so slices that meet in ticks meet in nanoseconds.
  std::int64_t ns_since_start(std::int64_t ticks) const noexcept {
    return static_cast<std::int64_t>(static_cast<double>(ticks - start) * ns_per_tick + 0.5);
  }
  // Names of fibers alive at the stop (the events add those that ended).
  std::unordered_map<std::uint64_t, std::string> live_names;
};

// Writes the whole file; the caller checks the stream for errors.
void write_chrome_trace(std::FILE* out, const trace_capture& capture);

}  // namespace spindle::detail
