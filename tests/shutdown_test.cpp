// runtime::shutdown(grace): every fiber is cancelled (blocked or not, started
// or not, spawned during the grace period), shutdown returns once all have
// ended, the rest get ~runtime()'s treatment; idempotent; refused inside a
// fiber of the runtime. No test depends on timing: the graces are either
// generous (shutdown returns long before them, as every fiber ends) or the
// point of the test (a fiber that ignores its cancellation).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <spindle/spindle.hpp>
#include <stdexcept>
#include <thread>
#include <vector>

#include "net_support.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using spindle::test::scaled;
using spindle::test::two_workers;

namespace {

// Generous: shutdown returns as soon as every fiber has ended, long before.
constexpr auto generous_grace = 60s;

// Counts its destructions: a fiber's stack was unwound.
struct tracked {
  std::atomic<int>& destroyed;
  ~tracked() { ++destroyed; }
};

}  // namespace

TEST(Shutdown, EndsFibersBlockedInEveryKindOfWait) {
  namespace net = spindle::net;
  std::atomic<int> destroyed{0}, caught{0}, entered{0};
  spindle::mutex m;
  spindle::channel<int> never;
  spindle::promise<int> unkept;
  auto unkept_future = unkept.get_future();
  auto lst = net::tcp_listener::bind(spindle::test::loopback_any_port());
  auto client = net::tcp_stream::connect(lst.local_endpoint());
  auto server = lst.accept();
  std::vector<spindle::task<void>> tasks;
  {
    spindle::runtime rt(two_workers());
    // Each body: a tracked local, one wait that never ends by itself, and a
    // handler that counts the cancellation and lets it propagate.
    auto blocked = [&](auto wait) {
      return [&, wait] {
        tracked t{destroyed};
        ++entered;
        try {
          wait();
        } catch (const spindle::cancelled&) {
          ++caught;
          throw;
        }
      };
    };
    rt.block_on([&] { m.lock(); });  // held by nobody who will unlock it
    tasks.push_back(rt.spawn(blocked([&] { m.lock(); })));
    tasks.push_back(rt.spawn(blocked([&] { (void)never.recv(); })));
    tasks.push_back(rt.spawn(blocked([&] { spindle::this_fiber::sleep_for(1h); })));
    tasks.push_back(rt.spawn(blocked([&] {
      std::byte buf[16];
      (void)server.read_some(buf);
    })));
    tasks.push_back(rt.spawn(blocked([&] { (void)unkept_future.get(); })));
    auto stuck = rt.spawn(blocked([&] { (void)never.recv(); }));
    tasks.push_back(rt.spawn(blocked([&, s = &stuck] { s->join(); })));
    tasks.push_back(rt.spawn(blocked([&] {
      spindle::task_group g;
      for (int i = 0; i < 3; ++i) g.spawn(blocked([&] { (void)never.recv(); }));
      g.join();
    })));
    while (entered.load() < 11) std::this_thread::yield();
    rt.shutdown(generous_grace);
    // 7 fibers, the joined one and 3 children: every one caught its
    // cancellation and ended, its locals destroyed.
    EXPECT_EQ(caught.load(), 11);
    EXPECT_EQ(destroyed.load(), 11);
    for (auto& t : tasks) EXPECT_THROW(t.join(), spindle::cancelled);
  }
  EXPECT_EQ(destroyed.load(), 11);  // ~runtime() found nothing more to unwind
  // The socket was left usable: a byte written now is read on a plain thread.
  const std::byte one{7};
  client.write_all(std::span(&one, 1));
  std::byte buf[4];
  EXPECT_EQ(server.read_some(buf), 1u);
  EXPECT_EQ(buf[0], one);
}

TEST(Shutdown, CleanupUnderAShieldFinishesWithinTheGrace) {
  std::atomic<int> cleaned{0}, entered{0};
  spindle::channel<int> never;
  spindle::channel<int> log(16);
  spindle::runtime rt(two_workers());
  for (int i = 0; i < 4; ++i) {
    rt.spawn([&] {
        std::exception_ptr why;
        try {
          ++entered;
          (void)never.recv();
        } catch (const spindle::cancelled&) {
          why = std::current_exception();  // no wait inside a catch block (USER_GUIDE)
        }
        {
          spindle::shield s;
          spindle::this_fiber::sleep_for(5ms);  // waits, not cut short
          log.send(1);
          ++cleaned;
        }
        std::rethrow_exception(why);
      }).detach();
  }
  while (entered.load() < 4) std::this_thread::yield();
  rt.shutdown(generous_grace);
  EXPECT_EQ(cleaned.load(), 4);
  int sent = 0;
  while (log.try_recv()) ++sent;
  EXPECT_EQ(sent, 4);
}

TEST(Shutdown, FibersThatHadNotStartedStartCancelled) {
  const int n = scaled(2000, 200);
  std::atomic<int> destroyed{0}, caught{0}, saw_cancelled{0};
  spindle::channel<int> never;
  spindle::runtime rt(two_workers());
  for (int i = 0; i < n; ++i) {
    rt.spawn([&] {
        tracked t{destroyed};
        if (spindle::this_fiber::cancelled()) ++saw_cancelled;
        try {
          (void)never.recv();
        } catch (const spindle::cancelled&) {
          ++caught;
        }
      }).detach();
  }
  rt.shutdown(generous_grace);
  EXPECT_EQ(caught.load(), n);  // started before or after the request, each wait threw
  EXPECT_EQ(destroyed.load(), n);
  EXPECT_LE(saw_cancelled.load(), n);
}

TEST(Shutdown, FibersSpawnedDuringTheGraceStartCancelled) {
  std::atomic<int> child_saw{0}, child_caught{0}, entered{0};
  spindle::channel<int> never;
  spindle::runtime rt(two_workers());
  for (int i = 0; i < 3; ++i) {
    rt.spawn([&] {
        try {
          ++entered;
          (void)never.recv();
        } catch (const spindle::cancelled&) {
          // Spawned after the request: cancelled from its start (no wait here).
          spindle::spawn([&] {
            if (spindle::this_fiber::cancelled()) ++child_saw;
            try {
              spindle::this_fiber::sleep_for(1h);
            } catch (const spindle::cancelled&) {
              ++child_caught;
            }
          }).detach();
        }
      }).detach();
  }
  while (entered.load() < 3) std::this_thread::yield();
  rt.shutdown(generous_grace);  // returns once the children have ended too
  EXPECT_EQ(child_saw.load(), 3);
  EXPECT_EQ(child_caught.load(), 3);
}

TEST(Shutdown, AComputationPollingCancelledEndsByItself) {
  std::atomic<bool> entered{false};
  std::atomic<long> rounds{0};
  spindle::runtime rt(two_workers());
  auto t = rt.spawn([&] {
    entered = true;
    while (!spindle::this_fiber::cancelled()) {
      ++rounds;
      spindle::this_fiber::yield();
    }
    return 5;
  });
  while (!entered) std::this_thread::yield();
  rt.shutdown(generous_grace);
  EXPECT_EQ(t.join(), 5);  // it returned normally: it has its result
}

// A fiber that catches every cancellation and waits again never ends by
// itself: after the grace it is unwound as ~runtime() unwinds (at its next
// wait), and its join() has no result.
TEST(Shutdown, AFiberIgnoringItsCancellationIsUnwoundAfterTheGrace) {
  std::atomic<int> destroyed{0};
  std::atomic<long> ignored{0};
  std::atomic<bool> entered{false};
  spindle::runtime rt(two_workers());
  auto t = rt.spawn([&] {
    tracked tr{destroyed};
    entered = true;
    for (;;) {
      try {
        spindle::this_fiber::sleep_for(1h);
      } catch (const spindle::cancelled&) {
        ++ignored;
      }
    }
  });
  while (!entered) std::this_thread::yield();
  rt.shutdown(100ms);
  // Whether its sleep was woken within the grace (ignored > 0) depends on
  // timing; that it is unwound afterwards does not.
  EXPECT_EQ(destroyed.load(), 1);
  EXPECT_THROW(t.join(), std::logic_error);
}

// A fiber that only yields (it never waits, so nothing throws in it) is left
// to ~runtime()'s treatment too: unwound at its next switch.
TEST(Shutdown, AFiberThatNeverWaitsIsUnwoundAfterTheGrace) {
  std::atomic<int> destroyed{0};
  std::atomic<bool> entered{false};
  spindle::runtime rt(two_workers());
  rt.spawn([&] {
      tracked tr{destroyed};
      entered = true;
      for (;;) spindle::this_fiber::yield();
    }).detach();
  while (!entered) std::this_thread::yield();
  rt.shutdown(20ms);
  EXPECT_EQ(destroyed.load(), 1);
}

TEST(Shutdown, IsIdempotentAndRefusesSpawnAfterwards) {
  spindle::runtime rt(two_workers());
  EXPECT_EQ(rt.block_on([] { return 3; }), 3);
  rt.shutdown(1s);
  rt.shutdown(1s);  // returns at once
  rt.shutdown(0s);
  EXPECT_THROW(rt.spawn([] {}), std::logic_error);
  EXPECT_THROW(rt.block_on([] { return 1; }), std::logic_error);
  EXPECT_EQ(rt.workers(), 2u);
}  // ~runtime() after shutdown: only frees

TEST(Shutdown, WithZeroGraceItIsTheDestructorsTreatment) {
  std::atomic<int> destroyed{0};
  std::atomic<bool> entered{false};
  spindle::channel<int> never;
  spindle::runtime rt(two_workers());
  rt.spawn([&] {
      tracked tr{destroyed};
      entered = true;
      (void)never.recv();
    }).detach();
  while (!entered) std::this_thread::yield();
  rt.shutdown(0s);
  EXPECT_EQ(destroyed.load(), 1);  // cancelled or unwound: either way its stack is gone
}

TEST(Shutdown, InsideAFiberOfThatRuntimeThrowsLogicError) {
  spindle::runtime rt(two_workers());
  rt.block_on([&] { EXPECT_THROW(rt.shutdown(1s), std::logic_error); });
  // From a fiber of another runtime it is allowed (it blocks that worker).
  spindle::runtime other(two_workers());
  other.block_on([&] { rt.shutdown(1s); });
  EXPECT_THROW(rt.spawn([] {}), std::logic_error);
}

TEST(Shutdown, RacesWithFibersEndingAndSpawning) {
  const int rounds = scaled(50, 10);
  for (int r = 0; r < rounds; ++r) {
    std::atomic<int> destroyed{0}, spawned{0};
    spindle::runtime rt(two_workers());
    // A tree of fibers that spawn and end while the shutdown runs.
    std::function<void(int)> grow = [&](int depth) {
      tracked t{destroyed};
      if (depth == 0) {
        spindle::this_fiber::sleep_for(1h);
        return;
      }
      for (int i = 0; i < 3; ++i) {
        ++spawned;
        spindle::spawn(grow, depth - 1).detach();
      }
      spindle::this_fiber::yield();
    };
    ++spawned;
    rt.spawn(grow, 5).detach();
    std::this_thread::sleep_for(std::chrono::microseconds(r * 20));
    rt.shutdown(generous_grace);
    EXPECT_EQ(destroyed.load(), spawned.load());
  }
}

// A fiber of one runtime that joins a fiber of another before it started
// runs it inline: its end still counts for its own runtime, so both
// shutdowns return as soon as their fibers have ended (with a wrong count,
// one would wait out its grace: an hour, which ctest's timeout turns into a
// failure).
TEST(Shutdown, AFiberRunInlineByAnotherRuntimesJoinerCountsForItsOwn) {
  spindle::runtime a(spindle::options{.workers = 1});
  spindle::runtime b(two_workers());
  std::atomic<bool> release{false}, busy{false};
  a.spawn([&] {
     busy = true;
     while (!release) {
     }  // holds a's only worker, so the next fiber cannot start there
   }).detach();
  while (!busy) std::this_thread::yield();
  auto t = a.spawn([] { return 11; });
  EXPECT_EQ(b.block_on([&] { return t.join(); }), 11);  // run inline on b's worker
  release = true;
  a.shutdown(1h);
  b.shutdown(1h);
}

TEST(Shutdown, InARunBlockingCallOfThatRuntimeThrowsLogicError) {
  spindle::runtime rt(two_workers());
  rt.block_on(
      [&] { spindle::run_blocking([&] { EXPECT_THROW(rt.shutdown(1s), std::logic_error); }); });
}
