// run_blocking's wait is cancellable: the fiber leaves at once while the call
// runs on its pool thread, whose result (or exception) is then destroyed
// there exactly once; nothing of the fiber's frame is touched afterwards
// (ASan); with_timeout bounds it; ~runtime() still waits for the call.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <latch>
#include <memory>
#include <optional>
#include <spindle/spindle.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "test_support.hpp"

using namespace std::chrono_literals;
using spindle::test::scaled;
using spindle::test::two_workers;

namespace {

// Counts destructions of the instances that own a value (not moved-from).
struct counted {
  std::atomic<int>* destroyed;
  bool owns = true;
  std::string payload;  // heap memory: ASan sees a double free or a leak
  explicit counted(std::atomic<int>& d)
      : destroyed(&d), payload("a result long enough to live on the heap") {}
  counted(counted&& o) noexcept
      : destroyed(o.destroyed), owns(std::exchange(o.owns, false)), payload(std::move(o.payload)) {}
  counted& operator=(counted&&) = delete;
  ~counted() {
    if (owns) ++*destroyed;
  }
};

// Spins (on the pool thread) until released; a std::latch would do too.
void wait_for(const std::atomic<bool>& released) {
  while (!released.load()) std::this_thread::sleep_for(100us);
}

}  // namespace

TEST(RunBlockingCancel, CancelledWhileTheCallRunsTheFiberLeavesAtOnce) {
  std::atomic<int> destroyed{0};
  std::atomic<bool> call_started{false}, release{false}, call_ended{false};
  std::atomic<int> caught{0};
  spindle::runtime rt(two_workers());
  auto t = rt.spawn([&] {
    int on_my_stack = 7;  // captured by the call: must not be used after it is cancelled
    (void)on_my_stack;
    try {
      counted r = spindle::run_blocking([&] {
        call_started = true;
        wait_for(release);
        call_ended = true;
        return counted(destroyed);
      });
      ADD_FAILURE() << "the cancelled wait returned";
    } catch (const spindle::cancelled&) {
      ++caught;
    }
    return call_ended.load();
  });
  while (!call_started) std::this_thread::yield();
  t.cancel();
  EXPECT_FALSE(t.join());  // the fiber ended while the call was still running
  EXPECT_EQ(caught.load(), 1);
  EXPECT_EQ(destroyed.load(), 0);
  release = true;
  // The pool thread destroys the abandoned result, exactly once.
  while (destroyed.load() == 0) std::this_thread::sleep_for(100us);
  EXPECT_TRUE(call_ended.load());
  rt.block_on([] {});
  EXPECT_EQ(destroyed.load(), 1);
}

// An already cancelled fiber does not start the call (its result would only
// be dropped); the callable is destroyed unrun. Under a shield it runs.
TEST(RunBlockingCancel, AlreadyCancelledTheCallIsNotStarted) {
  std::atomic<int> calls{0}, destroyed{0}, captures_destroyed{0};
  spindle::runtime rt(two_workers());
  auto t = rt.spawn([&] {
    while (!spindle::this_fiber::cancelled()) spindle::this_fiber::yield();
    {
      spindle::shield s;
      counted shielded = spindle::run_blocking([&] { return counted(destroyed); });
      EXPECT_TRUE(shielded.owns);
    }
    auto capture = std::make_shared<counted>(captures_destroyed);
    return spindle::run_blocking([&, capture] {
      ++calls;
      return counted(destroyed);
    });
  });
  t.cancel();
  EXPECT_THROW(t.join(), spindle::cancelled);
  EXPECT_EQ(calls.load(), 0);
  EXPECT_EQ(destroyed.load(), 1);           // the shielded call's result
  EXPECT_EQ(captures_destroyed.load(), 1);  // the unrun callable went with its job
}

TEST(RunBlockingCancel, UncancelledResultIsReturnedAndDestroyedOnce) {
  std::atomic<int> destroyed{0};
  {
    spindle::runtime rt(two_workers());
    rt.block_on([&] {
      counted r = spindle::run_blocking([&] { return counted(destroyed); });
      EXPECT_TRUE(r.owns);
      EXPECT_EQ(destroyed.load(), 0);
    });
    EXPECT_EQ(destroyed.load(), 1);
    // The exception of a call that was waited for is rethrown, as before.
    EXPECT_THROW(rt.block_on([] {
      spindle::run_blocking([]() -> int { throw std::out_of_range("call"); });
    }),
                 std::out_of_range);
  }
  EXPECT_EQ(destroyed.load(), 1);
}

// Nobody waits for an abandoned call any more: its exception is destroyed
// on the pool thread without a report.
TEST(RunBlockingCancel, ExceptionOfAnAbandonedCallIsDropped) {
  std::atomic<bool> call_started{false}, release{false}, thrown{false};
  spindle::runtime rt(two_workers());
  auto t = rt.spawn([&] {
    spindle::run_blocking([&] {
      call_started = true;
      wait_for(release);
      thrown = true;
      throw std::runtime_error("nobody hears this");
    });
  });
  while (!call_started) std::this_thread::yield();
  t.cancel();
  EXPECT_THROW(t.join(), spindle::cancelled);
  release = true;
  while (!thrown) std::this_thread::sleep_for(100us);
  rt.block_on([] {});  // the runtime goes on
}

TEST(RunBlockingCancel, WithTimeoutAroundACallThatOutlivesIt) {
  std::atomic<bool> release{false};
  std::atomic<int> destroyed{0};
  spindle::runtime rt(two_workers());
  const bool done = rt.block_on([&] {
    auto r = spindle::with_timeout(5ms, [&] {
      return spindle::run_blocking([&] {
        wait_for(release);
        return counted(destroyed);
      });
    });
    EXPECT_TRUE(spindle::with_timeout(1h, [] {
                  return spindle::run_blocking([] { return 1; });
                }).has_value());
    return r.has_value();
  });
  EXPECT_FALSE(done);  // the scope's deadline ended the wait, not the call
  release = true;
  while (destroyed.load() == 0) std::this_thread::sleep_for(100us);
  EXPECT_EQ(destroyed.load(), 1);
}

// ~runtime() unwinds the waiting fiber and still waits for the call.
TEST(RunBlockingCancel, DestructorUnwindsTheWaiterAndWaitsForTheCall) {
  std::atomic<bool> call_started{false}, call_ended{false};
  std::atomic<int> destroyed{0};
  {
    spindle::runtime rt(two_workers());
    rt.spawn([&] {
        (void)spindle::run_blocking([&] {
          call_started = true;
          std::this_thread::sleep_for(20ms);
          call_ended = true;
          return counted(destroyed);
        });
      }).detach();
    while (!call_started) std::this_thread::yield();
  }
  EXPECT_TRUE(call_ended.load());
  EXPECT_EQ(destroyed.load(), 1);
}

TEST(RunBlockingCancel, ShutdownCancelsTheWaitersAndWaitsForTheCalls) {
  std::atomic<int> started{0}, caught{0}, destroyed{0};
  std::atomic<bool> release{false};
  spindle::runtime rt(two_workers());
  for (int i = 0; i < 4; ++i) {
    rt.spawn([&] {
        try {
          (void)spindle::run_blocking([&] {
            ++started;
            wait_for(release);
            return counted(destroyed);
          });
        } catch (const spindle::cancelled&) {
          ++caught;
        }
      }).detach();
  }
  while (started.load() < 4) std::this_thread::yield();
  // The calls end only once every waiter has been cancelled: shutdown's
  // destructor part then has calls in progress to wait for.
  std::thread releaser([&] {
    while (caught.load() < 4) std::this_thread::sleep_for(100us);
    release = true;
  });
  rt.shutdown(60s);  // the fibers end at once; the destructor part waits for the calls
  EXPECT_EQ(caught.load(), 4);
  EXPECT_EQ(destroyed.load(), 4);
  releaser.join();
}

// Cancels racing with the start and the end of the call: whichever wins, a
// call that ran has its result destroyed exactly once, and nothing is
// touched after it is freed.
TEST(RunBlockingCancel, CancelRacingWithTheCallsEnd) {
  const int rounds = scaled(2000, 300);
  std::atomic<int> destroyed{0}, returned{0}, caught{0}, calls{0};
  spindle::runtime rt(two_workers());
  for (int i = 0; i < rounds; ++i) {
    auto t = rt.spawn([&] {
      try {
        counted r = spindle::run_blocking([&] {
          ++calls;
          return counted(destroyed);
        });
        ++returned;
      } catch (const spindle::cancelled&) {
        ++caught;
      }
    });
    t.cancel();
    t.join();
  }
  rt.shutdown(60s);  // every call over (the pool is stopped): every result destroyed
  EXPECT_EQ(returned.load() + caught.load(), rounds);
  EXPECT_GE(calls.load(), returned.load());
  EXPECT_EQ(destroyed.load(), calls.load());
}
