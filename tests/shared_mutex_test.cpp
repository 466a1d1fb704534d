// spindle::shared_mutex: readers together, writers alone, neither side
// starved, timed forms, a timed-out writer letting readers in, misuse.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <shared_mutex>
#include <spindle/runtime.hpp>
#include <spindle/sync/latch.hpp>
#include <spindle/sync/shared_mutex.hpp>
#include <spindle/this_fiber.hpp>
#include <system_error>
#include <thread>
#include <vector>

#include "sync_support.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using spindle::test::scaled;
using spindle::test::spawn_started;
using spindle::test::two_workers;

TEST(SharedMutex, ReadersHoldItTogether) {
  spindle::runtime rt(two_workers());
  spindle::shared_mutex sm;
  const int readers = 10;
  spindle::latch all_inside(readers);
  rt.block_on([&] {
    std::vector<spindle::task<void>> tasks;
    for (int i = 0; i < readers; ++i) {
      tasks.push_back(spindle::spawn([&] {
        std::shared_lock<spindle::shared_mutex> g(sm);
        all_inside.arrive_and_wait();  // deadlocks unless all hold it at once
      }));
    }
    for (auto& t : tasks) t.join();
  });
}

TEST(SharedMutex, WritersExcludeEveryone) {
  spindle::runtime rt(two_workers());
  spindle::shared_mutex sm;
  long a = 0, b = 0;  // writers keep a == b; readers check it
  std::atomic<int> torn{0};
  std::atomic<long> reads{0};
  const int writers = 20;
  const int readers = 40;
  const int iterations = scaled(300, 50);
  std::thread thread_writer([&] {
    for (int i = 0; i < iterations; ++i) {
      std::lock_guard<spindle::shared_mutex> g(sm);
      ++a;
      ++b;
    }
  });
  rt.block_on([&] {
    std::vector<spindle::task<void>> tasks;
    for (int w = 0; w < writers; ++w) {
      tasks.push_back(spindle::spawn([&] {
        for (int i = 0; i < iterations; ++i) {
          std::unique_lock<spindle::shared_mutex> g(sm);
          ++a;
          if (i % 16 == 0) spindle::this_fiber::yield();
          ++b;
        }
      }));
    }
    for (int r = 0; r < readers; ++r) {
      tasks.push_back(spindle::spawn([&, r] {
        for (int i = 0; i < iterations; ++i) {
          if (r % 2) {
            std::shared_lock<spindle::shared_mutex> g(sm);
            if (a != b) torn.fetch_add(1);
            if (i % 8 == 0) spindle::this_fiber::yield();
          } else {
            while (!sm.try_lock_shared_for(100us)) {
            }
            if (a != b) torn.fetch_add(1);
            sm.unlock_shared();
          }
          reads.fetch_add(1, std::memory_order_relaxed);
        }
      }));
    }
    for (auto& t : tasks) t.join();
  });
  thread_writer.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_EQ(a, static_cast<long>(writers + 1) * iterations);
  EXPECT_EQ(b, a);
  EXPECT_EQ(reads.load(), static_cast<long>(readers) * iterations);
}

// Readers that keep the lock busy forever between them (each holds it across
// a yield, and there is always another one inside) must not keep a writer
// out; and the readers queued behind the writer get in after it.
TEST(SharedMutex, AWriterIsNotStarvedByOverlappingReaders) {
  spindle::runtime rt(two_workers());
  spindle::shared_mutex sm;
  std::atomic<bool> written{false};
  std::atomic<long> reads_after{0};
  rt.block_on([&] {
    std::vector<spindle::task<void>> readers;
    for (int r = 0; r < 8; ++r) {
      readers.push_back(spindle::spawn([&] {
        while (reads_after.load() < 100) {
          std::shared_lock<spindle::shared_mutex> g(sm);
          if (written) reads_after.fetch_add(1);
          spindle::this_fiber::yield();
        }
      }));
    }
    spindle::this_fiber::sleep_for(5ms);
    {
      std::lock_guard<spindle::shared_mutex> g(sm);
      written = true;
    }
    for (auto& t : readers) t.join();
  });
  EXPECT_TRUE(written.load());
}

TEST(SharedMutex, TimedFormsTimeOutNeverEarly) {
  spindle::runtime rt(two_workers());
  spindle::shared_mutex sm;
  rt.block_on([&] {
    {
      std::shared_lock<spindle::shared_mutex> reader(sm);
      auto start = std::chrono::steady_clock::now();
      EXPECT_FALSE(spindle::spawn([&] { return sm.try_lock_for(20ms); }).join());
      EXPECT_GE(std::chrono::steady_clock::now() - start, 20ms);
      EXPECT_FALSE(spindle::spawn([&] { return sm.try_lock(); }).join());
    }
    {
      std::unique_lock<spindle::shared_mutex> writer(sm);
      auto start = std::chrono::steady_clock::now();
      EXPECT_FALSE(spindle::spawn([&] {
                     return sm.try_lock_shared_until(std::chrono::system_clock::now() + 20ms);
                   }).join());
      EXPECT_GE(std::chrono::steady_clock::now() - start, 20ms);
      EXPECT_FALSE(spindle::spawn([&] { return sm.try_lock_shared(); }).join());
    }
    // Free again: both timed forms succeed at once.
    EXPECT_TRUE(sm.try_lock_for(1s));
    sm.unlock();
    EXPECT_TRUE(sm.try_lock_shared_for(1s));
    sm.unlock_shared();
  });
}

TEST(SharedMutex, ATimedOutWriterLetsTheReadersItHeldBackIn) {
  spindle::runtime rt(two_workers());
  spindle::shared_mutex sm;
  rt.block_on([&] {
    sm.lock_shared();  // reader 1 stays inside throughout
    auto writer = spindle::spawn([&] { return sm.try_lock_for(30ms); });
    spindle::this_fiber::sleep_for(10ms);  // the writer is waiting now
    auto reader2 = spindle::spawn([&] {
      sm.lock_shared();  // queues behind the waiting writer
      sm.unlock_shared();
      return true;
    });
    EXPECT_FALSE(writer.join());
    EXPECT_TRUE(reader2.join());  // admitted while reader 1 still holds it
    sm.unlock_shared();
    EXPECT_TRUE(sm.try_lock());
    sm.unlock();
  });
}

TEST(SharedMutex, FibersAndThreadsTogether) {
  spindle::runtime rt(two_workers());
  spindle::shared_mutex sm;
  long value = 0;
  const int iterations = scaled(2000, 300);
  std::thread t([&] {
    for (int i = 0; i < iterations; ++i) {
      {
        std::lock_guard<spindle::shared_mutex> g(sm);
        ++value;
      }
      std::shared_lock<spindle::shared_mutex> r(sm);
      EXPECT_GE(value, 1);
    }
  });
  rt.block_on([&] {
    std::vector<spindle::task<void>> tasks;
    for (int f = 0; f < 10; ++f) {
      tasks.push_back(spindle::spawn([&] {
        for (int i = 0; i < iterations; ++i) {
          std::lock_guard<spindle::shared_mutex> g(sm);
          ++value;
        }
      }));
    }
    for (auto& task : tasks) task.join();
  });
  t.join();
  EXPECT_EQ(value, 11L * iterations);
}

TEST(SharedMutex, DestroyedByTheNextOwner) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    for (int r = 0; r < scaled(2000, 300); ++r) {
      auto* sm = new spindle::shared_mutex;
      if (r % 2)
        sm->lock();
      else
        sm->lock_shared();
      auto next = spindle::spawn([sm] {
        sm->lock();
        sm->unlock();
        delete sm;
      });
      spindle::this_fiber::yield();
      if (r % 2)
        sm->unlock();
      else
        sm->unlock_shared();
      next.join();
    }
  });
}

TEST(SharedMutex, MisuseThrows) {
  spindle::runtime rt(two_workers());
  spindle::shared_mutex sm;
  EXPECT_THROW(sm.unlock(), std::system_error);
  try {
    sm.unlock_shared();
    ADD_FAILURE() << "unlock_shared of a free shared_mutex did not throw";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::operation_not_permitted);
  }
  rt.block_on([&] {
    sm.lock();
    auto other = spawn_started([&] { return spindle::test::error_code_of([&] { sm.unlock(); }); });
    EXPECT_EQ(other.join(), std::errc::operation_not_permitted);
    try {
      sm.lock();
      ADD_FAILURE() << "recursive lock did not throw";
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code(), std::errc::resource_deadlock_would_occur);
    }
    sm.unlock();
  });
}
