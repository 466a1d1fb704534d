// blocking_job: one call handed to a runtime's blocking thread pool, the
// type-erased half of spindle::run_blocking() (runtime.hpp). The pool
// (runtime/sched/blocking_pool.hpp) sees only this base; run_blocking's
// template derives the job that holds the callable and its result.
//
// The job lives on the heap, shared by two parties, the calling fiber and
// the pool, with a reference each; whoever lets go last deletes it. So a
// fiber whose wait is cancelled (spindle::cancelled, or unwound at shutdown)
// leaves at once while the call runs on: the pool thread still writes the
// result and wakes the waiter, both inside the job, never in the fiber's
// frame. The waiter is in the job for that reason: the pool's notify of a
// waiter that the cancelled fiber claimed first fails without touching the
// fiber, and the memory it touches is still the job's.
//
// Cost over a job on the caller's stack: one allocation and one atomic
// decrement per party, next to the pool's mutex and condition variable and
// two thread wake-ups that every call costs anyway.
#pragma once

#include <atomic>
#include <spindle/detail/waiter.hpp>

namespace spindle::detail {

class runtime_core;

class blocking_job {
 public:
  // Made by the calling fiber: its waiter binds to it.
  blocking_job() = default;
  blocking_job(const blocking_job&) = delete;
  blocking_job& operator=(const blocking_job&) = delete;

  // The pool's part: runs the call, wakes the fiber (if it still waits: a
  // fiber that left claimed the waiter, so the notify fails), lets go.
  void run_and_finish() noexcept {
    run();
    done.notify();
    release();
  }
  // Drops one party's reference; the last one deletes the job.
  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  blocking_job* next = nullptr;  // guarded by the pool's lock (unchecked: another object's)
  waiter done;                   // the calling fiber parks on it; notified after run()

 protected:
  virtual ~blocking_job() = default;
  // Runs the call and keeps its result or exception in the job.
  virtual void run() noexcept = 0;

 private:
  std::atomic<int> refs_{2};  // the fiber's and the pool's
};

// The fiber's reference, dropped when the caller's frame goes (normal
// return, an exception from the call, or cancellation).
class blocking_job_ref {
 public:
  explicit blocking_job_ref(blocking_job& j) noexcept : job_(j) {}
  ~blocking_job_ref() { job_.release(); }
  blocking_job_ref(const blocking_job_ref&) = delete;
  blocking_job_ref& operator=(const blocking_job_ref&) = delete;

 private:
  blocking_job& job_;
};

// Submits the job to rt's blocking pool and waits for it (runtime/runtime.cpp):
// returns once the call is over, throws spindle::cancelled if the fiber is
// cancelled first (the call runs on; the pool releases the job). If the pool
// cannot take the job (no thread), the pool's reference is dropped here and
// the exception propagates.
void run_on_blocking_pool(runtime_core& rt, blocking_job& job);

}  // namespace spindle::detail
