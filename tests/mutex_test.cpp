// spindle::mutex: exclusion with exact counts, fibers and threads together,
// timed locking, std lock adaptors, fairness under contention, misuse.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <spindle/runtime.hpp>
#include <spindle/sync/mutex.hpp>
#include <spindle/this_fiber.hpp>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "sync_support.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using spindle::test::scaled;
using spindle::test::spawn_started;
using spindle::test::two_workers;

namespace {

void join_all(std::vector<spindle::task<void>>& tasks) {
  for (auto& t : tasks) t.join();
}

}  // namespace

TEST(Mutex, ThousandFibersThousandIncrementsExactCount) {
  spindle::runtime rt(two_workers());
  const int fibers = scaled(1000, 200);
  const int iterations = scaled(1000, 200);
  spindle::mutex m;
  long counter = 0;  // guarded by m only: a lost exclusion shows as a wrong count (and in TSan)
  rt.block_on([&] {
    std::vector<spindle::task<void>> tasks;
    tasks.reserve(static_cast<std::size_t>(fibers));
    for (int f = 0; f < fibers; ++f) {
      tasks.push_back(spindle::spawn([&] {
        for (int i = 0; i < iterations; ++i) {
          m.lock();
          ++counter;
          m.unlock();
        }
      }));
    }
    join_all(tasks);
  });
  EXPECT_EQ(counter, static_cast<long>(fibers) * iterations);
}

// Holders that keep the mutex ~100 us while they run: contenders on the other
// worker spin past the point where they take the holder for preempted, nap,
// spin again and park. Exclusion holds throughout (a second holder inside
// shows as `inside` != 1) and every acquisition is counted once.
TEST(Mutex, LongCriticalSectionsMakeSpinnersNapAndStillExclude) {
  spindle::runtime rt(two_workers());
  const int fibers = 6;
  const int iterations = scaled(60, 15);
  spindle::mutex m;
  std::atomic<int> inside{0};
  long counter = 0;
  int overlaps = 0;  // guarded by m
  rt.block_on([&] {
    std::vector<spindle::task<void>> tasks;
    for (int f = 0; f < fibers; ++f) {
      tasks.push_back(spindle::spawn([&] {
        for (int i = 0; i < iterations; ++i) {
          std::lock_guard<spindle::mutex> g(m);
          if (inside.fetch_add(1) != 0) ++overlaps;
          const auto until = std::chrono::steady_clock::now() + 100us;
          while (std::chrono::steady_clock::now() < until) {
          }
          ++counter;
          inside.fetch_sub(1);
        }
      }));
    }
    join_all(tasks);
  });
  EXPECT_EQ(overlaps, 0);
  EXPECT_EQ(counter, static_cast<long>(fibers) * iterations);
}

TEST(Mutex, FibersAndPlainThreadsShareOneMutex) {
  spindle::runtime rt(two_workers());
  const int fibers = 100;
  const int threads = 3;
  const int iterations = scaled(2000, 300);
  spindle::mutex m;
  long counter = 0;
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < iterations; ++i) {
        std::lock_guard<spindle::mutex> g(m);
        ++counter;
      }
    });
  }
  rt.block_on([&] {
    std::vector<spindle::task<void>> tasks;
    for (int f = 0; f < fibers; ++f) {
      tasks.push_back(spindle::spawn([&] {
        for (int i = 0; i < iterations; ++i) {
          std::unique_lock<spindle::mutex> g(m);
          ++counter;
          if (i % 64 == 0) spindle::this_fiber::yield();  // hold it while suspended, too
        }
      }));
    }
    join_all(tasks);
  });
  for (auto& t : ts) t.join();
  EXPECT_EQ(counter, static_cast<long>(fibers + threads) * iterations);
}

TEST(Mutex, ThreadBlockedOnFiberHeldMutexIsWokenByFiberUnlock) {
  spindle::runtime rt(two_workers());
  spindle::mutex m;
  std::atomic<bool> held{false};
  std::atomic<bool> thread_got_it{false};
  auto holder = rt.spawn([&] {
    m.lock();
    held = true;
    spindle::this_fiber::sleep_for(30ms);
    EXPECT_FALSE(thread_got_it.load());
    m.unlock();
  });
  while (!held) std::this_thread::yield();
  m.lock();  // blocks this plain thread until the fiber unlocks
  thread_got_it = true;
  m.unlock();
  holder.join();
  EXPECT_TRUE(thread_got_it.load());
}

TEST(Mutex, FiberBlockedOnThreadHeldMutexIsWokenByThreadUnlock) {
  spindle::runtime rt(two_workers());
  spindle::mutex m;
  m.lock();
  std::atomic<bool> fiber_got_it{false};
  auto waiter = rt.spawn([&] {
    std::lock_guard<spindle::mutex> g(m);
    fiber_got_it = true;
  });
  std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(fiber_got_it.load());
  m.unlock();
  waiter.join();
  EXPECT_TRUE(fiber_got_it.load());
}

TEST(Mutex, TryLock) {
  spindle::runtime rt(two_workers());
  spindle::mutex m;
  rt.block_on([&] {
    ASSERT_TRUE(m.try_lock());
    EXPECT_FALSE(spawn_started([&] { return m.try_lock(); }).join());
    m.unlock();
    EXPECT_TRUE(spindle::spawn([&] {
                  bool ok = m.try_lock();
                  if (ok) m.unlock();
                  return ok;
                }).join());
  });
}

TEST(Mutex, TryLockForTimesOutNeverEarlyAndLeavesTheQueue) {
  spindle::runtime rt(two_workers());
  spindle::mutex m;
  rt.block_on([&] {
    m.lock();
    auto timed = spindle::spawn([&] {
      const auto start = std::chrono::steady_clock::now();
      const bool got = m.try_lock_for(30ms);
      return std::pair{got, std::chrono::steady_clock::now() - start};
    });
    auto [got, waited] = timed.join();
    EXPECT_FALSE(got);
    EXPECT_GE(waited, 30ms);
    // The departed waiter must not swallow the next wake-up.
    auto blocked = spindle::spawn([&] {
      m.lock();
      m.unlock();
    });
    spindle::this_fiber::sleep_for(5ms);
    m.unlock();
    blocked.join();
  });
}

TEST(Mutex, TryLockForSucceedsWhenReleasedInTime) {
  spindle::runtime rt(two_workers());
  spindle::mutex m;
  rt.block_on([&] {
    m.lock();
    auto timed = spindle::spawn([&] {
      const bool got = m.try_lock_for(60s);
      if (got) m.unlock();
      return got;
    });
    spindle::this_fiber::sleep_for(10ms);
    m.unlock();
    EXPECT_TRUE(timed.join());
  });
}

TEST(Mutex, TryLockUntilOtherClocksAndThreads) {
  spindle::mutex m;
  m.lock();
  std::thread t([&] {
    const auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(m.try_lock_until(std::chrono::system_clock::now() + 20ms));
    EXPECT_GE(std::chrono::steady_clock::now() - start, 20ms);
    EXPECT_FALSE(m.try_lock_for(0ms));
    EXPECT_FALSE(m.try_lock_for(-5ms));
  });
  t.join();
  m.unlock();
  EXPECT_TRUE(m.try_lock_for(std::chrono::hours::max()));  // saturates, does not overflow
  m.unlock();
}

TEST(Mutex, ManyTimedWaitersSomeSucceedSomeTimeOut) {
  spindle::runtime rt(two_workers());
  spindle::mutex m;
  long counter = 0;
  std::atomic<int> timeouts{0};
  const int fibers = scaled(200, 50);
  rt.block_on([&] {
    std::vector<spindle::task<void>> tasks;
    for (int f = 0; f < fibers; ++f) {
      tasks.push_back(spindle::spawn([&, f] {
        for (int i = 0; i < 20; ++i) {
          if (m.try_lock_for(std::chrono::microseconds(50 * (f % 7)))) {
            ++counter;
            spindle::this_fiber::sleep_for(std::chrono::microseconds(20));
            m.unlock();
          } else {
            timeouts.fetch_add(1, std::memory_order_relaxed);
          }
        }
        // Whatever the timeouts did to the queue, a plain lock still works.
        std::lock_guard<spindle::mutex> g(m);
        ++counter;
      }));
    }
    join_all(tasks);
  });
  EXPECT_EQ(counter + timeouts.load(), static_cast<long>(fibers) * 21);
}

TEST(Mutex, ScopedLockOverThreeMutexesInOppositeOrders) {
  spindle::runtime rt(two_workers());
  spindle::mutex a, b, c;
  long counter = 0;
  const int fibers = 30;
  const int iterations = scaled(500, 100);
  rt.block_on([&] {
    std::vector<spindle::task<void>> tasks;
    for (int f = 0; f < fibers; ++f) {
      tasks.push_back(spindle::spawn([&, f] {
        for (int i = 0; i < iterations; ++i) {
          switch (f % 3) {
            case 0: {
              std::scoped_lock g(a, b, c);
              ++counter;
              break;
            }
            case 1: {
              std::scoped_lock g(c, b, a);
              ++counter;
              break;
            }
            default: {
              std::scoped_lock g(b, c, a);
              ++counter;
              spindle::this_fiber::yield();
              break;
            }
          }
        }
      }));
    }
    join_all(tasks);
  });
  EXPECT_EQ(counter, static_cast<long>(fibers) * iterations);
}

// The classic way to starve a barging mutex in a cooperative scheduler: the
// holder suspends inside the critical section (here a yield), so every other
// fiber finds the mutex taken and parks; then it unlocks and at once locks
// again, before the waiter it woke has even run. Without handoff the holder
// would keep the lock for all its rounds, one holder after the other.
//
// The measure is in acquisitions, not time: between the moment a contender
// asks for the lock and the moment it gets it, how many times did somebody
// else get it? Pure FIFO would give about one acquisition per other
// contender; a starving waiter would watch most of the run go by.
//
// One worker: with two, the OS may deschedule one worker thread for a few
// milliseconds when the machine is busy (ctest -j2), and the other then runs
// thousands of acquisitions past a waiter queued on the stalled one -- an
// effect of machine load, not of the mutex. The handoff logic is the same.
TEST(Mutex, EveryContenderGetsTheLockWithinBoundedAcquisitionsByOthers) {
  spindle::runtime rt(spindle::options{.workers = 1});
  const int contenders = 1000;
  const int rounds = scaled(20, 10);  // total > the bound below
  spindle::mutex m;
  std::atomic<long> acquisitions{0};  // written under m, read before lock()
  std::vector<long> worst(contenders, 0);
  rt.block_on([&] {
    std::vector<spindle::task<void>> tasks;
    for (int f = 0; f < contenders; ++f) {
      tasks.push_back(spindle::spawn([&, f] {
        long& mine = worst[static_cast<std::size_t>(f)];
        for (int r = 0; r < rounds; ++r) {
          const long before = acquisitions.load(std::memory_order_relaxed);
          m.lock();
          const long now = acquisitions.load(std::memory_order_relaxed);
          acquisitions.store(now + 1, std::memory_order_relaxed);
          mine = std::max(mine, now - before);
          spindle::this_fiber::yield();
          m.unlock();
        }
      }));
    }
    join_all(tasks);
  });
  const long total = acquisitions.load();
  ASSERT_EQ(total, static_cast<long>(contenders) * rounds);
  const long max_passed = *std::max_element(worst.begin(), worst.end());
  // Measured: about 1.2 per other contender (the holder relocks once or twice
  // before the waiter it woke gives up barging and is handed the lock); with
  // the handoff disabled, 4.7 (each holder keeps the lock for all its rounds).
  EXPECT_LE(max_passed, 3L * contenders) << "of " << total;
}

TEST(Mutex, DestroyedByTheNextOwnerRightAfterUnlock) {
  spindle::runtime rt(two_workers());
  const int rounds = scaled(2000, 300);
  rt.block_on([&] {
    for (int r = 0; r < rounds; ++r) {
      auto* m = new spindle::mutex;
      m->lock();
      auto next = spindle::spawn([m] {
        m->lock();  // contended: parks, or spins until the unlock below
        m->unlock();
        delete m;  // the unlock that let us in must no longer touch *m
      });
      if (r % 2) spindle::this_fiber::yield();
      m->unlock();
      next.join();
    }
  });
}

TEST(Mutex, UnlockByNonOwnerThrows) {
  spindle::runtime rt(two_workers());
  spindle::mutex m;
  try {
    m.unlock();
    ADD_FAILURE() << "unlock of an unlocked mutex did not throw";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::operation_not_permitted);
    EXPECT_NE(std::string(e.what()).find("does not hold"), std::string::npos) << e.what();
  }
  rt.block_on([&] {
    m.lock();
    auto other = spawn_started([&] { return spindle::test::error_code_of([&] { m.unlock(); }); });
    EXPECT_EQ(other.join(), std::errc::operation_not_permitted);
    m.unlock();  // still ours: the failed unlock changed nothing
  });
  // A plain thread cannot unlock what a fiber holds.
  std::atomic<bool> locked{false};
  std::atomic<bool> tried{false};
  auto holder = rt.spawn([&] {
    m.lock();
    locked = true;
    while (!tried) spindle::this_fiber::sleep_for(1ms);
    m.unlock();
  });
  while (!locked) std::this_thread::yield();
  EXPECT_THROW(m.unlock(), std::system_error);
  tried = true;
  holder.join();
}

TEST(Mutex, OwnershipFollowsAFiberAcrossWorkers) {
  spindle::runtime rt(two_workers());
  spindle::mutex m;
  rt.block_on([&] {
    std::vector<spindle::task<void>> tasks;
    for (int f = 0; f < 50; ++f) {
      tasks.push_back(spindle::spawn([&] {
        for (int i = 0; i < 20; ++i) {
          std::lock_guard<spindle::mutex> g(m);
          spindle::this_fiber::yield();  // may resume on the other worker
          spindle::this_fiber::yield();
        }
      }));
    }
    join_all(tasks);
  });
}

TEST(Mutex, RelockingByTheOwnerThrowsInsteadOfHanging) {
  spindle::runtime rt(two_workers());
  spindle::mutex m;
  rt.block_on([&] {
    std::lock_guard<spindle::mutex> g(m);
    try {
      m.lock();
      ADD_FAILURE() << "recursive lock did not throw";
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code(), std::errc::resource_deadlock_would_occur);
    }
  });
}

TEST(Mutex, RuntimeShutdownUnwindsFibersBlockedOnIt) {
  spindle::mutex m;
  m.lock();
  std::atomic<int> unwound{0};
  std::atomic<int> arrived{0};
  {
    spindle::runtime rt(two_workers());
    for (int i = 0; i < 10; ++i) {
      rt.spawn([&] {
          arrived.fetch_add(1);
          struct guard {
            std::atomic<int>& n;
            ~guard() { n.fetch_add(1); }
          } g{unwound};
          std::lock_guard<spindle::mutex> l(m);
          ADD_FAILURE() << "got a mutex that was never unlocked";
        }).detach();
    }
    while (arrived.load() < 10) std::this_thread::yield();
    std::this_thread::sleep_for(20ms);  // let them finish spinning and park
  }
  EXPECT_EQ(unwound.load(), 10);
  m.unlock();
  EXPECT_TRUE(m.try_lock());  // the unwound waiters left the queue
  m.unlock();
}
