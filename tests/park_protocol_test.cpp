// The park protocol: a fiber is resumed only once it is completely off its
// stack, however early the wake-up comes and from whichever worker.
//
// Two fibers on different workers hand a token back and forth through bare
// waiters: each publishes its waiter and parks, and the other one claims and
// unparks it at once, often before the parker has even finished switching
// away. A fiber resumed while still on its stack would corrupt its own
// frame (the token counts would go wrong, or TSan/ASan would report it).
#include <spindle/detail/waiter.hpp>
#include <spindle/runtime.hpp>
#include <spindle/this_fiber.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "test_support.hpp"

namespace {

using spindle::detail::waiter;
using spindle::detail::wake;

// A one-slot mailbox for a waiter: the sleeper posts, the waker takes.
struct slot {
  std::atomic<waiter*> w{nullptr};

  // Parks the calling fiber until the other side wakes it.
  void sleep() {
    waiter me;
    w.store(&me, std::memory_order_release);
    ASSERT_EQ(me.park({}), wake::notified);
  }
  // Spins (yielding) until the other side is posted, then wakes it.
  void wake_peer() {
    waiter* p;
    while (!(p = w.exchange(nullptr, std::memory_order_acq_rel))) spindle::this_fiber::yield();
    p->notify();
  }
};

}  // namespace

TEST(ParkProtocol, WakeRightAfterParkAcrossWorkers) {
  const int rounds = spindle::test::scaled(2'000'000, 200'000);
  spindle::runtime rt(spindle::options{.workers = 2});
  slot a, b;
  std::atomic<long> a_sum{0}, b_sum{0};
  rt.block_on([&] {
    auto fa = spindle::spawn([&] {
      for (int i = 0; i < rounds; ++i) {
        volatile long local = i;  // lives on the stack across the park
        b.wake_peer();
        a.sleep();
        a_sum.fetch_add(local, std::memory_order_relaxed);
      }
      b.wake_peer();
    });
    auto fb = spindle::spawn([&] {
      for (int i = 0; i < rounds; ++i) {
        volatile long local = i;
        b.sleep();
        b_sum.fetch_add(local, std::memory_order_relaxed);
        a.wake_peer();
      }
      b.sleep();
    });
    fa.join();
    fb.join();
  });
  const long expect = static_cast<long>(rounds) * (rounds - 1) / 2;
  EXPECT_EQ(a_sum.load(), expect);
  EXPECT_EQ(b_sum.load(), expect);
}

TEST(ParkProtocol, PlainThreadWakesFibersAndFibersWakeThreads) {
  const int rounds = spindle::test::scaled(20'000, 5'000);
  spindle::runtime rt(spindle::options{.workers = 2});
  std::atomic<waiter*> fiber_slot{nullptr}, thread_slot{nullptr};
  auto wake = [](std::atomic<waiter*>& s) {
    waiter* p;
    while (!(p = s.exchange(nullptr, std::memory_order_acq_rel))) std::this_thread::yield();
    p->notify();
  };
  std::thread th([&] {
    for (int i = 0; i < rounds; ++i) {
      wake(fiber_slot);
      waiter me;  // a plain thread's waiter: blocks the thread
      thread_slot.store(&me, std::memory_order_release);
      EXPECT_EQ(me.park({}), wake::notified);
    }
  });
  long count = rt.block_on([&] {
    long c = 0;
    for (int i = 0; i < rounds; ++i) {
      waiter me;
      fiber_slot.store(&me, std::memory_order_release);
      EXPECT_EQ(me.park({}), wake::notified);
      ++c;
      wake(thread_slot);
    }
    return c;
  });
  th.join();
  EXPECT_EQ(count, rounds);
}

TEST(ParkProtocol, TimeoutAndNotifyRaceClaimsExactlyOnce) {
  const int rounds = spindle::test::scaled(20'000, 3'000);
  spindle::runtime rt(spindle::options{.workers = 2});
  std::atomic<int> notified{0}, timed_out{0}, notifier_won{0};
  rt.block_on([&] {
    for (int i = 0; i < rounds; ++i) {
      std::atomic<waiter*> s{nullptr};
      std::atomic<bool> notifier_done{false};
      auto t = spindle::spawn([&] {
        waiter me;
        s.store(&me, std::memory_order_release);
        // A deadline about now: the timer and the notifier race.
        wake r = me.park({}, std::chrono::steady_clock::now() + std::chrono::microseconds(i % 50));
        (r == wake::notified ? notified : timed_out).fetch_add(1);
        // `me` must outlive the notifier's (possibly failing) claim.
        while (!notifier_done.load()) spindle::this_fiber::yield();
      });
      waiter* p;
      while (!(p = s.load(std::memory_order_acquire))) spindle::this_fiber::yield();
      if (p->notify()) notifier_won.fetch_add(1);
      notifier_done.store(true);
      t.join();
    }
  });
  EXPECT_EQ(notified.load() + timed_out.load(), rounds);
  EXPECT_EQ(notified.load(), notifier_won.load());
}
