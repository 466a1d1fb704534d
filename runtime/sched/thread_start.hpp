// start_thread: every OS thread spindle creates (workers, blocking pool) is
// started here, so that tests can make thread creation fail.
//
// At the thread limit (RLIMIT_NPROC, cgroup pids.max, kernel.threads-max)
// std::thread's constructor throws std::system_error with
// errc::resource_unavailable_try_again (EAGAIN from pthread_create). The
// runtime must survive that at every place it starts a thread, but a test
// cannot provoke it reliably: root ignores RLIMIT_NPROC, a cgroup needs
// privileges, and a real limit would also starve the sanitizers' own threads
// and every other process of the user. So the failure is injected here.
#pragma once

#include <atomic>
#include <thread>
#include <utility>

namespace spindle::detail {

// Test hook: when set, called before every thread spindle creates; it may
// throw what std::thread's constructor throws to simulate a failure. Null in
// production (one relaxed load per thread started, nowhere near a hot path).
// Tests set it only while no thread of theirs can be starting one, or accept
// that a thread starting concurrently sees either value.
extern std::atomic<void (*)()> thread_start_hook;

// Names the calling thread (at most 15 characters are kept), for top -H,
// gdb and perf.
void name_this_thread(const char* name) noexcept;

template <class F>
std::thread start_thread(F&& body) {
  if (auto hook = thread_start_hook.load(std::memory_order_relaxed)) hook();
  return std::thread(std::forward<F>(body));
}

}  // namespace spindle::detail
