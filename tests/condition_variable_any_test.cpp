// spindle::condition_variable_any: waits with spindle::shared_mutex (shared
// and exclusive), spindle::mutex, recursive_mutex and std::mutex on plain
// threads; exact delivery under stress, timed waits, a lock that cannot be
// released.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <mutex>
#include <shared_mutex>
#include <spindle/runtime.hpp>
#include <spindle/sync/condition_variable_any.hpp>
#include <spindle/sync/mutex.hpp>
#include <spindle/sync/recursive_mutex.hpp>
#include <spindle/sync/shared_mutex.hpp>
#include <system_error>
#include <thread>
#include <vector>

#include "test_support.hpp"

using namespace std::chrono_literals;
using spindle::test::scaled;
using spindle::test::two_workers;

namespace {

// Producers push under the exclusive lock; consumers wait under it too.
// Every value arrives exactly once.
template <class Mutex>
long long produce_consume(int producers, int per_producer) {
  spindle::runtime rt(two_workers());
  return rt.block_on([&] {
    Mutex m;
    spindle::condition_variable_any cv;
    std::deque<int> q;
    int finished = 0;
    std::vector<spindle::task<void>> ps;
    for (int p = 0; p < producers; ++p) {
      ps.push_back(spindle::spawn([&, p] {
        for (int i = 1; i <= per_producer; ++i) {
          std::unique_lock lk(m);
          q.push_back(p * per_producer + i);
          cv.notify_one();
        }
        std::unique_lock lk(m);
        ++finished;
        cv.notify_all();
      }));
    }
    std::vector<spindle::task<long long>> cs;
    for (int c = 0; c < 3; ++c) {
      cs.push_back(spindle::spawn([&] {
        long long sum = 0;
        std::unique_lock lk(m);
        for (;;) {
          cv.wait(lk, [&] { return !q.empty() || finished == producers; });
          if (q.empty()) return sum;
          sum += q.front();
          q.pop_front();
        }
      }));
    }
    for (auto& t : ps) t.join();
    long long total = 0;
    for (auto& t : cs) total += t.join();
    return total;
  });
}

long long expected_sum(long long n) {
  return n * (n + 1) / 2;
}

TEST(ConditionVariableAny, EveryValueOnceWithSpindleMutex) {
  const int per = scaled(20000, 2000);
  EXPECT_EQ(produce_consume<spindle::mutex>(4, per), expected_sum(4LL * per));
}

TEST(ConditionVariableAny, EveryValueOnceWithSharedMutexExclusive) {
  const int per = scaled(20000, 2000);
  EXPECT_EQ(produce_consume<spindle::shared_mutex>(4, per), expected_sum(4LL * per));
}

TEST(ConditionVariableAny, EveryValueOnceWithRecursiveMutex) {
  const int per = scaled(20000, 2000);
  EXPECT_EQ(produce_consume<spindle::recursive_mutex>(4, per), expected_sum(4LL * per));
}

TEST(ConditionVariableAny, ReadersWaitUnderASharedLock) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    spindle::shared_mutex sm;
    spindle::condition_variable_any cv;
    int generation = 0;
    std::atomic<int> woke{0};
    std::vector<spindle::task<void>> readers;
    for (int i = 0; i < 8; ++i) {
      readers.push_back(spindle::spawn([&] {
        std::shared_lock lk(sm);
        cv.wait(lk, [&] { return generation == 1; });
        EXPECT_TRUE(lk.owns_lock());
        woke.fetch_add(1);
      }));
    }
    {
      std::unique_lock lk(sm);  // taken only once no reader holds it
      generation = 1;
    }
    cv.notify_all();
    for (auto& r : readers) r.join();
    EXPECT_EQ(woke.load(), 8);
  });
}

TEST(ConditionVariableAny, TimedWaitsTimeOutAndHoldTheLockAgain) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    spindle::mutex m;
    spindle::condition_variable_any cv;
    std::unique_lock lk(m);
    EXPECT_EQ(cv.wait_for(lk, 5ms), std::cv_status::timeout);
    EXPECT_TRUE(lk.owns_lock());
    EXPECT_FALSE(cv.wait_until(lk, std::chrono::steady_clock::now() + 2ms, [] { return false; }));
    EXPECT_TRUE(lk.owns_lock());
    EXPECT_TRUE(cv.wait_for(lk, 0ms, [] { return true; }));
  });
}

TEST(ConditionVariableAny, ALockThatCannotBeReleasedThrowsAndLeavesNothingQueued) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    spindle::mutex m;
    spindle::condition_variable_any cv;
    std::unique_lock lk(m, std::defer_lock);  // owns nothing: unlock() throws
    EXPECT_EQ(spindle::test::error_code_of([&] { cv.wait(lk); }),
              std::errc::operation_not_permitted);
    cv.notify_all();  // would touch a dangling node if one had been left behind
    // The cv still works afterwards.
    std::unique_lock held(m);
    EXPECT_EQ(cv.wait_for(held, 1ms), std::cv_status::timeout);
  });
}

TEST(ConditionVariableAny, PlainThreadsWithStdMutex) {
  std::mutex m;
  spindle::condition_variable_any cv;
  bool ready = false;
  std::thread waiter([&] {
    std::unique_lock lk(m);
    cv.wait(lk, [&] { return ready; });
    EXPECT_TRUE(lk.owns_lock());
  });
  {
    std::lock_guard g(m);
    ready = true;
  }
  cv.notify_one();
  waiter.join();
}

}  // namespace
