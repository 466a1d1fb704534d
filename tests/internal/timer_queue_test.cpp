// timer_queue (runtime/wait/timer_queue.hpp): the deadline heap. Deadlines
// are fixed time points and fire_due() is given its "now", so nothing here
// depends on the real clock.
#include "wait/timer_queue.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <random>
#include <vector>

#include "wait/thread_parker.hpp"

namespace {

using spindle::detail::clock;
using spindle::detail::thread_parker;
using spindle::detail::timer_entry;
using spindle::detail::timer_queue;
using spindle::detail::waiter;
using spindle::detail::wake;

clock::time_point at(clock::rep ticks) {
  return clock::time_point(clock::duration(ticks));
}
constexpr clock::time_point no_deadline = clock::time_point::max();

// A waiter (of this thread) with its timer entry, as waiter::wait_until sets
// it up.
struct timed {
  explicit timed(clock::time_point d) {
    entry.deadline = d;
    entry.owner = &w;
  }
  bool queued() const { return entry.heap_index != timer_entry::not_queued; }
  bool fired() const { return w.state() == wake::timed_out; }
  waiter w;
  timer_entry entry;
};

std::vector<std::unique_ptr<timed>> make(const std::vector<clock::rep>& ticks) {
  std::vector<std::unique_ptr<timed>> out;
  for (clock::rep t : ticks) out.push_back(std::make_unique<timed>(at(t)));
  return out;
}

// fire_due, then takes back the wake-up its unparks left for this thread
// (a thread parker holds one permit however many unparks it got).
std::size_t fire(timer_queue& q, clock::time_point now) {
  std::size_t n = q.fire_due(now);
  if (n) thread_parker::current().park();
  return n;
}

TEST(TimerQueue, AnEmptyQueueHasNoDeadline) {
  timer_queue q;
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.next_deadline(), no_deadline);
  EXPECT_EQ(fire(q, at(1'000'000)), 0u);
}

TEST(TimerQueue, AddReportsOnlyANewEarliestDeadline) {
  timer_queue q;
  auto t = make({50, 70, 30, 30, 90, 10});
  EXPECT_TRUE(q.add(t[0]->entry));   // 50: the first
  EXPECT_FALSE(q.add(t[1]->entry));  // 70
  EXPECT_TRUE(q.add(t[2]->entry));   // 30: earlier
  EXPECT_FALSE(q.add(t[3]->entry));  // 30 again: not earlier
  EXPECT_FALSE(q.add(t[4]->entry));  // 90
  EXPECT_TRUE(q.add(t[5]->entry));   // 10
  EXPECT_FALSE(q.empty());
  EXPECT_EQ(q.next_deadline(), at(10));
  for (auto& x : t) q.cancel(x->entry);
}

TEST(TimerQueue, FireDueWakesExactlyTheDueEntriesInDeadlineOrder) {
  timer_queue q;
  auto t = make({40, 10, 30, 20, 30, 50});
  for (auto& x : t) q.add(x->entry);
  EXPECT_EQ(fire(q, at(9)), 0u);
  EXPECT_EQ(fire(q, at(10)), 1u);  // a deadline equal to now is due
  EXPECT_TRUE(t[1]->fired());
  EXPECT_FALSE(t[1]->queued());
  EXPECT_EQ(q.next_deadline(), at(20));
  EXPECT_EQ(fire(q, at(35)), 3u);  // 20, 30, 30
  EXPECT_TRUE(t[3]->fired() && t[2]->fired() && t[4]->fired());
  EXPECT_FALSE(t[0]->fired() || t[5]->fired());
  EXPECT_EQ(q.next_deadline(), at(40));
  EXPECT_EQ(fire(q, at(1000)), 2u);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.next_deadline(), no_deadline);
  for (auto& x : t) EXPECT_FALSE(x->queued());
}

TEST(TimerQueue, CancelOfTheHeadMovesTheNextDeadline) {
  timer_queue q;
  auto t = make({10, 20, 30});
  for (auto& x : t) q.add(x->entry);
  q.cancel(t[0]->entry);
  EXPECT_FALSE(t[0]->queued());
  EXPECT_EQ(q.next_deadline(), at(20));
  EXPECT_EQ(fire(q, at(1000)), 2u);
  EXPECT_FALSE(t[0]->fired());  // a cancelled entry is never claimed
  EXPECT_EQ(t[0]->w.state(), wake::pending);
}

TEST(TimerQueue, CancelOfAMiddleOrTheLastEntryKeepsTheOrder) {
  timer_queue q;
  auto t = make({10, 20, 30, 40, 50, 60, 70});
  for (auto& x : t) q.add(x->entry);
  q.cancel(t[3]->entry);  // the middle
  q.cancel(t[6]->entry);  // the latest, and the last slot of the heap
  EXPECT_EQ(q.next_deadline(), at(10));
  for (clock::rep now : {10, 20, 30, 50, 60}) {
    EXPECT_EQ(fire(q, at(now)), 1u) << now;
  }
  EXPECT_TRUE(q.empty());
  EXPECT_FALSE(t[3]->fired() || t[6]->fired());
}

TEST(TimerQueue, CancelOfTheOnlyEntryEmptiesTheQueue) {
  timer_queue q;
  timed a(at(5));
  q.add(a.entry);
  q.cancel(a.entry);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.next_deadline(), no_deadline);
}

TEST(TimerQueue, CancelOfAnEntryNotQueuedChangesNothing) {
  timer_queue q;
  auto t = make({10, 20});
  q.add(t[1]->entry);
  q.cancel(t[0]->entry);  // never added
  EXPECT_EQ(q.next_deadline(), at(20));
  EXPECT_EQ(fire(q, at(20)), 1u);
  q.cancel(t[1]->entry);  // fired already
  q.cancel(t[1]->entry);
  EXPECT_TRUE(q.empty());
}

TEST(TimerQueue, ACancelledEntryCanBeAddedAgain) {
  timer_queue q;
  timed a(at(10));
  timed b(at(20));
  q.add(a.entry);
  q.add(b.entry);
  q.cancel(a.entry);
  a.entry.deadline = at(30);
  EXPECT_FALSE(q.add(a.entry));  // 20 is still the earliest
  EXPECT_EQ(q.next_deadline(), at(20));
  EXPECT_EQ(fire(q, at(25)), 1u);
  EXPECT_TRUE(b.fired());
  EXPECT_FALSE(a.fired());
  EXPECT_EQ(q.next_deadline(), at(30));
  EXPECT_EQ(fire(q, at(30)), 1u);
  EXPECT_TRUE(a.fired());
}

TEST(TimerQueue, ExtremeDeadlines) {
  timer_queue q;
  timed earliest(clock::time_point::min());
  timed latest(no_deadline - clock::duration(1));
  timed never(no_deadline);
  q.add(never.entry);
  // An entry at no_deadline never comes due: next_deadline stays "none".
  EXPECT_EQ(q.next_deadline(), no_deadline);
  EXPECT_TRUE(q.add(latest.entry));
  EXPECT_TRUE(q.add(earliest.entry));
  EXPECT_EQ(q.next_deadline(), clock::time_point::min());
  EXPECT_EQ(fire(q, at(0)), 1u);
  EXPECT_TRUE(earliest.fired());
  EXPECT_EQ(q.next_deadline(), no_deadline - clock::duration(1));
  EXPECT_EQ(fire(q, no_deadline - clock::duration(2)), 0u);
  EXPECT_EQ(fire(q, no_deadline - clock::duration(1)), 1u);
  EXPECT_TRUE(latest.fired());
  EXPECT_EQ(q.next_deadline(), no_deadline);
  q.cancel(never.entry);
  EXPECT_FALSE(never.queued());
  EXPECT_FALSE(never.fired());
  EXPECT_TRUE(q.empty());
}

TEST(TimerQueue, ManyDueEntriesFireInOneCall) {
  // More than fire_due claims per pass under the lock (64).
  timer_queue q;
  std::vector<clock::rep> ticks(300);
  for (std::size_t i = 0; i < ticks.size(); ++i) ticks[i] = static_cast<clock::rep>(i % 17);
  auto t = make(ticks);
  for (auto& x : t) q.add(x->entry);
  EXPECT_EQ(fire(q, at(16)), 300u);
  for (auto& x : t) EXPECT_TRUE(x->fired());
  EXPECT_TRUE(q.empty());
}

// Random adds and cancels against a sorted model: every fire_due claims
// exactly the entries the model says are due, and next_deadline always
// equals the model's earliest.
TEST(TimerQueue, MatchesASortedModelUnderRandomAddsAndCancels) {
  std::mt19937 rng(1234);
  timer_queue q;
  std::vector<std::unique_ptr<timed>> all;
  std::vector<timed*> model;  // queued entries
  auto earliest = [&] {
    clock::time_point m = no_deadline;
    for (timed* x : model) m = std::min(m, x->entry.deadline);
    return m;
  };
  clock::rep now = 0;
  for (int step = 0; step < 3000; ++step) {
    switch (rng() % 4) {
      case 0:
      case 1: {
        all.push_back(std::make_unique<timed>(at(now + 1 + static_cast<clock::rep>(rng() % 500))));
        timed* x = all.back().get();
        const bool earlier = x->entry.deadline < earliest();
        ASSERT_EQ(q.add(x->entry), earlier);
        model.push_back(x);
        break;
      }
      case 2:
        if (!model.empty()) {
          std::size_t i = rng() % model.size();
          q.cancel(model[i]->entry);
          ASSERT_FALSE(model[i]->queued());
          model.erase(model.begin() + static_cast<std::ptrdiff_t>(i));
        }
        break;
      case 3: {
        now += static_cast<clock::rep>(rng() % 50);
        std::size_t due = 0;
        for (timed* x : model) due += x->entry.deadline <= at(now);
        ASSERT_EQ(fire(q, at(now)), due);
        std::erase_if(model, [&](timed* x) {
          EXPECT_EQ(x->fired(), x->entry.deadline <= at(now));
          return x->fired();
        });
        break;
      }
    }
    ASSERT_EQ(q.next_deadline(), earliest()) << "step " << step;
  }
  for (timed* x : model) q.cancel(x->entry);
  EXPECT_TRUE(q.empty());
}

}  // namespace
