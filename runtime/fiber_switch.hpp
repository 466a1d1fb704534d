// fiber_switch: the scheduler's switch primitives (see fiber_switch.cpp).
#pragma once

namespace spindle::detail {

class fiber;
class waiter;
class worker;

// Scheduler loop -> fiber f; returns when the worker is back in its loop.
void resume_from_scheduler(worker& w, fiber* f);
// Parks the running fiber until unpark_fiber(f). `on`: the waiter shutdown
// may cancel, or null for a wait that must not be cancelled.
void park_current(waiter* on);
// Makes a parked (or parking) fiber runnable again. Exactly once per park.
void unpark_fiber(fiber* f) noexcept;
// this_fiber::yield.
void yield_current();

}  // namespace spindle::detail
