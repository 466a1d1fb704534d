// blocking_pool: threads for calls that cannot be made non-blocking
// (files, getaddrinfo, foreign libraries), behind spindle::run_blocking().
//
// Threads start on demand, up to `max_threads` (a bound, unlike Go's
// unbounded thread growth: minio#4990), and exit after 10 s without work.
// The calling fiber parks on the job's waiter; the worker runs other fibers.
// Jobs are on the heap, shared by the fiber and the pool (blocking_job.hpp):
// a fiber cancelled while its call runs leaves at once, and the pool thread
// deletes the job when the call is over. A job once queued always runs.
//
// All fields are guarded by `m_`. Unchecked (detail/thread_safety.hpp):
// libstdc++'s std::mutex carries no attributes, and the condition variables
// need it in a std::unique_lock.
#pragma once

#include <spindle/detail/blocking_job.hpp>

#include <condition_variable>
#include <cstddef>
#include <mutex>

namespace spindle::detail {

class blocking_pool {
 public:
  explicit blocking_pool(std::size_t max_threads) : max_threads_(max_threads ? max_threads : 1) {}
  ~blocking_pool() { stop(); }
  // Runs the jobs still queued, then waits for every thread to exit. Jobs
  // submitted afterwards run at once on the submitting thread.
  void stop();
  blocking_pool(const blocking_pool&) = delete;
  blocking_pool& operator=(const blocking_pool&) = delete;

  // Queues the job; a pool thread calls job.run_and_finish(). Throws
  // what the thread's creation threw (std::system_error at the thread limit)
  // if no thread exists and none can be created; the job is then not queued.
  void submit(blocking_job& job);

  // Threads now, calls queued that no thread has taken yet (runtime::metrics,
  // runtime::dump), and threads waiting for a call (notified ones included
  // until they run).
  struct counts {
    std::size_t threads = 0;
    std::size_t queued = 0;
    std::size_t idle = 0;
  };
  counts current_counts();

  // True on one of this pool's threads (a run_blocking call): waiting there
  // for the pool to stop would wait for the caller itself.
  bool runs_on_this_thread() const noexcept;

 private:
  void thread_main();

  const std::size_t max_threads_;
  std::mutex m_;
  std::condition_variable work_cv_;
  std::condition_variable exit_cv_;
  blocking_job* head_ = nullptr;
  blocking_job* tail_ = nullptr;
  std::size_t threads_ = 0;
  std::size_t queued_ = 0;  // jobs in the list head_..tail_
  std::size_t idle_ = 0;    // threads in work_cv_.wait_for, notified or not
  bool stopping_ = false;
};

}  // namespace spindle::detail
