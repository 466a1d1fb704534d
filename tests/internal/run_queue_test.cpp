// run_queue (runtime/sched/run_queue.hpp): the owner's push, pop and
// take_half against thieves' steal_into. The queue only stores fiber
// pointers and never follows them, so the items here are stand-in pointers
// into an array of counters: each slot counts how often its item was taken.
#include "sched/run_queue.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <spindle/detail/spinlock.hpp>
#include <thread>
#include <vector>

#include "test_support.hpp"

namespace {

using spindle::detail::fiber;
using spindle::detail::run_queue;
constexpr std::uint32_t capacity = run_queue::capacity;

// Stand-in fibers: item i is the address of slot i.
class items {
 public:
  explicit items(std::size_t n) : taken_(n) {}
  fiber* operator[](std::size_t i) { return reinterpret_cast<fiber*>(&taken_[i]); }
  std::size_t index(fiber* f) const {
    return static_cast<std::size_t>(reinterpret_cast<std::atomic<int>*>(f) - taken_.data());
  }
  // Records that f was taken (any thread).
  void take(fiber* f) { taken_[index(f)].fetch_add(1, std::memory_order_relaxed); }
  std::size_t size() const { return taken_.size(); }
  int times_taken(std::size_t i) const { return taken_[i].load(std::memory_order_relaxed); }

 private:
  std::vector<std::atomic<int>> taken_;
};

TEST(RunQueue, PopIsFifoAndTheRingHoldsExactlyCapacity) {
  items it(capacity + 1);
  run_queue q;
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.pop(), nullptr);
  for (std::uint32_t i = 0; i < capacity; ++i) ASSERT_TRUE(q.try_push(it[i]));
  EXPECT_EQ(q.size(), capacity);
  EXPECT_FALSE(q.try_push(it[capacity]));  // full: the caller overflows
  EXPECT_EQ(q.size(), capacity);
  for (std::uint32_t i = 0; i < capacity; ++i) ASSERT_EQ(q.pop(), it[i]);
  EXPECT_EQ(q.pop(), nullptr);
  EXPECT_TRUE(q.empty());
}

TEST(RunQueue, SlotsAreReusedAroundTheRing) {
  items it(10 * capacity);
  run_queue q;
  // Keep 100 items in flight while 10 capacities' worth pass through.
  std::size_t next_in = 0, next_out = 0;
  while (next_in < 100) ASSERT_TRUE(q.try_push(it[next_in++]));
  while (next_out < it.size()) {
    ASSERT_EQ(q.pop(), it[next_out++]);
    if (next_in < it.size()) {
      ASSERT_TRUE(q.try_push(it[next_in++]));
    }
  }
  EXPECT_TRUE(q.empty());
}

TEST(RunQueue, TakeHalfOfAFullRingTakesTheOlderHalfInOrder) {
  items it(capacity);
  run_queue q;
  for (std::uint32_t i = 0; i < capacity; ++i) ASSERT_TRUE(q.try_push(it[i]));
  std::vector<fiber*> out(capacity);
  ASSERT_EQ(q.take_half(out.data()), capacity / 2);
  for (std::uint32_t i = 0; i < capacity / 2; ++i) EXPECT_EQ(out[i], it[i]);
  EXPECT_EQ(q.size(), capacity / 2);
  for (std::uint32_t i = capacity / 2; i < capacity; ++i) ASSERT_EQ(q.pop(), it[i]);
  EXPECT_TRUE(q.empty());
}

TEST(RunQueue, TakeHalfOfARingWithRoomTakesNothing) {
  // The owner calls take_half only after try_push failed; with room left (a
  // thief made some) it takes nothing and the owner pushes again.
  items it(capacity);
  run_queue q;
  for (std::uint32_t i = 0; i + 1 < capacity; ++i) ASSERT_TRUE(q.try_push(it[i]));
  std::vector<fiber*> out(capacity);
  EXPECT_EQ(q.take_half(out.data()), 0u);
  EXPECT_EQ(q.size(), capacity - 1);
  EXPECT_TRUE(q.try_push(it[capacity - 1]));
}

TEST(RunQueue, StealMovesTheOlderHalfRoundedUpAndRunsTheNewestOfThem) {
  items it(10);
  run_queue victim, thief;
  for (std::size_t i = 0; i < 10; ++i) ASSERT_TRUE(victim.try_push(it[i]));
  // 5 of 10 move; the last one moved is returned to run at once.
  EXPECT_EQ(victim.steal_into(thief), it[4]);
  EXPECT_EQ(victim.size(), 5u);
  EXPECT_EQ(thief.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(thief.pop(), it[i]);
  for (std::size_t i = 5; i < 10; ++i) EXPECT_EQ(victim.pop(), it[i]);
}

TEST(RunQueue, StealOfOneItemReturnsItAndPublishesNothing) {
  items it(1);
  run_queue victim, thief;
  ASSERT_TRUE(victim.try_push(it[0]));
  EXPECT_EQ(victim.steal_into(thief), it[0]);
  EXPECT_TRUE(victim.empty());
  EXPECT_TRUE(thief.empty());
  EXPECT_EQ(victim.steal_into(thief), nullptr);  // nothing left to take
}

TEST(RunQueue, StealTakesNoMoreThanTheThiefHasRoomFor) {
  items it(2 * capacity);
  run_queue victim, thief;
  for (std::uint32_t i = 0; i < capacity; ++i) ASSERT_TRUE(victim.try_push(it[i]));
  for (std::uint32_t i = 0; i < capacity - 3; ++i) ASSERT_TRUE(thief.try_push(it[capacity + i]));
  // Half of the victim would be 128; the thief has room for 3.
  EXPECT_EQ(victim.steal_into(thief), it[2]);
  EXPECT_EQ(victim.size(), capacity - 3);
  EXPECT_EQ(thief.size(), capacity - 1);
  // A full thief steals nothing and the victim keeps everything.
  ASSERT_TRUE(thief.try_push(it[2]));
  EXPECT_EQ(victim.steal_into(thief), nullptr);
  EXPECT_EQ(victim.size(), capacity - 3);
}

// The owner pushes every item, pops some itself and, when the ring is full,
// moves the older half out as worker::push_overflow does; thieves steal into
// queues of their own and run what they took. Every item must be taken
// exactly once, by exactly one party.
TEST(RunQueue, EveryItemIsTakenExactlyOnceAgainstConcurrentThieves) {
  const std::size_t n = static_cast<std::size_t>(spindle::test::scaled(400'000, 100'000));
  constexpr int thieves = 2;
  items it(n);
  run_queue owner_q;
  std::atomic<bool> done{false};
  std::atomic<int> started{0};
  std::atomic<std::size_t> steals{0};  // successful steal_into calls so far
  std::atomic<std::size_t> stolen{0};

  std::vector<std::thread> ts;
  for (int t = 0; t < thieves; ++t) {
    ts.emplace_back([&] {
      run_queue mine;
      std::size_t count = 0;
      unsigned misses = 0;
      auto run_all_of_mine = [&] {
        while (fiber* f = mine.pop()) {
          it.take(f);
          ++count;
        }
      };
      started.fetch_add(1, std::memory_order_release);
      while (!done.load(std::memory_order_acquire)) {
        if (fiber* f = owner_q.steal_into(mine)) {
          steals.fetch_add(1, std::memory_order_relaxed);
          it.take(f);
          ++count;
          run_all_of_mine();
        } else if (++misses % 256 == 0) {
          std::this_thread::yield();  // the owner may be off the CPU
        } else {
          spindle::detail::cpu_relax();
        }
      }
      while (fiber* f = owner_q.steal_into(mine)) {  // what the owner left
        it.take(f);
        ++count;
        run_all_of_mine();
      }
      stolen.fetch_add(count, std::memory_order_relaxed);
    });
  }

  while (started.load(std::memory_order_acquire) < thieves) std::this_thread::yield();
  std::size_t popped = 0, overflowed = 0;
  std::vector<fiber*> half(capacity);
  // Bursts of 1 to 300 pushes (past a full ring at times), each followed by
  // half as many pops: the ring stays stocked for the thieves, whose grabs of
  // up to half of it race the owner's pops and take_half.
  std::size_t i = 0;
  std::size_t burst = 0;
  std::size_t steals_seen = 0;
  for (std::size_t round = 1; i < n; ++round) {
    burst = (burst * 7 + 13) % 300 + 1;
    for (std::size_t b = 0; b < burst && i < n; ++b, ++i) {
      while (!owner_q.try_push(it[i])) {
        std::uint32_t k = owner_q.take_half(half.data());
        if (k == 0) continue;  // a thief made room: push again
        for (std::uint32_t j = 0; j < k; ++j) it.take(half[j]);
        overflowed += k;
      }
    }
    for (std::size_t b = 0; b < burst / 2; ++b) {
      if (fiber* f = owner_q.pop()) {
        it.take(f);
        ++popped;
      }
    }
    // On a loaded machine the thieves may get no CPU at all while the owner
    // runs; every 32 rounds, while there is something to steal, give them a
    // while to, so that their grabs do interleave with the owner (bounded: a
    // wedged thief must not hang this).
    if (round % 32 == 0) {
      auto no_steal_yet = [&] {
        return steals.load(std::memory_order_relaxed) == steals_seen && !owner_q.empty();
      };
      for (int y = 0; y < 1'000 && no_steal_yet(); ++y) std::this_thread::yield();
      steals_seen = steals.load(std::memory_order_relaxed);
    }
  }
  done.store(true, std::memory_order_release);
  for (auto& t : ts) t.join();
  while (fiber* f = owner_q.pop()) {
    it.take(f);
    ++popped;
  }

  EXPECT_EQ(popped + overflowed + stolen.load(), n);
  for (std::size_t x = 0; x < n; ++x) ASSERT_EQ(it.times_taken(x), 1) << "item " << x;
  EXPECT_TRUE(owner_q.empty());
}

// Many thieves on one full ring at once, the owner only taking halves: the
// races between steal_into's CAS and take_half's.
TEST(RunQueue, TakeHalfRacesWithThievesOnAFullRing) {
  const int rounds = spindle::test::scaled(2'000, 200);
  constexpr int thieves = 2;
  items it(static_cast<std::size_t>(rounds) * capacity +
           1);  // +1: the push that finds the ring full
  std::size_t next = 0;
  run_queue owner_q;
  std::atomic<int> round{-1};
  std::atomic<int> finished_round[thieves];
  for (auto& f : finished_round) f.store(-1);
  std::atomic<bool> done{false};

  std::vector<std::thread> ts;
  for (int t = 0; t < thieves; ++t) {
    ts.emplace_back([&, t] {
      run_queue mine;
      int seen = -1;
      while (!done.load(std::memory_order_acquire)) {
        int r = round.load(std::memory_order_acquire);
        if (r == seen) {
          std::this_thread::yield();
          continue;
        }
        if (fiber* f = owner_q.steal_into(mine)) {
          it.take(f);
          while (fiber* g = mine.pop()) it.take(g);
        }
        seen = r;
        finished_round[t].store(r, std::memory_order_release);
      }
    });
  }

  std::vector<fiber*> half(capacity);
  for (int r = 0; r < rounds; ++r) {
    while (owner_q.try_push(it[next])) ++next;  // fill the ring
    round.store(r, std::memory_order_release);  // let the thieves go
    std::uint32_t k = owner_q.take_half(half.data());
    for (std::uint32_t j = 0; j < k; ++j) it.take(half[j]);
    for (auto& f : finished_round)
      while (f.load(std::memory_order_acquire) != r) std::this_thread::yield();
    while (fiber* f = owner_q.pop()) it.take(f);  // start the next round empty
  }
  done.store(true, std::memory_order_release);
  for (auto& t : ts) t.join();

  for (std::size_t i = 0; i < next; ++i) ASSERT_EQ(it.times_taken(i), 1) << "item " << i;
  for (std::size_t i = next; i < it.size(); ++i) ASSERT_EQ(it.times_taken(i), 0) << "item " << i;
}

}  // namespace
