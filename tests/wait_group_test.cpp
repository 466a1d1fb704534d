// spindle::wait_group: a tree of dynamically spawned fibers, reuse, plain
// threads, destruction right after wait, misuse.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <spindle/runtime.hpp>
#include <spindle/sync/wait_group.hpp>
#include <spindle/this_fiber.hpp>
#include <stdexcept>
#include <thread>

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
