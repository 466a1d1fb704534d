// spindle::latch: release of every waiter at zero, fresh latches phase after
// phase, fibers and threads together, destruction right after wait, misuse.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <spindle/runtime.hpp>
#include <spindle/sync/latch.hpp>
#include <spindle/this_fiber.hpp>
#include <stdexcept>
#include <thread>
#include <vector>

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
