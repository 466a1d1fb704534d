// spindle::semaphore: never more than N inside, handoff to waiters, timed
// acquisition, the maximum, fibers and threads together, misuse.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <spindle/runtime.hpp>
#include <spindle/sync/semaphore.hpp>
#include <spindle/this_fiber.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

using namespace std::chrono_literals;
using spindle::test::scaled;
using spindle::test::two_workers;

TEST(Semaphore, NeverAdmitsMoreThanItsCount) {
  spindle::runtime rt(two_workers());
  const int limit = 3;
  const int fibers = 200;
  const int threads = 2;
  const int iterations = scaled(200, 30);
  spindle::semaphore s(limit);
  std::atomic<int> inside{0};
  std::atomic<int> most{0};
  std::atomic<long> entries{0};
  auto enter = [&] {
    const int now = inside.fetch_add(1) + 1;
    int m = most.load();
    while (now > m && !most.compare_exchange_weak(m, now)) {
    }
    entries.fetch_add(1, std::memory_order_relaxed);
  };
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < iterations; ++i) {
        s.acquire();
        enter();
        std::this_thread::yield();
        inside.fetch_sub(1);
        s.release();
      }
    });
  }
  rt.block_on([&] {
    std::vector<spindle::task<void>> tasks;
    for (int f = 0; f < fibers; ++f) {
      tasks.push_back(spindle::spawn([&, f] {
        for (int i = 0; i < iterations; ++i) {
          if (f % 2) {
            s.acquire();
          } else {
            while (!s.try_acquire_for(100us)) {
            }
          }
          enter();
          spindle::this_fiber::yield();
          inside.fetch_sub(1);
          s.release();
        }
      }));
    }
    for (auto& t : tasks) t.join();
  });
  for (auto& t : ts) t.join();
  EXPECT_LE(most.load(), limit);
  EXPECT_GE(most.load(), 1);
  EXPECT_EQ(entries.load(), static_cast<long>(fibers + threads) * iterations);
  EXPECT_EQ(s.available(), limit);
}

TEST(Semaphore, TryAcquireAndAvailable) {
  spindle::semaphore s(2);
  EXPECT_EQ(s.available(), 2);
  EXPECT_TRUE(s.try_acquire());
  EXPECT_TRUE(s.try_acquire());
  EXPECT_FALSE(s.try_acquire());
  EXPECT_EQ(s.available(), 0);
  s.release(2);
  EXPECT_EQ(s.available(), 2);
  s.release(0);
  EXPECT_EQ(s.available(), 2);
}

TEST(Semaphore, ReleaseOfNWakesNWaiters) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    spindle::semaphore s(0);
    std::atomic<int> through{0};
    std::vector<spindle::task<void>> tasks;
    for (int i = 0; i < 10; ++i) {
      tasks.push_back(spindle::spawn([&] {
        s.acquire();
        through.fetch_add(1);
      }));
    }
    spindle::this_fiber::sleep_for(10ms);
    s.release(4);
    while (through.load() < 4) spindle::this_fiber::yield();
    spindle::this_fiber::sleep_for(10ms);
    EXPECT_EQ(through.load(), 4);
    s.release(6);
    for (auto& t : tasks) t.join();
    EXPECT_EQ(through.load(), 10);
    EXPECT_EQ(s.available(), 0);
  });
}

TEST(Semaphore, TimedAcquireTimesOutNeverEarlyAndSucceedsWhenReleased) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    spindle::semaphore s(0);
    auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(s.try_acquire_for(25ms));
    EXPECT_GE(std::chrono::steady_clock::now() - start, 25ms);
    start = std::chrono::steady_clock::now();
    EXPECT_FALSE(s.try_acquire_until(std::chrono::system_clock::now() + 15ms));
    EXPECT_GE(std::chrono::steady_clock::now() - start, 15ms);
    EXPECT_FALSE(s.try_acquire_for(0ms));

    auto waiter = spindle::spawn([&] { return s.try_acquire_for(60s); });
    spindle::this_fiber::sleep_for(10ms);
    s.release();
    EXPECT_TRUE(waiter.join());
    // The timed-out waiters above left the queue: the permit went to the live one.
    EXPECT_EQ(s.available(), 0);
    s.release();
    EXPECT_TRUE(s.try_acquire());
  });
}

TEST(Semaphore, FiberReleaseWakesThreadAndThreadReleaseWakesFiber) {
  spindle::runtime rt(two_workers());
  spindle::semaphore to_thread(0);
  spindle::semaphore to_fiber(0);
  const int rounds = scaled(2000, 300);
  auto fiber = rt.spawn([&] {
    for (int i = 0; i < rounds; ++i) {
      to_thread.release();
      to_fiber.acquire();
    }
  });
  for (int i = 0; i < rounds; ++i) {
    to_thread.acquire();
    to_fiber.release();
  }
  fiber.join();
  EXPECT_EQ(to_thread.available(), 0);
  EXPECT_EQ(to_fiber.available(), 0);
}

TEST(Semaphore, DestroyedByTheWokenAcquirer) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    for (int r = 0; r < scaled(2000, 300); ++r) {
      auto* s = new spindle::semaphore(0);
      auto waiter = spindle::spawn([s] {
        s->acquire();
        delete s;  // the release that let us through no longer touches it
      });
      if (r % 2) spindle::this_fiber::yield();
      s->release();
      waiter.join();
    }
  });
}

TEST(Semaphore, MaximumIsEnforced) {
  spindle::semaphore binary(0, 1);
  binary.release();
  try {
    binary.release();
    ADD_FAILURE() << "release beyond the maximum did not throw";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("maximum"), std::string::npos) << e.what();
  }
  EXPECT_EQ(binary.available(), 1);  // the failed release changed nothing
  EXPECT_TRUE(binary.try_acquire());
  binary.release();

  spindle::semaphore s(2, 5);
  EXPECT_THROW(s.release(4), std::logic_error);
  s.release(3);
  EXPECT_EQ(s.available(), 5);
}

TEST(Semaphore, BadCountsThrowInvalidArgument) {
  EXPECT_THROW(spindle::semaphore(-1), std::invalid_argument);
  EXPECT_THROW(spindle::semaphore(3, 2), std::invalid_argument);
  EXPECT_THROW(spindle::semaphore(0, spindle::semaphore::max() + 1), std::invalid_argument);
  spindle::semaphore s(1);
  EXPECT_THROW(s.release(-1), std::invalid_argument);
  EXPECT_NO_THROW(spindle::semaphore(0));
  EXPECT_NO_THROW(spindle::semaphore{spindle::semaphore::max()});  // braces: not a declaration
}
