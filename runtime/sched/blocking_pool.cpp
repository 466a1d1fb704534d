#include "sched/blocking_pool.hpp"

#include "sched/thread_start.hpp"

#include <spindle/detail/waiter.hpp>

#include <chrono>
#include <thread>

namespace spindle::detail {

namespace {
constexpr auto idle_timeout = std::chrono::seconds(10);
// The pool whose thread this is, or null.
thread_local const blocking_pool* this_threads_pool = nullptr;
}  // namespace

bool blocking_pool::runs_on_this_thread() const noexcept {
  return this_threads_pool == this;
}

void blocking_pool::stop() {
  std::unique_lock<std::mutex> g(m_);
  stopping_ = true;
  work_cv_.notify_all();
  exit_cv_.wait(g, [&] { return threads_ == 0; });
}

void blocking_pool::submit(blocking_job& job) {
  std::unique_lock<std::mutex> g(m_);
  if (stopping_) {
    g.unlock();
    job.run_and_finish();
    return;
  }
  // Each idle thread takes one queued job when it wakes (idle_ counts the
  // notified ones until they hold m_ again), so a job no idle thread will
  // take needs a new thread: comparing idle_ with 0 alone queued a second
  // call behind the first whenever two came before the woken thread ran.
  if (queued_ >= idle_ && threads_ < max_threads_) {
    // A thread that cannot be created (thread limit: std::system_error,
    // EAGAIN) changes nothing here. With a thread running, the job is queued
    // anyway: every counted thread looks at the queue before it exits, so a
    // busy one takes the job when its call returns. With none, the caller
    // gets the exception and the job is never queued (the caller drops the
    // pool's reference to it). The new thread needs m_
    // before it looks at anything, so counting it after the start is safe.
    try {
      start_thread([this] { thread_main(); }).detach();
      ++threads_;
    } catch (...) {
      if (threads_ == 0) throw;
    }
  }
  job.next = nullptr;
  if (tail_) tail_->next = &job; else head_ = &job;
  tail_ = &job;
  ++queued_;
  if (idle_ > 0) work_cv_.notify_one();
}

blocking_pool::counts blocking_pool::current_counts() {
  std::lock_guard<std::mutex> g(m_);
  return counts{threads_, queued_, idle_};
}

void blocking_pool::thread_main() {
  name_this_thread("spindle-blk");
  this_threads_pool = this;
  std::unique_lock<std::mutex> g(m_);
  for (;;) {
    if (blocking_job* job = head_) {
      head_ = job->next;
      if (!head_) tail_ = nullptr;
      --queued_;
      g.unlock();
      job->run_and_finish();  // last touch of the job: it may be deleted now
      g.lock();
      continue;
    }
    if (stopping_) break;
    ++idle_;
    bool woke = work_cv_.wait_for(g, idle_timeout, [&] { return head_ || stopping_; });
    --idle_;
    if (!woke) break;
  }
  // The destructor may return (and free *this) as soon as it sees threads_ == 0
  // under the lock, so notify while still holding it.
  --threads_;
  exit_cv_.notify_all();
}

}  // namespace spindle::detail
