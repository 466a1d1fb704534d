// The cooperative budget (runtime/sched/coop_budget.hpp) on spawns: a spawn
// loop cannot pile up fibers without bound, a fork-join loop never yields for
// it, and a fiber spawning for ever is still ended by ~runtime(). One worker
// each, so what runs when is certain.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <spindle/spindle.hpp>
#include <vector>

namespace {

// One worker: nothing runs the spawned fibers but the spawning fiber's yields.
// Spawned fibers pile up in the global queue; once 16,384 wait there
// (worker::spawn_backlog) the spawn that finds the budget spent yields, and
// the queue drains before the loop goes on. So at most 16,384 + a ring (256)
// + a budget (128) wait at once; without the budget, all 40,000 did.
TEST(CoopBudget, ASpawnLoopCannotPileUpFibersWithoutBound) {
  constexpr int spawns = 40'000;
  constexpr int bound = 16'384 + 256 + 128;
  // No stall monitor: its spare thread would run the queued fibers too.
  spindle::runtime rt(
      spindle::options{.workers = 1, .stall_threshold = std::chrono::milliseconds(0)});
  int ran = 0;
  int most_waiting = 0;
  rt.block_on([&] {
    spindle::wait_group wg;
    wg.add(spawns);
    for (int i = 0; i < spawns; ++i) {
      spindle::spawn([&] {
        ++ran;
        wg.done();
      }).detach();
      most_waiting = std::max(most_waiting, i + 1 - ran);
    }
    wg.wait();
  });
  EXPECT_EQ(ran, spawns);
  EXPECT_LE(most_waiting, bound);
  EXPECT_GT(most_waiting, 16'384) << "yielded before the backlog";
}

// A loop that spawns a few fibers and joins them (fork-join) never builds a
// backlog, so it never yields for the budget: a fiber ready meanwhile runs
// only after the loop (one worker).
TEST(CoopBudget, ForkJoinNeverYields) {
  constexpr int rounds = 1000;
  spindle::runtime rt(spindle::options{.workers = 1});
  rt.block_on([&] {
    int done = 0;
    int done_when_other_ran = -1;
    auto other = spindle::spawn([&] { done_when_other_ran = done; });
    for (int i = 0; i < rounds; ++i) {
      EXPECT_EQ(spindle::spawn([i] { return i; }).join(), i);
      ++done;
    }
    other.join();
    EXPECT_EQ(done_when_other_ran, rounds);
  });
}

// Before the budget a fiber that only spawns never waited, so nothing could
// unwind it and ~runtime() waited for it for ever.
TEST(CoopBudget, AFiberSpawningForEverIsEndedByTheRuntimesEnd) {
  std::atomic<long> spawned{0};
  std::atomic<bool> unwound{false};
  {
    spindle::runtime rt(spindle::options{.workers = 1});
    rt.spawn([&] {
        // For ever, but for a bound: if the budget failed to end it, the
        // test fails (unwound stays false) instead of filling memory.
        try {
          while (spawned.load() < 2'000'000) {
            spindle::spawn([] {}).detach();
            ++spawned;
          }
        } catch (...) {
          unwound = true;  // the runtime's unwind, which must go on
          throw;
        }
      }).detach();
    while (spawned.load() < 10'000) std::this_thread::yield();
  }
  EXPECT_TRUE(unwound.load());
}

}  // namespace
