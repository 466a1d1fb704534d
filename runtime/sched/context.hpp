// context: "where am I?" for the calling thread, the one door to the
// scheduler's thread-local state (Tokio: runtime/context.rs).
//
//   current_worker()            the worker whose thread is calling, or null
//   current_fiber()             the running fiber, or null (plain thread, scheduler loop)
//   current_identity()          who the running code is: the fiber, or the
//                               child a join() runs inline on its stack
//   current_runtime()           the running fiber's runtime, or null
//   current_runtime_or_throw()  the same, std::logic_error outside a fiber
//   current_reactor_or_throw()  that runtime's reactor, std::logic_error outside a fiber
//
// The fiber and runtime lookups are declared in <spindle/detail/fiber.hpp>,
// because public templates (spawn, run_blocking) call them; this header adds
// the ones only the runtime needs. All are out of line (context.cpp) and none
// may be cached across a suspension: a fiber can resume on another thread.
// Including this header costs nothing: it names the scheduler's types
// without pulling in runtime_core.
#pragma once

#include <spindle/detail/fiber.hpp>

#include <memory>

namespace spindle::detail {

class reactor;
class worker;

// Not inlined and with a compiler barrier: a fiber may resume on another
// thread, so the thread-local must be re-read after every switch, never
// cached (ClickHouse/silk#66).
worker* current_worker() noexcept;
// The scheduler's only writer: a worker thread as it starts and stops, and
// the thread that shuts a runtime down while it adopts worker 0.
void set_current_worker(worker* w) noexcept;

// The reactor of the calling fiber's runtime; std::logic_error naming `what`
// outside a fiber.
const std::shared_ptr<reactor>& current_reactor_or_throw(const char* what);

}  // namespace spindle::detail
