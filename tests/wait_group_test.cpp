// spindle::wait_group: a tree of dynamically spawned fibers, reuse, plain
// threads, destruction right after wait, misuse, timed waits (timeouts,
// extremes, timeouts racing the last done()).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <functional>
#include <spindle/runtime.hpp>
#include <spindle/sync/wait_group.hpp>
#include <spindle/this_fiber.hpp>
#include <stdexcept>
#include <thread>

#include "sync_support.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using spindle::test::scaled;
using spindle::test::two_workers;

namespace {

// Spawns a full tree of the given fan-out and depth; each node add()s its
// children before spawning them and is done() when its own work is.
void grow(spindle::wait_group& wg, std::atomic<long>& nodes, int fanout, int depth) {
  nodes.fetch_add(1, std::memory_order_relaxed);
  if (depth > 0) {
    wg.add(fanout);
    for (int i = 0; i < fanout; ++i) {
      spindle::spawn([&wg, &nodes, fanout, depth] { grow(wg, nodes, fanout, depth - 1); }).detach();
    }
  }
  if (depth % 2) spindle::this_fiber::yield();
  wg.done();
}

}  // namespace

TEST(WaitGroup, WaitsForDynamicallySpawnedFibers) {
  spindle::runtime rt(two_workers());
  const int fanout = 4;
  const int depth = scaled(6, 4);  // 5461 or 341 fibers
  long expected = 0;
  for (long level = 1, d = 0; d <= depth; ++d, level *= fanout) expected += level;
  std::atomic<long> nodes{0};
  rt.block_on([&] {
    spindle::wait_group wg;
    wg.add();
    spindle::spawn([&] { grow(wg, nodes, fanout, depth); }).detach();
    wg.wait();
    EXPECT_EQ(nodes.load(), expected);
  });
}

TEST(WaitGroup, ZeroDoesNotBlockAndTheGroupIsReusable) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    spindle::wait_group wg;
    wg.wait();
    for (int round = 0; round < 50; ++round) {
      std::atomic<int> finished{0};
      wg.add(3);
      for (int i = 0; i < 3; ++i) {
        spindle::spawn([&] {
          finished.fetch_add(1);
          wg.done();
        }).detach();
      }
      wg.wait();
      EXPECT_EQ(finished.load(), 3);
    }
  });
}

TEST(WaitGroup, PlainThreadWaitsForFibersAndFiberWaitsForThreads) {
  spindle::runtime rt(two_workers());
  spindle::wait_group fibers_done;
  fibers_done.add(10);
  for (int i = 0; i < 10; ++i) {
    rt.spawn([&] {
        spindle::this_fiber::sleep_for(1ms);
        fibers_done.done();
      }).detach();
  }
  fibers_done.wait();

  spindle::wait_group threads_done;
  threads_done.add(2);
  auto waiter = rt.spawn([&] { threads_done.wait(); });
  std::thread a([&] { threads_done.done(); });
  std::thread b([&] { threads_done.done(); });
  waiter.join();
  a.join();
  b.join();
}

TEST(WaitGroup, DestroyedByTheReleasedWaiter) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    for (int r = 0; r < scaled(2000, 300); ++r) {
      auto* wg = new spindle::wait_group;
      wg->add(2);
      spindle::spawn([wg] { wg->done(); }).detach();
      spindle::spawn([wg] { wg->done(); }).detach();
      wg->wait();
      delete wg;  // the done() that released us no longer touches it
    }
  });
}

TEST(WaitGroup, NegativeCounterThrows) {
  spindle::wait_group wg;
  EXPECT_THROW(wg.done(), std::logic_error);
  wg.add(2);
  EXPECT_THROW(wg.add(-3), std::logic_error);
  wg.add(-1);
  wg.done();
  EXPECT_THROW(wg.done(), std::logic_error);
  wg.wait();  // still zero: the failed calls changed nothing
}

// wait_for/wait_until: a released wait returns true, a timed-out one false,
// and the timed-out waiter is gone: the done() that reaches zero later still
// releases the waiter queued beside it. The group stays reusable.
TEST(WaitGroup, TimedWaitTimesOutAndLeavesTheOthersQueued) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    spindle::wait_group wg;
    EXPECT_TRUE(wg.wait_for(0s));  // zero: true at once, also with no time at all
    for (int round = 0; round < 3; ++round) {
      wg.add(2);
      auto patient = spindle::test::spawn_started([&] { return wg.wait_for(1h); });
      EXPECT_FALSE(wg.wait_for(1ms));
      wg.done();
      EXPECT_FALSE(wg.wait_until(std::chrono::steady_clock::now() + 1ms));
      EXPECT_FALSE(wg.wait_until(std::chrono::system_clock::now() + 1ms));
      EXPECT_FALSE(patient.done());
      wg.done();
      EXPECT_TRUE(patient.join());
      EXPECT_TRUE(wg.wait_until(std::chrono::steady_clock::time_point::min()));
    }
  });
}

TEST(WaitGroup, TimedWaitOnAPlainThread) {
  spindle::runtime rt(two_workers());
  spindle::wait_group wg;
  wg.add();
  EXPECT_FALSE(wg.wait_for(1ms));
  std::thread patient([&] { EXPECT_TRUE(wg.wait_until(std::chrono::steady_clock::now() + 1h)); });
  rt.spawn([&] {
      spindle::this_fiber::sleep_for(1ms);
      wg.done();
    }).join();
  patient.join();
  EXPECT_TRUE(wg.wait_for(1ms));
}

// The extremes saturate as for every timed wait; NaN throws even when the
// counter is already zero.
TEST(WaitGroup, TimedWaitExtremes) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    spindle::wait_group wg;
    EXPECT_THROW(wg.wait_for(std::chrono::duration<double>(NAN)), std::invalid_argument);
    wg.add();
    EXPECT_FALSE(wg.wait_for(-1s));
    EXPECT_FALSE(wg.wait_for(std::chrono::hours::min()));
    EXPECT_FALSE(wg.wait_until(std::chrono::system_clock::time_point::min()));
    EXPECT_THROW(
        wg.wait_until(
            std::chrono::time_point<std::chrono::system_clock, std::chrono::duration<double>>(
                std::chrono::duration<double>(NAN))),
        std::invalid_argument);
    auto forever =
        spindle::test::spawn_started([&] { return wg.wait_for(std::chrono::hours::max()); });
    auto forever_too = spindle::test::spawn_started(
        [&] { return wg.wait_until(std::chrono::steady_clock::time_point::max()); });
    spindle::this_fiber::sleep_for(1ms);
    EXPECT_FALSE(forever.done());
    EXPECT_FALSE(forever_too.done());
    wg.done();
    EXPECT_TRUE(forever.join());
    EXPECT_TRUE(forever_too.join());
  });
}

// Timeouts racing the done() that reaches zero, 10,000 times (300 under
// the sanitizers): every timed waiter returns exactly once, true only with
// the counter at zero (nobody raises it again here); the untimed waiter
// queued beside it is always released.
TEST(WaitGroup, TimeoutsRaceTheLastDone) {
  spindle::runtime rt(two_workers());
  const int rounds = scaled(10000, 300);  // the sanitizers slow a round 20-100x
  std::atomic<long> released{0}, timed_out{0}, true_while_counting{0}, untimed_released{0};
  rt.block_on([&] {
    for (int r = 0; r < rounds; ++r) {
      spindle::wait_group wg;
      wg.add(2);
      auto untimed = spindle::spawn([&] {
        wg.wait();
        untimed_released.fetch_add(1);
      });
      auto timed = spindle::spawn([&, r] {
        const bool ok =
            wg.wait_until(std::chrono::steady_clock::now() + std::chrono::microseconds(r % 20));
        (ok ? released : timed_out).fetch_add(1);
        if (ok && !wg.wait_for(0s)) true_while_counting.fetch_add(1);
      });
      auto first = spindle::spawn([&] { wg.done(); });
      auto last = spindle::spawn([&, r] {
        if (r % 2) spindle::this_fiber::yield();
        wg.done();
      });
      wg.wait();
      first.join();
      last.join();
      timed.join();
      untimed.join();
    }
  });
  EXPECT_EQ(released.load() + timed_out.load(), rounds);
  EXPECT_EQ(untimed_released.load(), rounds);
  EXPECT_EQ(true_while_counting.load(), 0);
}
