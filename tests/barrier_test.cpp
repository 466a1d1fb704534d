// spindle::barrier: phase after phase with fibers and a thread, misuse.
#include <gtest/gtest.h>

#include <atomic>
#include <spindle/runtime.hpp>
#include <spindle/sync/barrier.hpp>
#include <spindle/this_fiber.hpp>
#include <stdexcept>
#include <thread>
#include <vector>

#include "test_support.hpp"

using spindle::test::scaled;

TEST(Barrier, EveryPhaseCompletesBeforeAnyPartyMovesOn) {
  spindle::runtime rt(spindle::options{.workers = 2});
  const int fibers = 15;
  const int parties = fibers + 1;  // plus a plain thread
  const int phases = scaled(500, 100);
  spindle::barrier b(parties);
  std::vector<std::atomic<int>> arrivals(static_cast<std::size_t>(phases));
  std::atomic<int> violations{0};
  auto party = [&](int id) {
    for (int p = 0; p < phases; ++p) {
      arrivals[static_cast<std::size_t>(p)].fetch_add(1);
      if ((p + id) % 5 == 0 && spindle::in_fiber()) spindle::this_fiber::yield();
      b.arrive_and_wait();
      // Every party has arrived in phase p, and none can have gone past p + 1.
      if (arrivals[static_cast<std::size_t>(p)].load() != parties) violations.fetch_add(1);
    }
  };
  std::thread t(party, fibers);
  rt.block_on([&] {
    std::vector<spindle::task<void>> tasks;
    for (int f = 0; f < fibers; ++f) tasks.push_back(spindle::spawn(party, f));
    for (auto& task : tasks) task.join();
  });
  t.join();
  EXPECT_EQ(violations.load(), 0);
  for (auto& a : arrivals) EXPECT_EQ(a.load(), parties);
}

TEST(Barrier, OnePartyNeverBlocks) {
  spindle::barrier b(1);
  for (int i = 0; i < 10; ++i) b.arrive_and_wait();
}

TEST(Barrier, FewerThanOnePartyThrows) {
  EXPECT_THROW(spindle::barrier(0), std::invalid_argument);
  EXPECT_THROW(spindle::barrier(-3), std::invalid_argument);
}
