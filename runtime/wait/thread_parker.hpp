// thread_parker: how a plain OS thread blocks on a spindle primitive.
//
// One per thread (thread_local), so it outlives every wait of its thread and
// an unpark can never touch freed memory. A binary "permit", as Rust's
// thread::park: unpark() sets it and wakes the thread; park() consumes it.
// Waits are claimed exactly once (waiter.hpp), so one unpark answers one park.
#pragma once

#include <spindle/detail/waiter.hpp>

#include <condition_variable>
#include <mutex>

namespace spindle::detail {

class thread_parker {
 public:
  // The calling thread's parker.
  static thread_parker& current() noexcept;

  void park() {
    std::unique_lock<std::mutex> g(m_);
    cv_.wait(g, [&] { return permit_; });
    permit_ = false;
  }
  // Returns false if the deadline passed without a permit.
  bool park_until(clock::time_point deadline) {
    std::unique_lock<std::mutex> g(m_);
    if (!cv_.wait_until(g, deadline, [&] { return permit_; })) return false;
    permit_ = false;
    return true;
  }
  void unpark() noexcept {
    std::lock_guard<std::mutex> g(m_);
    permit_ = true;
    cv_.notify_one();
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  // Guarded by m_; unchecked: libstdc++'s std::mutex carries no thread-safety
  // attributes, and condition_variable needs it in a std::unique_lock.
  bool permit_ = false;
};

}  // namespace spindle::detail
