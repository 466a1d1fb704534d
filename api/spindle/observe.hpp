// Seeing inside a running program: fiber names, the dump, metrics.
//
//   auto t = rt.spawn(spindle::fiber_options{.name = "conn 42"}, serve, sock);
//   spindle::this_fiber::set_name("conn 42");
//   std::cerr << rt.dump();                 // every fiber, what it waits on, deadlocks
//   spindle::runtime_metrics m = rt.metrics();
//
// docs/USER_GUIDE.md, "Seeing inside", shows the dump's format and how to
// read it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace spindle {

// How to start one fiber (spawn(options, f, args...), rt.spawn(options, ...)).
struct fiber_options {
  // Shown in the dump, the trace, the stall report and the line reported for
  // an exception escaping a detached fiber. Names up to 24 bytes cost no
  // allocation in the fiber.
  std::string name = {};
  // Usable bytes of this fiber's stack; 0 = the runtime's options::stack_size.
  // A larger size than the runtime's takes a stack from a pool of that size
  // (rounded up to a power of two times the runtime's size), made on first
  // use. At most 1 GiB: more throws std::invalid_argument from spawn.
  std::size_t stack_size = 0;
};

// One worker's counters since the runtime started (runtime::metrics()).
struct worker_metrics {
  std::uint64_t fibers_run = 0;  // fiber resumptions on this worker
  std::uint64_t steals = 0;      // fibers it took from other workers' queues
  std::uint64_t parks = 0;       // times it found nothing to do and went idle
  std::uint64_t io_polls = 0;    // reactor polls it made
  std::size_t queue_depth = 0;   // fibers in its run queue now
  std::uint64_t busy_ns = 0;     // time spent running fibers (out of its idle park)
};

// A snapshot of a runtime, cheap enough to take every second.
struct runtime_metrics {
  std::vector<worker_metrics> workers;  // one per worker, by index
  std::uint64_t fibers_alive = 0;       // spawned and not yet finished
  std::uint64_t fibers_spawned = 0;     // since the runtime started
  std::size_t blocking_threads = 0;     // run_blocking pool threads now
  std::size_t blocking_queued = 0;      // run_blocking calls no thread has taken yet
  std::size_t timers_pending = 0;       // deadlines queued (sleeps, timed waits)
  std::size_t io_waiting = 0;           // fibers waiting for a socket or descriptor
};

// A worker that has run one fiber for longer than options::stall_threshold
// (options::on_stall receives it).
struct stall_report {
  std::size_t worker = 0;                   // the stalled worker's index
  std::uint64_t fiber_id = 0;               // the fiber it runs
  std::string fiber_name;                   // its name ("" if none)
  std::chrono::nanoseconds running_for{0};  // how long it has run without a switch
};

namespace this_fiber {

// Names the calling fiber (see fiber_options::name). Throws std::logic_error
// outside a fiber.
void set_name(std::string_view name);
// The calling fiber's name ("" if it has none). Throws std::logic_error
// outside a fiber.
std::string name();

}  // namespace this_fiber
}  // namespace spindle
