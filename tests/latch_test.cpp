// spindle::latch: release of every waiter at zero, fresh latches phase after
// phase, fibers and threads together, destruction right after wait, misuse,
// timed waits (timeouts, extremes, timeouts racing the last count_down).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <spindle/runtime.hpp>
#include <spindle/sync/latch.hpp>
#include <spindle/this_fiber.hpp>
#include <stdexcept>
#include <thread>
#include <vector>

#include "sync_support.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using spindle::test::scaled;
using spindle::test::two_workers;

TEST(Latch, NobodyPassesBeforeEveryoneArrived) {
  spindle::runtime rt(two_workers());
  const int fibers = 100;
  const int threads = 2;
  spindle::latch l(fibers + threads);
  std::atomic<int> arrived{0};
  std::atomic<int> early{0};
  auto party = [&] {
    arrived.fetch_add(1);
    l.arrive_and_wait();
    if (arrived.load() != fibers + threads) early.fetch_add(1);
  };
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) ts.emplace_back(party);
  rt.block_on([&] {
    std::vector<spindle::task<void>> tasks;
    for (int f = 0; f < fibers; ++f) tasks.push_back(spindle::spawn(party));
    for (auto& t : tasks) t.join();
  });
  for (auto& t : ts) t.join();
  EXPECT_EQ(early.load(), 0);
  EXPECT_TRUE(l.try_wait());
}

TEST(Latch, ManyPhasesWithAFreshLatchEach) {
  spindle::runtime rt(two_workers());
  const int phases = scaled(300, 50);
  const int parties = 10;
  rt.block_on([&] {
    for (int p = 0; p < phases; ++p) {
      spindle::latch l(parties);
      std::atomic<int> counted{0};
      std::vector<spindle::task<void>> tasks;
      for (int i = 0; i < parties; ++i) {
        tasks.push_back(spindle::spawn([&] {
          counted.fetch_add(1);
          l.count_down();
        }));
      }
      l.wait();
      EXPECT_EQ(counted.load(), parties);
      for (auto& t : tasks) t.join();
    }
  });
}

TEST(Latch, TryWaitAndCountDownByMore) {
  spindle::latch l(5);
  EXPECT_FALSE(l.try_wait());
  l.count_down(3);
  EXPECT_FALSE(l.try_wait());
  l.count_down(0);
  l.count_down(2);
  EXPECT_TRUE(l.try_wait());
  l.wait();  // returns at once

  spindle::latch zero(0);
  EXPECT_TRUE(zero.try_wait());
  zero.wait();
}

TEST(Latch, ThreadWaitsForFibers) {
  spindle::runtime rt(two_workers());
  spindle::latch l(20);
  for (int i = 0; i < 20; ++i) {
    rt.spawn([&] {
        spindle::this_fiber::sleep_for(1ms);
        l.count_down();
      }).detach();
  }
  l.wait();
  EXPECT_TRUE(l.try_wait());
}

TEST(Latch, DestroyedByTheReleasedWaiter) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    for (int r = 0; r < scaled(2000, 300); ++r) {
      auto* l = new spindle::latch(2);
      auto a = spindle::spawn([l] { l->count_down(); });
      auto waiter = spindle::spawn([l] {
        l->arrive_and_wait();
        delete l;  // the count_down that released us no longer touches it
      });
      a.join();
      waiter.join();
    }
  });
}

TEST(Latch, MisuseThrows) {
  EXPECT_THROW(spindle::latch(-1), std::invalid_argument);
  spindle::latch l(2);
  EXPECT_THROW(l.count_down(-1), std::invalid_argument);
  EXPECT_THROW(l.count_down(3), std::logic_error);
  EXPECT_FALSE(l.try_wait());  // the failed count_down changed nothing
  l.count_down(2);
  EXPECT_TRUE(l.try_wait());
  EXPECT_THROW(l.count_down(), std::logic_error);
}

// wait_for/wait_until: a released wait returns true, a timed-out one false,
// and the timed-out waiter is gone: the count_down that reaches zero later
// still releases the waiter queued beside it.
TEST(Latch, TimedWaitTimesOutAndLeavesTheOthersQueued) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    spindle::latch l(1);
    auto patient = spindle::test::spawn_started([&] { return l.wait_for(1h); });
    EXPECT_FALSE(l.wait_for(1ms));
    EXPECT_FALSE(l.wait_until(std::chrono::steady_clock::now() + 1ms));
    EXPECT_FALSE(l.wait_until(std::chrono::system_clock::now() + 1ms));
    EXPECT_FALSE(patient.done());
    l.count_down();
    EXPECT_TRUE(patient.join());
    EXPECT_TRUE(l.wait_for(0s));  // zero: true at once, also with no time at all
    EXPECT_TRUE(l.wait_until(std::chrono::steady_clock::time_point::min()));
  });
}

TEST(Latch, TimedWaitOnAPlainThread) {
  spindle::runtime rt(two_workers());
  spindle::latch l(1);
  EXPECT_FALSE(l.wait_for(1ms));
  std::thread patient([&] { EXPECT_TRUE(l.wait_until(std::chrono::steady_clock::now() + 1h)); });
  rt.spawn([&] {
      spindle::this_fiber::sleep_for(1ms);
      l.count_down();
    }).join();
  patient.join();
  EXPECT_TRUE(l.wait_for(1ms));
}

// The extremes saturate as for every timed wait: no time, or a time before
// the clock's epoch, is "now"; duration::max() is "no deadline"; NaN throws
// even when the count is already zero.
TEST(Latch, TimedWaitExtremes) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    spindle::latch l(1);
    EXPECT_FALSE(l.wait_for(-1s));
    EXPECT_FALSE(l.wait_for(std::chrono::nanoseconds::min()));
    EXPECT_FALSE(l.wait_until(std::chrono::system_clock::time_point::min()));
    EXPECT_THROW(l.wait_for(std::chrono::duration<double>(NAN)), std::invalid_argument);
    auto forever =
        spindle::test::spawn_started([&] { return l.wait_for(std::chrono::nanoseconds::max()); });
    auto forever_too = spindle::test::spawn_started(
        [&] { return l.wait_until(std::chrono::system_clock::time_point::max()); });
    spindle::this_fiber::sleep_for(1ms);
    EXPECT_FALSE(forever.done());
    EXPECT_FALSE(forever_too.done());
    l.count_down();
    EXPECT_TRUE(forever.join());
    EXPECT_TRUE(forever_too.join());
    EXPECT_THROW(l.wait_for(std::chrono::duration<double>(NAN)), std::invalid_argument);
    EXPECT_THROW(
        l.wait_until(
            std::chrono::time_point<std::chrono::steady_clock, std::chrono::duration<double>>(
                std::chrono::duration<double>(NAN))),
        std::invalid_argument);
  });
}

// Timeouts racing the count_down that reaches zero, 10,000 times (300
// under the sanitizers): every timed waiter returns exactly once, true only
// with the count at zero; the untimed waiter queued beside it is always
// released.
TEST(Latch, TimeoutsRaceTheLastCountDown) {
  spindle::runtime rt(two_workers());
  const int rounds = scaled(10000, 300);  // the sanitizers slow a round 20-100x
  std::atomic<long> released{0}, timed_out{0}, true_while_counting{0}, untimed_released{0};
  rt.block_on([&] {
    for (int r = 0; r < rounds; ++r) {
      spindle::latch l(1);
      auto untimed = spindle::spawn([&] {
        l.wait();
        untimed_released.fetch_add(1);
      });
      auto timed = spindle::spawn([&, r] {
        const bool ok = l.wait_for(std::chrono::microseconds(r % 20));
        (ok ? released : timed_out).fetch_add(1);
        if (ok && !l.try_wait()) true_while_counting.fetch_add(1);
      });
      auto counter = spindle::spawn([&, r] {
        if (r % 2) spindle::this_fiber::yield();
        l.count_down();
      });
      l.wait();
      counter.join();
      timed.join();
      untimed.join();
    }
  });
  EXPECT_EQ(released.load() + timed_out.load(), rounds);
  EXPECT_EQ(untimed_released.load(), rounds);
  EXPECT_EQ(true_while_counting.load(), 0);
}
