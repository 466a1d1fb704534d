// Cancellation (spindle/cancel.hpp): every wait throws spindle::cancelled once
// its fiber is cancelled, before or during the wait, and keeps doing so;
// shields, deadline scopes and task groups; cancel racing with wake-ups.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <optional>
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

// Runs `wait` in a fiber that is cancelled while (most likely) inside it,
// and once more after that; expects both waits to throw spindle::cancelled.
template <class Wait>
void expect_cancelled_while_waiting(spindle::runtime& rt, Wait wait) {
  std::atomic<bool> entered{false};
  std::atomic<int> thrown{0};
  auto t = rt.spawn([&] {
    entered = true;
    try {
      wait();
    } catch (const spindle::cancelled& e) {
      EXPECT_EQ(e.code(), std::errc::operation_canceled);
      ++thrown;
    }
    try {
      wait();  // sticky: the next wait throws at once
    } catch (const spindle::cancelled&) {
      ++thrown;
    }
  });
  while (!entered) std::this_thread::yield();
  std::this_thread::sleep_for(2ms);  // let it park (either way it must throw)
  t.cancel();
  t.join();
  EXPECT_EQ(thrown.load(), 2);
}

// The same, cancelled before the fiber waits at all.
template <class Wait>
void expect_cancelled_before_waiting(spindle::runtime& rt, Wait wait) {
  std::atomic<bool> go{false};
  std::atomic<int> thrown{0};
  auto t = rt.spawn([&] {
    while (!go) spindle::this_fiber::yield();
    EXPECT_TRUE(spindle::this_fiber::cancelled());
    try {
      wait();
    } catch (const spindle::cancelled&) {
      ++thrown;
    }
  });
  t.cancel();
  go = true;
  t.join();
  EXPECT_EQ(thrown.load(), 1);
}

template <class Wait>
void expect_cancellable(Wait wait) {
  spindle::runtime rt(two_workers());
  expect_cancelled_while_waiting(rt, wait);
  expect_cancelled_before_waiting(rt, wait);
}

}  // namespace

TEST(Cancel, ChannelRecv) {
  spindle::channel<int> ch;
  expect_cancellable([&] { ch.recv(); });
  spindle::channel<int> timed;
  expect_cancellable([&] { timed.recv_for(1h); });
}

TEST(Cancel, ChannelSend) {
  spindle::channel<int> ch;  // unbuffered: a send waits for a receiver
  expect_cancellable([&] { ch.send(1); });
  EXPECT_FALSE(ch.try_recv().has_value());  // the cancelled sends left nothing behind
}

TEST(Cancel, Select) {
  spindle::channel<int> a, b;
  expect_cancellable([&] {
    spindle::select(spindle::on_recv(a, [](std::optional<int>) { FAIL(); }),
                    spindle::on_recv(b, [](std::optional<int>) { FAIL(); }));
  });
}

TEST(Cancel, MutexAndSharedMutex) {
  spindle::mutex m;
  spindle::shared_mutex sm;
  spindle::runtime rt(two_workers());
  spindle::channel<int> held, release;
  auto holder = rt.spawn([&] {
    m.lock();
    sm.lock();
    held.send(1);
    release.recv();
    m.unlock();
    sm.unlock();
  });
  held.recv();
  expect_cancelled_while_waiting(rt, [&] { m.lock(); });
  expect_cancelled_while_waiting(rt, [&] { (void)m.try_lock_for(1h); });
  expect_cancelled_while_waiting(rt, [&] { sm.lock(); });
  expect_cancelled_while_waiting(rt, [&] { sm.lock_shared(); });
  expect_cancelled_before_waiting(rt, [&] { m.lock(); });
  release.send(1);
  holder.join();
  rt.block_on([&] {
    // Still usable: nobody was left queued or owed the lock.
    m.lock();
    m.unlock();
    sm.lock_shared();
    sm.unlock_shared();
    sm.lock();
    sm.unlock();
  });
}

TEST(Cancel, SemaphoreLatchWaitGroupBarrier) {
  spindle::semaphore sem(0);
  expect_cancellable([&] { sem.acquire(); });
  spindle::latch l(1);
  expect_cancellable([&] { l.wait(); });
  spindle::wait_group wg;
  wg.add();
  expect_cancellable([&] { wg.wait(); });
  wg.done();
  spindle::barrier bar(3);
  spindle::runtime rt(two_workers());
  expect_cancelled_while_waiting(rt, [&] { bar.arrive_and_wait(); });
}

TEST(Cancel, TimedLatchWaitGroupAndSignalSet) {
  spindle::latch l(1);
  expect_cancellable([&] { (void)l.wait_for(1h); });
  spindle::wait_group wg;
  wg.add();
  expect_cancellable([&] { (void)wg.wait_until(std::chrono::steady_clock::now() + 1h); });
  wg.done();
  spindle::signal_set sigs{SIGUSR2};
  expect_cancellable([&] { sigs.wait(); });
}

// Socket and descriptor waits: cancelled like every other wait, and the
// socket stays registered and usable afterwards.
TEST(Cancel, SocketReadAcceptAndForeignDescriptorWaits) {
  namespace net = spindle::net;
  spindle::runtime rt(two_workers());
  auto lst = net::tcp_listener::bind(spindle::test::loopback_any_port());
  auto client = net::tcp_stream::connect(lst.local_endpoint());
  auto server = lst.accept();
  std::byte buf[16];
  expect_cancelled_while_waiting(rt, [&] { (void)server.read_some(buf); });
  expect_cancelled_while_waiting(rt, [&] {
    std::error_code ec;  // the error_code form lets the cancellation through
    (void)server.read_some(buf, ec);
    ADD_FAILURE() << "cancellation turned into an error code: " << ec.message();
  });
  expect_cancelled_while_waiting(rt, [&] { (void)lst.accept(); });
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  expect_cancelled_while_waiting(rt, [&] { spindle::io::wait_readable(fds[0]); });
  expect_cancelled_before_waiting(rt, [&] { (void)server.read_some(buf); });
  // Still usable: a byte sent now is read by a fiber that is not cancelled.
  const std::byte one{42};
  client.write_all(std::span(&one, 1));
  EXPECT_EQ(rt.block_on([&] { return server.read_some(buf); }), 1u);
  EXPECT_EQ(buf[0], one);
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST(Cancel, ConditionVariable) {
  spindle::mutex m;
  spindle::condition_variable cv;
  spindle::runtime rt(two_workers());
  expect_cancelled_while_waiting(rt, [&] {
    std::unique_lock lk(m);
    cv.wait(lk);
    ADD_FAILURE() << "woken without a notify";
  });
  rt.block_on([&] {
    EXPECT_TRUE(m.try_lock());  // the cancelled wait gave the mutex back
    m.unlock();
  });
}

TEST(Cancel, FutureJoinAndSleep) {
  spindle::promise<int> p;
  auto f = p.get_future();
  expect_cancellable([&] { (void)f.wait_for(1h); });
  expect_cancellable([&] { spindle::this_fiber::sleep_for(1h); });
  spindle::runtime rt(two_workers());
  spindle::channel<int> never;
  // Started before the join below, so the join parks instead of running it
  // inline (then the joiner's cancellation would reach the child too:
  // CancellingAJoinerEndsTheWaitOfTheChildItRunsInline).
  std::atomic<bool> blocked_started{false};
  auto blocked = rt.spawn([&] {
    blocked_started = true;
    never.recv();
  });
  while (!blocked_started) std::this_thread::yield();
  std::atomic<bool> entered{false};
  auto joiner = rt.spawn([&] {
    entered = true;
    blocked.join();  // a task that does not finish: only the joiner is cancelled
  });
  while (!entered) std::this_thread::yield();
  std::this_thread::sleep_for(2ms);
  joiner.cancel();
  EXPECT_THROW(joiner.join(), spindle::cancelled);
  EXPECT_TRUE(blocked.joinable());
  blocked.cancel();
  EXPECT_THROW(blocked.join(), spindle::cancelled);
  p.set_value(1);
}

TEST(Cancel, JoinRethrowsUnlessTheFiberCaughtIt) {
  spindle::runtime rt(two_workers());
  spindle::channel<int> ch;
  auto caught = rt.spawn([&] {
    try {
      ch.recv();
    } catch (const spindle::cancelled&) {
      return 7;
    }
    return 0;
  });
  auto not_caught = rt.spawn([&] { return ch.recv().value_or(0); });
  std::this_thread::sleep_for(2ms);
  caught.cancel();
  not_caught.cancel();
  EXPECT_EQ(caught.join(), 7);
  EXPECT_THROW(not_caught.join(), spindle::cancelled);
}

TEST(Cancel, ThisFiberCancelledForComputationsThatNeverWait) {
  spindle::runtime rt(two_workers());
  std::atomic<bool> started{false};
  auto t = rt.spawn([&] {
    started = true;
    long spins = 0;
    while (!spindle::this_fiber::cancelled()) ++spins;
    EXPECT_THROW(spindle::this_fiber::throw_if_cancelled(), spindle::cancelled);
    spindle::this_fiber::yield();  // never throws
    return spins;
  });
  while (!started) std::this_thread::yield();
  t.cancel();
  EXPECT_GE(t.join(), 0);
  EXPECT_FALSE(spindle::this_fiber::cancelled());  // a plain thread is never cancelled
}

TEST(Cancel, ShieldDefersTheRequestToTheFirstWaitAfterIt) {
  spindle::runtime rt(two_workers());
  spindle::channel<int> ch(1);
  std::atomic<bool> go{false};
  auto t = rt.spawn([&] {
    while (!go) spindle::this_fiber::yield();
    {
      spindle::shield s;
      EXPECT_FALSE(spindle::this_fiber::cancelled());
      spindle::this_fiber::sleep_for(1ms);  // does not throw
      ch.send(1);
      EXPECT_EQ(ch.recv(), 1);
    }
    EXPECT_TRUE(spindle::this_fiber::cancelled());
    spindle::this_fiber::sleep_for(1ms);  // throws
    ADD_FAILURE() << "the wait after the shield did not throw";
  });
  t.cancel();
  go = true;
  EXPECT_THROW(t.join(), spindle::cancelled);
}

TEST(Cancel, WithTimeoutEndsTheWaitsInsideAndReturnsNothing) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    spindle::channel<int> ch;
    std::optional<int> r = spindle::with_timeout(5ms, [&] { return ch.recv().value_or(-1); });
    EXPECT_FALSE(r.has_value());
    EXPECT_FALSE(spindle::this_fiber::cancelled());  // the scope is over
    ch.close();
    EXPECT_EQ(spindle::with_timeout(1h, [&] { return ch.recv().value_or(-1); }), -1);
    bool completed = spindle::with_timeout(5ms, [&] { spindle::this_fiber::sleep_for(1h); });
    EXPECT_FALSE(completed);
    EXPECT_TRUE(spindle::with_timeout(1h, [] {}));
    // A wait's own, earlier timeout is still its own: it returns normally.
    EXPECT_EQ(spindle::with_timeout(1h,
                                    [&] {
                                      spindle::channel<int> empty;
                                      return empty.recv_for(1ms).has_value() ? 1 : 2;
                                    }),
              2);
  });
}

TEST(Cancel, NestedScopesTheEarliestDeadlineWins) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    spindle::channel<int> ch;
    int inner_ended = 0;
    // The inner scope runs out first: it returns nullopt, the outer goes on.
    auto outer = spindle::with_timeout(1h, [&] {
      auto inner = spindle::with_timeout(2ms, [&] { return ch.recv().value_or(0); });
      EXPECT_FALSE(inner.has_value());
      ++inner_ended;
      return 5;
    });
    EXPECT_EQ(outer, 5);
    // The outer scope runs out first: the inner one lets it through.
    bool inner_returned = false;
    auto outer2 = spindle::with_timeout(2ms, [&] {
      auto inner = spindle::with_timeout(1h, [&] { return ch.recv().value_or(0); });
      inner_returned = true;
      return inner.value_or(0);
    });
    EXPECT_FALSE(outer2.has_value());
    EXPECT_FALSE(inner_returned);
    EXPECT_EQ(inner_ended, 1);
  });
}

TEST(Cancel, ScopeDoesNotSwallowTheFibersOwnCancellation) {
  spindle::runtime rt(two_workers());
  spindle::channel<int> ch;
  std::atomic<bool> in_scope{false};
  auto t = rt.spawn([&] {
    spindle::with_timeout(1h, [&] {
      in_scope = true;
      ch.recv();
    });
    ADD_FAILURE() << "with_timeout swallowed the fiber's cancellation";
  });
  while (!in_scope) std::this_thread::yield();
  t.cancel();
  EXPECT_THROW(t.join(), spindle::cancelled);
}

TEST(Cancel, ScopesAndGroupsNeedAFiber) {
  EXPECT_THROW(spindle::with_timeout(1ms, [] {}), std::logic_error);
  EXPECT_THROW(spindle::task_group{}, std::logic_error);
  spindle::shield s;  // does nothing on a plain thread
  spindle::task<int> empty;
  EXPECT_THROW(empty.cancel(), std::logic_error);
}

TEST(TaskGroup, JoinWaitsForEveryChild) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    std::atomic<int> ran{0};
    spindle::task_group g;
    for (int i = 0; i < 100; ++i) g.spawn([&ran](int k) { ran += k; }, 1);
    g.join();
    EXPECT_EQ(ran.load(), 100);
    g.spawn([&] { ++ran; });  // reusable
    g.join();
    EXPECT_EQ(ran.load(), 101);
  });
}

TEST(TaskGroup, FirstErrorCancelsTheOthersAndIsRethrown) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    std::atomic<int> cancelled_children{0};
    spindle::channel<int> never;
    spindle::task_group g;
    for (int i = 0; i < 10; ++i) {
      g.spawn([&] {
        try {
          never.recv();
        } catch (const spindle::cancelled&) {
          ++cancelled_children;
          throw;
        }
      });
    }
    g.spawn([] {
      spindle::this_fiber::sleep_for(1ms);
      throw std::runtime_error("boom");
    });
    try {
      g.join();
      ADD_FAILURE() << "join did not rethrow";
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "boom");
    }
    EXPECT_EQ(cancelled_children.load(), 10);
  });
}

TEST(TaskGroup, CancellingTheOwnerCancelsTheChildren) {
  spindle::runtime rt(two_workers());
  spindle::channel<int> never;
  std::atomic<int> cancelled_children{0};
  std::atomic<bool> spawned{false};
  auto owner = rt.spawn([&] {
    spindle::task_group g;
    for (int i = 0; i < 5; ++i) {
      g.spawn([&] {
        try {
          never.recv();
        } catch (const spindle::cancelled&) {
          ++cancelled_children;
          throw;
        }
      });
    }
    spawned = true;
    g.join();  // returns once the children end; then throws: the owner is cancelled
    ADD_FAILURE() << "join returned in a cancelled fiber whose children were cut short";
  });
  while (!spawned) std::this_thread::yield();
  owner.cancel();
  EXPECT_THROW(owner.join(), spindle::cancelled);
  EXPECT_EQ(cancelled_children.load(), 5);
}

TEST(TaskGroup, EnclosingScopeBoundsTheChildren) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    spindle::channel<int> never;
    std::atomic<int> ended{0};
    auto r = spindle::with_timeout(5ms, [&] {
      spindle::task_group g;
      for (int i = 0; i < 4; ++i) {
        g.spawn([&] {
          try {
            never.recv();
          } catch (const spindle::cancelled&) {
            ++ended;
            throw;
          }
        });
      }
      g.join();
      return 1;
    });
    EXPECT_FALSE(r.has_value());
    EXPECT_EQ(ended.load(), 4);
  });
}

TEST(TaskGroup, DestructorCancelsAndJoinsNeverDetaches) {
  spindle::runtime rt(two_workers());
  std::atomic<int> finished{0};
  rt.block_on([&] {
    spindle::channel<int> never;
    {
      spindle::task_group g;
      for (int i = 0; i < 8; ++i) {
        g.spawn([&] {
          struct count_on_exit {
            std::atomic<int>& n;
            ~count_on_exit() { ++n; }
          } c{finished};
          never.recv();
        });
      }
      spindle::this_fiber::sleep_for(1ms);
    }  // ~task_group
    EXPECT_EQ(finished.load(), 8);
  });
  EXPECT_EQ(finished.load(), 8);
}

TEST(TaskGroup, CancelIsForPresentAndFutureChildren) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    spindle::task_group g;
    g.cancel();
    std::atomic<bool> saw{false};
    g.spawn([&] { saw = spindle::this_fiber::cancelled(); });
    g.join();  // the caller is not cancelled: returns normally
    EXPECT_TRUE(saw.load());
  });
}

TEST(Cancel, InlineJoinedFiberIsWokenToo) {
  // join() of a fiber that has not started runs it on the joiner's stack;
  // cancelling it must still wake its wait.
  spindle::runtime rt(spindle::options{.workers = 1});
  spindle::channel<int> never;
  spindle::channel<spindle::task<void>*> handle(1);
  std::atomic<bool> waiting{false};
  auto outer = rt.spawn([&] {
    auto inner = spindle::spawn([&] {
      waiting = true;
      never.recv();
    });
    handle.send(&inner);
    inner.join();
  });
  spindle::task<void>* inner = handle.recv().value();
  while (!waiting) std::this_thread::yield();
  std::this_thread::sleep_for(2ms);
  inner->cancel();
  EXPECT_THROW(outer.join(), spindle::cancelled);
}

TEST(Cancel, InlineJoinedFiberIsWokenAtALaterPark) {
  // The joiner an inline child parks on is noted at its first park and kept:
  // a cancel during its second park must wake it as well.
  spindle::runtime rt(spindle::options{.workers = 1});
  spindle::channel<int> first(0), never(0);
  spindle::channel<spindle::task<void>*> handle(1);
  std::atomic<int> stage{0};
  auto outer = rt.spawn([&] {
    auto inner = spindle::spawn([&] {
      stage = 1;
      first.recv();  // park 1, woken normally
      stage = 2;
      never.recv();  // park 2, woken by the cancel
    });
    handle.send(&inner);
    inner.join();
  });
  spindle::task<void>* inner = handle.recv().value();
  while (stage != 1) std::this_thread::yield();
  first.send(1);
  while (stage != 2) std::this_thread::yield();
  std::this_thread::sleep_for(2ms);
  inner->cancel();
  EXPECT_THROW(outer.join(), spindle::cancelled);
}

// join() runs a fiber that has not started on the joiner's stack; that join
// ends only when the child's run does. So the joiner's cancellation and its
// deadlines reach the child's waits, as long as no shield covers the join
// (fiber.hpp, joined_by). One worker in each: nobody else can start the
// child, so the joins below run it inline.

namespace {

// The body of such a child: notes that it runs, waits on `never` for ever,
// and notes that the wait threw spindle::cancelled, which it rethrows.
auto waits_for_ever(spindle::channel<int>& never, std::atomic<bool>& running,
                    std::atomic<bool>& cancelled) {
  return [&never, &running, &cancelled] {
    running = true;
    try {
      never.recv();
    } catch (const spindle::cancelled&) {
      cancelled = true;
      throw;
    }
  };
}

}  // namespace

// The joiner is cancelled while the child waits.
TEST(Cancel, CancellingAJoinerEndsTheWaitOfTheChildItRunsInline) {
  spindle::runtime rt(spindle::options{.workers = 1});
  spindle::channel<int> never;
  std::atomic<bool> child_waiting{false}, child_cancelled{false};
  auto joiner = rt.spawn(
      [&] { spindle::spawn(waits_for_ever(never, child_waiting, child_cancelled)).join(); });
  while (!child_waiting) std::this_thread::yield();
  std::this_thread::sleep_for(2ms);  // parked by now, or about to: either way
  joiner.cancel();
  EXPECT_THROW(joiner.join(), spindle::cancelled);
  EXPECT_TRUE(child_cancelled.load());
}

// The joiner was cancelled before it joined: the child's first wait throws.
TEST(Cancel, ACancelledJoinerCancelsTheFirstWaitOfTheChildItRunsInline) {
  spindle::runtime rt(spindle::options{.workers = 1});
  spindle::channel<int> never;
  std::atomic<bool> running{false}, go{false}, child_running{false}, child_cancelled{false};
  auto joiner = rt.spawn([&] {
    running = true;
    while (!go.load()) {
    }
    spindle::spawn(waits_for_ever(never, child_running, child_cancelled)).join();
  });
  while (!running) std::this_thread::yield();
  joiner.cancel();
  go = true;
  EXPECT_THROW(joiner.join(), spindle::cancelled);
  EXPECT_TRUE(child_cancelled.load());
}

// with_timeout around a join bounds the fiber the join runs inline.
TEST(Cancel, WithTimeoutBoundsAChildItsJoinRunsInline) {
  spindle::runtime rt(spindle::options{.workers = 1});
  rt.block_on([] {
    spindle::channel<int> never;
    std::atomic<bool> child_running{false}, child_cancelled{false};
    const auto start = std::chrono::steady_clock::now();
    const std::optional<int> r = spindle::with_timeout(20ms, [&] {
      spindle::spawn(waits_for_ever(never, child_running, child_cancelled)).join();
      return 1;
    });
    EXPECT_FALSE(r.has_value());
    EXPECT_TRUE(child_cancelled.load());
    EXPECT_GE(std::chrono::steady_clock::now() - start, 20ms);
  });
}

// A shield around the join keeps the joiner's cancellation out of the child;
// the joiner sees it at its next wait outside the shield.
TEST(Cancel, AShieldAroundAJoinKeepsTheJoinersCancelFromTheChild) {
  spindle::runtime rt(spindle::options{.workers = 1});
  spindle::channel<int> to_child(0), never;
  std::atomic<bool> child_waiting{false};
  std::atomic<int> child_got{0};
  auto joiner = rt.spawn([&] {
    {
      spindle::shield s;
      auto child = spindle::spawn([&] {
        child_waiting = true;
        child_got = to_child.recv().value();
      });
      child.join();
    }
    never.recv();  // throws: the request is sticky
  });
  while (!child_waiting) std::this_thread::yield();
  std::this_thread::sleep_for(2ms);
  joiner.cancel();
  std::this_thread::sleep_for(2ms);
  // The child was not woken by the cancel: it still takes this (bounded, so
  // a child woken by mistake fails the test instead of hanging it).
  EXPECT_TRUE(to_child.send_for(42, 10s));
  EXPECT_THROW(joiner.join(), spindle::cancelled);
  EXPECT_EQ(child_got.load(), 42);
}

// Two levels: middle runs inline on outer's stack and runs leaf inline in
// turn; a cancel of middle ends leaf's wait (middle's join of leaf cannot
// end otherwise), and middle's join rethrows it.
TEST(Cancel, CancellingAnInlineJoinerEndsTheWaitOfItsInlineChild) {
  spindle::runtime rt(spindle::options{.workers = 1});
  spindle::channel<int> to_middle(0), never(0);
  spindle::channel<spindle::task<void>*> handle(1);
  std::atomic<bool> middle_waiting{false}, leaf_waiting{false}, leaf_cancelled{false};
  auto outer = rt.spawn([&] {
    auto middle = spindle::spawn([&] {
      middle_waiting = true;
      to_middle.recv();  // a park of middle's own on outer's stack
      spindle::spawn(waits_for_ever(never, leaf_waiting, leaf_cancelled)).join();  // inline
    });
    handle.send(&middle);
    EXPECT_THROW(middle.join(), spindle::cancelled);
  });
  spindle::task<void>* middle = handle.recv().value();
  while (!middle_waiting) std::this_thread::yield();
  std::this_thread::sleep_for(2ms);  // parked by now
  to_middle.send(1);
  while (!leaf_waiting) std::this_thread::yield();
  std::this_thread::sleep_for(2ms);
  middle->cancel();
  outer.join();  // outer itself was not cancelled
  EXPECT_TRUE(leaf_cancelled.load());
}

// Cancels race with an inline child's parks and wake-ups on its joiner's
// stack: each wakes it at once or is seen at its next park, no value handed
// over is lost, and nothing is left parked (TSan, ASan). The child waits for
// the cancel to return before it ends: task::cancel must not race join().
TEST(CancelRace, InlineChildParksWhileCancelled) {
  spindle::runtime rt(two_workers());
  const int rounds = scaled(5'000, 500);
  spindle::channel<int> ch(0);
  long sent = 0, received = 0;
  for (int i = 0; i < rounds; ++i) {
    std::optional<spindle::task<void>> inner;  // outlives outer: cancelled from here
    std::atomic<bool> spawned{false}, cancel_returned{false};
    std::atomic<int> got{0};
    auto outer = rt.spawn([&] {
      inner.emplace(spindle::spawn([&] {
        struct wait_for_the_canceller {
          std::atomic<bool>& done;
          ~wait_for_the_canceller() {
            while (!done.load()) std::this_thread::yield();
          }
        } before_the_end{cancel_returned};
        for (int k = 0; k < 3; ++k) {
          ch.recv();
          ++got;
        }
      }));
      spawned.store(true, std::memory_order_release);
      try {
        inner->join();  // runs it inline: its parks are on outer's stack
      } catch (const spindle::cancelled&) {
      }
    });
    auto feeder = rt.spawn([&] {
      int n = 0;
      while (n < 3 && ch.send_for(n, 20ms)) ++n;  // stops once the receiver is cancelled
      return n;
    });
    while (!spawned.load(std::memory_order_acquire)) std::this_thread::yield();
    for (int spin = 0; spin < i % 32; ++spin) std::this_thread::yield();
    inner->cancel();  // before, during or between the parks
    cancel_returned = true;
    sent += feeder.join();
    outer.join();
    received += got;
  }
  EXPECT_EQ(received, sent);  // every hand-over taken, none lost to a cancel
}

// A cancel racing with a hand-over: every value sent is either received or
// still in the channel; never lost, never twice.
TEST(CancelRace, ChannelValuesAreConserved) {
  spindle::runtime rt(two_workers());
  const int rounds = scaled(10'000, 1'000);
  spindle::channel<int> ch(1);
  long received = 0, sent = 0;
  for (int i = 0; i < rounds; ++i) {
    std::atomic<int> got{0};
    auto consumer = rt.spawn([&] {
      try {
        for (;;) {
          ch.recv();
          ++got;
        }
      } catch (const spindle::cancelled&) {
      }
    });
    auto producer = rt.spawn([&] { return ch.try_send(i) ? 1 : 0; });
    sent += producer.join();
    if (i % 2) std::this_thread::yield();  // vary the interleaving a little
    consumer.cancel();
    consumer.join();
    received += got;
    while (ch.try_recv()) ++received;
  }
  EXPECT_EQ(received, sent);
}

TEST(CancelRace, SemaphorePermitsAreConserved) {
  spindle::runtime rt(two_workers());
  const int rounds = scaled(10'000, 1'000);
  spindle::semaphore sem(0);
  long acquired = 0;
  for (int i = 0; i < rounds; ++i) {
    std::atomic<int> got{0};
    auto waiter = rt.spawn([&] {
      try {
        sem.acquire();
        ++got;
      } catch (const spindle::cancelled&) {
      }
    });
    auto releaser = rt.spawn([&] { sem.release(); });
    if (i % 3 == 0) std::this_thread::yield();
    waiter.cancel();
    waiter.join();
    releaser.join();
    acquired += got;
    while (sem.try_acquire()) ++acquired;
  }
  EXPECT_EQ(acquired, rounds);
}

TEST(CancelRace, MutexHandOverIsNeverLost) {
  spindle::runtime rt(two_workers());
  const int rounds = scaled(10'000, 1'000);
  spindle::mutex m;
  long locked = 0;
  for (int i = 0; i < rounds; ++i) {
    auto holder = rt.spawn([&] {
      m.lock();
      spindle::this_fiber::yield();
      m.unlock();
    });
    auto contender = rt.spawn([&] {
      try {
        m.lock();
        ++locked;
        m.unlock();
      } catch (const spindle::cancelled&) {
      }
    });
    contender.cancel();
    contender.join();
    holder.join();
    ASSERT_TRUE(rt.block_on([&] {
      const bool ok = m.try_lock();  // free again: no hand-over stranded
      if (ok) m.unlock();
      return ok;
    }));
  }
  EXPECT_LE(locked, rounds);
}

TEST(CancelRace, CancelFromManyThreadsAtOnce) {
  spindle::runtime rt(two_workers());
  for (int i = 0; i < scaled(2'000, 200); ++i) {
    spindle::channel<int> ch;
    auto t = rt.spawn([&] { ch.recv(); });
    std::thread a([&] { t.cancel(); });
    std::thread b([&] { t.cancel(); });
    t.cancel();
    a.join();
    b.join();
    EXPECT_THROW(t.join(), spindle::cancelled);
  }
}
