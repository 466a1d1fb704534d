// blocking_job: one call handed to a runtime's blocking thread pool, the
// type-erased half of spindle::run_blocking() (runtime.hpp). The pool
// (runtime/sched/blocking_pool.hpp) sees only this base; run_blocking's
// template derives the job that holds the callable and its result.
#pragma once

namespace spindle::detail {

class runtime_core;
class waiter;

// Lives on the calling fiber's stack for the whole call (see blocking_pool.hpp
// for why that is safe).
class blocking_job {
 public:
  virtual void run() noexcept = 0;
  blocking_job* next = nullptr;  // guarded by the pool's lock (unchecked: another object's)
  waiter* done = nullptr;        // notified by the pool thread after run()
 protected:
  ~blocking_job() = default;
};

// Submits the job to rt's blocking pool and waits for it (runtime/runtime.cpp).
void run_on_blocking_pool(runtime_core& rt, blocking_job& job);

}  // namespace spindle::detail
