// The cooperative budget (runtime/sched/coop_budget.hpp) on spawns: a fiber
// that spawns in a loop lets the fibers it made run every 128 spawns, a
// fork-join loop whose joins run the children inline never yields for it, and
// a fiber spawning for ever is still ended by ~runtime(). One worker each, so
// what runs when is certain.

#include <gtest/gtest.h>

#include <atomic>
#include <spindle/spindle.hpp>
#include <vector>

namespace {

TEST(CoopBudget, ASpawnLoopLetsTheFibersItMadeRunEvery128Spawns) {
  constexpr int spawns = 1000;
  spindle::runtime rt(spindle::options{.workers = 1});
  std::vector<int> ran_before(spawns);
  int ran = 0;
  rt.block_on([&] {
    std::vector<spindle::task<void>> tasks;
    tasks.reserve(spawns);
    for (int i = 0; i < spawns; ++i) {
      tasks.push_back(spindle::spawn([&] { ++ran; }));
      ran_before[static_cast<std::size_t>(i)] = ran;
    }
    for (auto& t : tasks) t.join();
  });
  EXPECT_EQ(ran, spawns);
  // Spawns 1-128 spend the budget; the 129th yields first, and the 128
  // fibers queued run before the loop goes on; then every 128 spawns again.
  for (int i = 0; i < spawns; ++i)
    ASSERT_EQ(ran_before[static_cast<std::size_t>(i)], i / 128 * 128) << "spawn " << i;
}

// Each join gives its spawn's unit back: fib-style code, whose children run
// inline on the joiner's stack, stays in one run slice, so a fiber ready
// meanwhile runs only after the loop.
TEST(CoopBudget, AJoinGivesBackWhatItsSpawnSpent) {
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
    EXPECT_EQ(done_when_other_ran, rounds) << "the fork-join loop yielded";
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
        struct note_unwind {
          std::atomic<bool>& unwound;
          ~note_unwind() { unwound = true; }
        } note{unwound};
        for (;;) {
          spindle::spawn([] {}).detach();
          ++spawned;
        }
      }).detach();
    while (spawned.load() < 10'000) std::this_thread::yield();
  }
  EXPECT_TRUE(unwound.load());
}

}  // namespace
