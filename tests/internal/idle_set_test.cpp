// idle_set (runtime/sched/idle_set.hpp): the parked / searching bookkeeping
// behind "wake one worker, and only when nobody is searching already".
// The tests play the workers' part with plain indices and threads.
#include "sched/idle_set.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "test_support.hpp"

namespace {

using spindle::detail::idle_set;

TEST(IdleSet, NobodyToNotifyWhileEveryWorkerRuns) {
  idle_set s(4);
  EXPECT_EQ(s.worker_to_notify(), -1);
  EXPECT_EQ(s.any_sleeper(), -1);
}

TEST(IdleSet, ANotifiedSleeperWakesSearchingAndKnowsItWasChosen) {
  idle_set s(4);
  EXPECT_FALSE(s.park(2, /*was_searching=*/false));
  EXPECT_EQ(s.any_sleeper(), 2);  // listed, and stays listed
  EXPECT_EQ(s.any_sleeper(), 2);
  EXPECT_EQ(s.worker_to_notify(), 2);
  EXPECT_EQ(s.any_sleeper(), -1);  // unlisted by the notify
  // It now counts as searching, so nobody else is woken for more work...
  EXPECT_FALSE(s.park(3, false));
  EXPECT_EQ(s.worker_to_notify(), -1);
  // ...until it wakes (chosen) and stops searching, as the last searcher.
  EXPECT_TRUE(s.unpark_self(2));
  EXPECT_TRUE(s.stop_searching());
  EXPECT_EQ(s.worker_to_notify(), 3);
  EXPECT_TRUE(s.unpark_self(3));
  EXPECT_TRUE(s.stop_searching());
  EXPECT_EQ(s.worker_to_notify(), -1);
}

TEST(IdleSet, ASleeperThatWakesOnItsOwnUnlistsItselfAndIsNotSearching) {
  idle_set s(2);
  EXPECT_FALSE(s.park(1, false));
  EXPECT_FALSE(s.unpark_self(1));  // timer or spurious: not chosen
  EXPECT_EQ(s.any_sleeper(), -1);
  EXPECT_EQ(s.worker_to_notify(), -1);  // every worker runs again
  // Nor is it searching: one of the two workers may start to (at most half
  // search), the second is refused.
  EXPECT_TRUE(s.try_start_searching());
  EXPECT_FALSE(s.try_start_searching());
  EXPECT_TRUE(s.stop_searching());
}

TEST(IdleSet, AtMostHalfTheWorkersSearch) {
  idle_set s(5);
  EXPECT_TRUE(s.try_start_searching());
  EXPECT_TRUE(s.try_start_searching());
  EXPECT_TRUE(s.try_start_searching());   // 2 * 2 < 5
  EXPECT_FALSE(s.try_start_searching());  // 2 * 3 >= 5
  EXPECT_FALSE(s.stop_searching());
  EXPECT_FALSE(s.stop_searching());
  EXPECT_TRUE(s.stop_searching());  // the last one out
}

TEST(IdleSet, TheLastSearcherToParkIsTold) {
  idle_set s(4);
  ASSERT_TRUE(s.try_start_searching());
  ASSERT_TRUE(s.try_start_searching());
  EXPECT_FALSE(s.park(0, /*was_searching=*/true));   // another still searches
  EXPECT_TRUE(s.park(1, /*was_searching=*/true));    // it must re-check the queues
  EXPECT_FALSE(s.park(2, /*was_searching=*/false));  // was not searching at all
  // Nobody searches now: a notify wakes the most recent sleeper.
  EXPECT_EQ(s.worker_to_notify(), 2);
  EXPECT_EQ(s.worker_to_notify(), -1);  // 2 is searching now
}

TEST(IdleSet, EverySleeperIsNotifiedOnceWhenNobodySearches) {
  constexpr std::uint32_t n = 8;
  idle_set s(n);
  for (std::uint32_t i = 0; i < n; ++i) EXPECT_FALSE(s.park(i, false));
  std::vector<int> woken;
  for (std::uint32_t i = 0; i < n; ++i) {
    int w = s.worker_to_notify();
    ASSERT_GE(w, 0);
    woken.push_back(w);
    EXPECT_TRUE(s.unpark_self(static_cast<std::uint32_t>(w)));
    EXPECT_TRUE(s.stop_searching());
  }
  EXPECT_EQ(s.worker_to_notify(), -1);
  std::sort(woken.begin(), woken.end());
  for (std::uint32_t i = 0; i < n; ++i) EXPECT_EQ(woken[i], static_cast<int>(i));
}

// Worker threads park and wake on their own, or are chosen by a notifier
// thread, over and over. Whoever wins the race for a sleeper, the books must
// agree: every sleeper the notifier chose learns it was chosen (and then
// counts as searching), every other wake is its own, nobody stays listed,
// and no searcher or parked worker is left over at the end.
TEST(IdleSet, ConcurrentParkNotifyAndSelfWakeKeepExactBooks) {
  constexpr std::uint32_t workers = 3;
  const int rounds = spindle::test::scaled(20'000, 1'000);
  idle_set s(workers);
  std::atomic<int> chosen_by_notifier[workers];
  for (auto& c : chosen_by_notifier) c.store(0);
  std::atomic<bool> done{false};

  std::thread notifier([&] {
    while (!done.load(std::memory_order_acquire)) {
      int w = s.worker_to_notify();
      if (w >= 0)
        chosen_by_notifier[w].fetch_add(1, std::memory_order_relaxed);
      else
        std::this_thread::yield();
    }
  });

  int learned_chosen[workers] = {};
  std::vector<std::thread> ts;
  for (std::uint32_t i = 0; i < workers; ++i) {
    ts.emplace_back([&, i] {
      for (int r = 0; r < rounds; ++r) {
        s.park(i, /*was_searching=*/false);
        if (r % 3 == 0) std::this_thread::yield();  // give the notifier a chance
        if (s.unpark_self(i)) {
          ++learned_chosen[i];
          s.stop_searching();  // a chosen worker wakes searching
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  done.store(true, std::memory_order_release);
  notifier.join();

  for (std::uint32_t i = 0; i < workers; ++i)
    EXPECT_EQ(learned_chosen[i], chosen_by_notifier[i].load()) << "worker " << i;
  EXPECT_EQ(s.any_sleeper(), -1);
  EXPECT_EQ(s.worker_to_notify(), -1);  // all unparked: nothing to wake
  // Nobody is left searching: two of the three may start (2 * 1 < 3).
  EXPECT_TRUE(s.try_start_searching());
  EXPECT_TRUE(s.try_start_searching());
  EXPECT_FALSE(s.try_start_searching());
  EXPECT_FALSE(s.stop_searching());
  EXPECT_TRUE(s.stop_searching());
}

}  // namespace
