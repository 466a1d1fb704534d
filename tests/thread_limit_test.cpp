// The thread limit: a worker or run_blocking() pool thread that cannot be
// created (pthread_create fails with EAGAIN, std::thread throws
// std::system_error with errc::resource_unavailable_try_again).
//
// The failure is injected through spindle::detail::thread_start_hook, which
// every thread the library creates passes (runtime/sched/thread_start.hpp). A real
// limit is not sound here: these tests may run as root, which RLIMIT_NPROC
// does not bind; a cgroup needs privileges; and a real limit would also stop
// the sanitizer runtimes' own threads and other processes of the same user.
// The hook throws exactly what std::thread's constructor throws at the limit.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <spindle/runtime.hpp>
#include <spindle/this_fiber.hpp>
#include <string>
#include <system_error>
#include <thread>

#include "sched/thread_start.hpp"

using namespace std::chrono_literals;

namespace {

// Thread creations seen by the hook, and from which one (1-based) it fails.
std::atomic<int> creations{0};
std::atomic<int> fail_from{1};

void failing_thread_start() {
  if (creations.fetch_add(1) + 1 >= fail_from.load())
    throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again),
                            "thread limit (injected)");
}

// Thread creation fails from the n-th creation on while this exists.
class thread_limit {
 public:
  explicit thread_limit(int fail_from_creation) {
    creations = 0;
    fail_from = fail_from_creation;
    spindle::detail::thread_start_hook.store(&failing_thread_start);
  }
  ~thread_limit() { spindle::detail::thread_start_hook.store(nullptr); }
  thread_limit(const thread_limit&) = delete;
  thread_limit& operator=(const thread_limit&) = delete;
};

// The process's thread count, from the kernel.
int threads_in_process() {
  std::ifstream status("/proc/self/status");
  std::string key;
  while (status >> key) {
    if (key == "Threads:") {
      int n = 0;
      status >> n;
      return n;
    }
  }
  return -1;
}

const std::error_code thread_limit_error =
    std::make_error_code(std::errc::resource_unavailable_try_again);

}  // namespace

TEST(ThreadLimit, WorkerThatCannotStartFailsTheConstructorAndJoinsTheOthers) {
  { spindle::runtime warm_up(spindle::options{.workers = 4}); }  // sanitizers' lazy threads
  const int baseline = threads_in_process();
  ASSERT_GT(baseline, 0);
  for (int failing = 1; failing <= 4; ++failing) {
    std::error_code code;
    {
      thread_limit limit(failing);
      try {
        spindle::runtime rt(spindle::options{.workers = 4});
        ADD_FAILURE() << "the constructor returned although worker " << failing
                      << " could not start";
      } catch (const std::system_error& e) {
        code = e.code();
      }
      EXPECT_EQ(creations.load(), failing) << "no thread is tried after the first failure";
    }
    EXPECT_EQ(code, thread_limit_error) << "failing creation " << failing;
    // The workers that did start were stopped and joined.
    EXPECT_EQ(threads_in_process(), baseline) << "failing creation " << failing;
  }
  // Nothing was left behind: a runtime works as usual afterwards.
  spindle::runtime rt(spindle::options{.workers = 4});
  EXPECT_EQ(rt.block_on([] { return 7; }), 7);
}

TEST(ThreadLimit, RunBlockingWithoutAnyPoolThreadThrowsAndTheRuntimeStillStops) {
  spindle::runtime rt(spindle::options{.workers = 2});
  bool ran = false;  // read only after block_on: the job must not have run
  std::error_code code;
  {
    thread_limit limit(1);
    code = rt.block_on([&] {
      try {
        spindle::run_blocking([&] { ran = true; });
      } catch (const std::system_error& e) {
        return e.code();
      }
      return std::error_code();
    });
    EXPECT_EQ(creations.load(), 1);
  }
  EXPECT_EQ(code, thread_limit_error);
  EXPECT_FALSE(ran);
  // The failed start left nothing queued or counted: the pool works now, and
  // ~runtime() (end of scope) returns instead of waiting for a ghost thread.
  EXPECT_EQ(rt.block_on([] { return spindle::run_blocking([] { return 5; }); }), 5);
}

TEST(ThreadLimit, RunBlockingGoesToABusyPoolThreadWhenNoNewOneStarts) {
  spindle::runtime rt(spindle::options{.workers = 2});
  std::atomic<bool> first_running{false};
  std::atomic<bool> release_first{false};
  std::thread::id first_thread;
  std::thread::id second_thread;
  // The pool's only thread is busy with the first job until released.
  auto first = rt.spawn([&] {
    spindle::run_blocking([&] {
      first_thread = std::this_thread::get_id();
      first_running = true;
      while (!release_first.load()) std::this_thread::sleep_for(100us);
    });
  });
  while (!first_running.load()) std::this_thread::sleep_for(100us);
  int result = 0;
  {
    thread_limit limit(1);
    auto second = rt.spawn([&] {
      return spindle::run_blocking([&] {
        second_thread = std::this_thread::get_id();
        return 11;
      });
    });
    // The hook has run (under the pool's lock, so the second job is queued
    // before the busy thread can look at the queue again): release the first.
    for (int i = 0; i < 100'000 && creations.load() == 0; ++i) std::this_thread::sleep_for(100us);
    EXPECT_EQ(creations.load(), 1) << "the second job should have tried to start a thread";
    release_first = true;
    result = second.join();
    EXPECT_EQ(creations.load(), 1);
  }
  first.join();
  EXPECT_EQ(result, 11);
  EXPECT_EQ(second_thread, first_thread);
}
