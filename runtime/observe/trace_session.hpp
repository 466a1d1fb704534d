// trace_session: runtime::start_trace / stop_trace, one per runtime_core.
//
// start_trace opens the file (so a bad path fails there, not at the end),
// gives every worker a fresh trace_buffer and publishes it in
// worker::trace. From then on each worker records into its own buffer
// (trace_buffer.hpp): switches in fiber_switch.hpp (jump, and land for a
// fiber woken on its way into a park), wakes in runtime_core::submit, waits
// in the park door (observe/wait_recording.hpp), steals in worker::steal,
// and the name of a named fiber as it ends (worker::unregister_at_end).
//
// stop_trace, on the calling thread:
//  1. stores null in every worker's `trace`: no new event starts;
//  2. reads each buffer's published count; an event a worker is writing at
//     that moment lies past it and is left out (never waited for);
//  3. resolves fiber names: a fiber alive now by its registry entry (its
//     name at the end of the trace), one that ended during the trace by the
//     name it recorded as it ended, any other as "fiber <id>";
//  4. writes the Chrome trace-event JSON (trace_json.hpp) and closes the file;
//  5. frees the buffers. A worker may still be inside an event it began
//     before step 1 (between its load of `trace` and its store of the
//     count), so a buffer is freed only once its worker has been seen to
//     pass a switch or a park since step 1 (its fibers_run or parks counter
//     moved; idle workers are nudged awake to show it). A worker that does
//     not within `quiescence_wait` (one fiber running all along) does not
//     hold up stop_trace: its buffer is retired, kept until that is seen
//     at a later start_trace / stop_trace, or until the runtime ends.
//
// start and stop are serialised by `lock_` (any threads may call them).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "observe/trace_buffer.hpp"

namespace spindle::detail {

class runtime_core;
class worker;

class trace_session {
 public:
  // Destroyed with the runtime_core, after its workers are joined (and
  // stop_at_exit has closed the file): nobody writes any buffer then.
  trace_session() = default;
  trace_session(const trace_session&) = delete;
  trace_session& operator=(const trace_session&) = delete;

  // std::logic_error if a trace is running; std::system_error if `path`
  // cannot be opened for writing (nothing is recorded then).
  void start(runtime_core& rt, const std::string& path);
  // std::logic_error if no trace is running; std::system_error if the file
  // could not be written (the trace is stopped either way).
  void stop(runtime_core& rt);
  // ~runtime: stops and writes a running trace; a failure is reported on
  // stderr (a destructor has nobody to throw to).
  void stop_at_exit(runtime_core& rt) noexcept;

  // Events per worker buffer. A test seam: tests shrink it to see drops.
  static inline std::atomic<std::size_t> events_per_worker{std::size_t{64} << 10};
  static constexpr std::chrono::milliseconds quiescence_wait{100};

 private:
  struct held_buffer {
    std::unique_ptr<trace_buffer> buffer;
    worker* owner = nullptr;
    std::uint64_t fibers_run = 0, parks = 0;  // the owner's counters once it stopped recording
  };
  void stop_locked(runtime_core& rt);
  void release_buffers(runtime_core& rt, std::vector<held_buffer> held);
  static bool passed_switch(const held_buffer& h) noexcept;

  std::mutex lock_;
  std::FILE* file_ = nullptr;  // open while a trace runs; guarded by lock_
  std::string path_;
  bool tsc_ = false;                  // this trace's clock (trace_ticks)
  std::int64_t start_ticks_ = 0;      // trace_ticks(tsc_) at start_trace
  clock::time_point start_time_{};    // the steady clock then: the tick rate
  std::vector<held_buffer> buffers_;  // this trace's, by worker index
  std::vector<held_buffer> retired_;  // earlier traces' a worker may still touch
};

}  // namespace spindle::detail
