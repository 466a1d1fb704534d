// spindle::recursive_mutex: nested locking by the owner, release by the last
// unlock, ownership that follows the fiber across workers, exclusion under
// stress, misuse.
#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <spindle/runtime.hpp>
#include <spindle/sync/recursive_mutex.hpp>
#include <spindle/this_fiber.hpp>
#include <system_error>
#include <thread>
#include <vector>

#include "sync_support.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using spindle::test::error_code_of;
using spindle::test::scaled;
using spindle::test::spawn_started;
using spindle::test::two_workers;

namespace {

TEST(RecursiveMutex, TheOwnerLocksAgainAndTheLastUnlockReleases) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    spindle::recursive_mutex m;
    m.lock();
    EXPECT_TRUE(m.try_lock());
    EXPECT_TRUE(m.try_lock_for(1ms));
    {
      std::lock_guard g(m);
      spindle::this_fiber::yield();  // may resume on another worker: still the owner
      EXPECT_TRUE(m.try_lock());
      m.unlock();
    }
    // Three levels held: another fiber cannot get in until all are released.
    auto other = spawn_started([&] { return m.try_lock(); });
    EXPECT_FALSE(other.join());
    m.unlock();
    m.unlock();
    auto still = spawn_started([&] { return m.try_lock_for(1ms); });
    EXPECT_FALSE(still.join());
    m.unlock();
    auto now = spawn_started([&] {
      const bool got = m.try_lock();
      if (got) m.unlock();
      return got;
    });
    EXPECT_TRUE(now.join());
  });
}

TEST(RecursiveMutex, UnlockByANonOwnerThrows) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    spindle::recursive_mutex m;
    EXPECT_EQ(error_code_of([&] { m.unlock(); }), std::errc::operation_not_permitted);
    m.lock();
    auto intruder = spawn_started([&] { return error_code_of([&] { m.unlock(); }); });
    EXPECT_EQ(intruder.join(), std::errc::operation_not_permitted);
    m.unlock();
  });
}

TEST(RecursiveMutex, NestedCriticalSectionsExcludeEachOther) {
  spindle::runtime rt(two_workers());
  const int rounds = scaled(20000, 2000);
  long counter = rt.block_on([&] {
    spindle::recursive_mutex m;
    long c = 0;
    std::vector<spindle::task<void>> ts;
    for (int f = 0; f < 8; ++f) {
      ts.push_back(spindle::spawn([&] {
        for (int i = 0; i < rounds; ++i) {
          std::lock_guard outer(m);
          std::lock_guard inner(m);
          const long seen = c;
          if (i % 64 == 0) spindle::this_fiber::yield();
          c = seen + 1;
        }
      }));
    }
    for (auto& t : ts) t.join();
    return c;
  });
  EXPECT_EQ(counter, 8L * rounds);
}

TEST(RecursiveMutex, PlainThreadsAndFibersTogether) {
  spindle::runtime rt(two_workers());
  spindle::recursive_mutex m;
  long c = 0;
  const int rounds = scaled(10000, 1000);
  std::thread th([&] {
    for (int i = 0; i < rounds; ++i) {
      std::lock_guard a(m);
      std::lock_guard b(m);
      ++c;
    }
  });
  rt.block_on([&] {
    for (int i = 0; i < rounds; ++i) {
      std::lock_guard a(m);
      std::lock_guard b(m);
      ++c;
    }
  });
  th.join();
  EXPECT_EQ(c, 2L * rounds);
}

}  // namespace
