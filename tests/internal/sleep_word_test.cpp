// sleep_word (runtime/wait/sleep_word.hpp): a thread sleeps while a word
// holds a value, and a wake after a change is never lost.
#include "wait/sleep_word.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace {

using spindle::detail::clock;
using spindle::detail::no_deadline;
using spindle::detail::sleep_while;
using spindle::detail::wake_one;

TEST(SleepWord, ReturnsAtOnceWhenTheWordHoldsAnotherValue) {
  std::atomic<int> word{1};
  sleep_while(word, 0, no_deadline);  // would sleep for ever otherwise
  EXPECT_EQ(word.load(), 1);
}

TEST(SleepWord, ReturnsNoEarlierThanItsDeadlineWithoutAWake) {
  std::atomic<int> word{0};
  const clock::time_point deadline = clock::now() + std::chrono::milliseconds(5);
  while (word.load() == 0 && clock::now() < deadline) sleep_while(word, 0, deadline);
  EXPECT_GE(clock::now(), deadline);
}

// Round r: the main thread turns the word from 2r to 2r + 1 and wakes the
// other thread, which sleeps while it is 2r; that one turns it to 2r + 2 and
// wakes the main thread, which sleeps while it is 2r + 1. A lost wake leaves
// one asleep for ever (the test's timeout).
TEST(SleepWord, NoWakeIsLostBetweenTheCheckAndTheSleep) {
  constexpr int rounds = 20'000;
  std::atomic<int> word{0};
  std::atomic<int> seen{0};
  std::thread sleeper([&] {
    for (int r = 0; r < rounds; ++r) {
      while (word.load(std::memory_order_acquire) == 2 * r) sleep_while(word, 2 * r, no_deadline);
      seen.store(r + 1, std::memory_order_release);
      word.store(2 * r + 2, std::memory_order_release);
      wake_one(word);
    }
  });
  for (int r = 0; r < rounds; ++r) {  // the word is 2r here
    word.store(2 * r + 1, std::memory_order_release);
    wake_one(word);
    while (word.load(std::memory_order_acquire) == 2 * r + 1)
      sleep_while(word, 2 * r + 1, no_deadline);
  }
  sleeper.join();
  EXPECT_EQ(seen.load(), rounds);
  EXPECT_EQ(word.load(), 2 * rounds);
}

}  // namespace
