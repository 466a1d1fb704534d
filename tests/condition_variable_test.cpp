// spindle::condition_variable: exact producer/consumer delivery, no lost and
// no phantom notifications, timed waits, fibers and threads together, misuse.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <mutex>
#include <spindle/runtime.hpp>
#include <spindle/sync/condition_variable.hpp>
#include <spindle/sync/mutex.hpp>
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

namespace {

// A bounded queue built the textbook way, to drive the condition variable.
class bounded_queue {
 public:
  explicit bounded_queue(std::size_t cap) : cap_(cap) {}
  void push(int v) {
    std::unique_lock<spindle::mutex> lk(m_);
    not_full_.wait(lk, [&] { return q_.size() < cap_; });
    q_.push_back(v);
    not_empty_.notify_one();
  }
  // -1 once closed and drained.
  int pop() {
    std::unique_lock<spindle::mutex> lk(m_);
    not_empty_.wait(lk, [&] { return !q_.empty() || closed_; });
    if (q_.empty()) return -1;
    int v = q_.front();
    q_.pop_front();
    not_full_.notify_one();
    return v;
  }
  void close() {
    std::lock_guard<spindle::mutex> g(m_);
    closed_ = true;
    not_empty_.notify_all();
  }

 private:
  const std::size_t cap_;
  spindle::mutex m_;
  spindle::condition_variable not_full_;
  spindle::condition_variable not_empty_;
  std::deque<int> q_;
  bool closed_ = false;
};

}  // namespace

TEST(ConditionVariable, ProducerConsumerDeliversEveryItemExactlyOnce) {
  spindle::runtime rt(two_workers());
  const int producers = 4;  // the last one is a plain thread
  const int consumers = 4;  // the last one is a plain thread
  const int per_producer = scaled(20000, 2000);
  bounded_queue q(8);
  std::vector<std::atomic<int>> seen(static_cast<std::size_t>(producers * per_producer));
  std::atomic<long> received{0};

  auto consume = [&] {
    for (int v; (v = q.pop()) >= 0;) {
      seen[static_cast<std::size_t>(v)].fetch_add(1, std::memory_order_relaxed);
      received.fetch_add(1, std::memory_order_relaxed);
    }
  };
  auto produce = [&](int p) {
    for (int i = 0; i < per_producer; ++i) q.push(p * per_producer + i);
  };
  std::thread thread_consumer(consume);
  std::thread thread_producer(produce, producers - 1);
  std::vector<spindle::task<void>> ps, cs;
  for (int c = 0; c < consumers - 1; ++c) cs.push_back(rt.spawn(consume));
  for (int p = 0; p < producers - 1; ++p) ps.push_back(rt.spawn(produce, p));
  for (auto& t : ps) t.join();
  thread_producer.join();
  q.close();
  for (auto& t : cs) t.join();
  thread_consumer.join();
  EXPECT_EQ(received.load(), static_cast<long>(producers) * per_producer);
  for (auto& s : seen) ASSERT_EQ(s.load(), 1);
}

TEST(ConditionVariable, NotifyBeforeWaitIsSeenThroughThePredicate) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    for (int round = 0; round < scaled(2000, 200); ++round) {
      spindle::mutex m;
      spindle::condition_variable cv;
      bool ready = false;
      auto notifier = spindle::spawn([&] {
        {
          std::lock_guard<spindle::mutex> g(m);
          ready = true;
        }
        cv.notify_one();  // may well come before the wait below
      });
      if (round % 2) spindle::this_fiber::yield();
      {
        std::unique_lock<spindle::mutex> lk(m);
        cv.wait(lk, [&] { return ready; });
      }
      notifier.join();
    }
  });
}

TEST(ConditionVariable, NotifyWithNobodyWaitingIsNotStored) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    spindle::mutex m;
    spindle::condition_variable cv;
    cv.notify_one();
    cv.notify_all();
    std::unique_lock<spindle::mutex> lk(m);
    EXPECT_EQ(cv.wait_for(lk, 20ms), std::cv_status::timeout);
    EXPECT_TRUE(lk.owns_lock());
  });
}

TEST(ConditionVariable, NotifyOneWakesOneAndNotifyAllWakesTheRest) {
  spindle::runtime rt(two_workers());
  const int waiters = 20;
  rt.block_on([&] {
    spindle::mutex m;
    spindle::condition_variable cv;
    int queued = 0;  // guarded by m
    int tokens = 0;  // guarded by m
    std::atomic<int> woken{0};
    std::vector<spindle::task<void>> tasks;
    for (int i = 0; i < waiters; ++i) {
      tasks.push_back(spindle::spawn([&] {
        std::unique_lock<spindle::mutex> lk(m);
        ++queued;
        cv.wait(lk, [&] { return tokens > 0; });
        --tokens;
        woken.fetch_add(1);
      }));
    }
    // A waiter counted in `queued` is queued on cv: it queues before it
    // releases m, and we read `queued` under m.
    for (;;) {
      std::lock_guard<spindle::mutex> g(m);
      if (queued == waiters) break;
      spindle::this_fiber::yield();
    }
    {
      std::lock_guard<spindle::mutex> g(m);
      tokens = 1;
    }
    cv.notify_one();
    while (woken.load() < 1) spindle::this_fiber::yield();
    spindle::this_fiber::sleep_for(20ms);
    EXPECT_EQ(woken.load(), 1);
    {
      std::lock_guard<spindle::mutex> g(m);
      tokens = waiters - 1;
    }
    cv.notify_all();
    for (auto& t : tasks) t.join();
    EXPECT_EQ(woken.load(), waiters);
  });
}

TEST(ConditionVariable, TimedWaitsTimeOutNeverEarly) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    spindle::mutex m;
    spindle::condition_variable cv;
    std::unique_lock<spindle::mutex> lk(m);
    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(cv.wait_for(lk, 25ms), std::cv_status::timeout);
    EXPECT_GE(std::chrono::steady_clock::now() - start, 25ms);
    EXPECT_TRUE(lk.owns_lock());

    start = std::chrono::steady_clock::now();
    EXPECT_FALSE(cv.wait_for(lk, 15ms, [] { return false; }));
    EXPECT_GE(std::chrono::steady_clock::now() - start, 15ms);

    start = std::chrono::steady_clock::now();
    EXPECT_EQ(cv.wait_until(lk, std::chrono::system_clock::now() + 15ms), std::cv_status::timeout);
    EXPECT_GE(std::chrono::steady_clock::now() - start, 15ms);

    EXPECT_TRUE(cv.wait_for(lk, 0ms, [] { return true; }));
    EXPECT_EQ(cv.wait_for(lk, -1ms), std::cv_status::timeout);
  });
}

TEST(ConditionVariable, TimedWaitSucceedsWhenNotifiedAndTimedOutWaiterLeavesTheQueue) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    spindle::mutex m;
    spindle::condition_variable cv;
    bool ready = false;
    {
      // This waiter times out; it must not absorb the notify_one below.
      std::unique_lock<spindle::mutex> lk(m);
      EXPECT_EQ(cv.wait_for(lk, 5ms), std::cv_status::timeout);
    }
    auto waiter = spindle::spawn([&] {
      std::unique_lock<spindle::mutex> lk(m);
      return cv.wait_for(lk, 60s, [&] { return ready; });
    });
    spindle::this_fiber::sleep_for(10ms);
    {
      std::lock_guard<spindle::mutex> g(m);
      ready = true;
    }
    cv.notify_one();
    EXPECT_TRUE(waiter.join());
  });
}

TEST(ConditionVariable, ThreadsAndFibersWakeEachOther) {
  spindle::runtime rt(two_workers());
  spindle::mutex m;
  spindle::condition_variable cv;
  int turn = 0;  // guarded by m: even = thread's turn, odd = fiber's turn
  const int rounds = scaled(2000, 300);
  auto fiber = rt.spawn([&] {
    for (int i = 0; i < rounds; ++i) {
      std::unique_lock<spindle::mutex> lk(m);
      cv.wait(lk, [&] { return turn % 2 == 1; });
      ++turn;
      cv.notify_all();
    }
  });
  for (int i = 0; i < rounds; ++i) {
    std::unique_lock<spindle::mutex> lk(m);
    cv.wait(lk, [&] { return turn % 2 == 0; });
    ++turn;
    cv.notify_all();
  }
  fiber.join();
  EXPECT_EQ(turn, 2 * rounds);
}

// The waiter can only leave through the notify_all() below (it is queued
// before the notifier changes the state, and there are no spurious wake-ups),
// and it destroys the condition variable at once: notify_all() must not touch
// it after unparking the waiter.
TEST(ConditionVariable, DestroyedByTheWokenWaiter) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    for (int r = 0; r < scaled(2000, 300); ++r) {
      struct shared {
        spindle::mutex m;
        spindle::condition_variable cv;
        bool queued = false;  // guarded by m
        bool ready = false;   // guarded by m
      };
      auto* s = new shared;
      auto waiter = spindle::spawn([s] {
        {
          std::unique_lock<spindle::mutex> lk(s->m);
          s->queued = true;
          s->cv.wait(lk, [&] { return s->ready; });
        }
        delete s;
      });
      for (bool set = false; !set;) {
        {
          std::lock_guard<spindle::mutex> g(s->m);
          if (s->queued) s->ready = set = true;
        }
        if (!set) spindle::this_fiber::yield();
      }
      s->cv.notify_all();
      waiter.join();
    }
  });
}

TEST(ConditionVariable, WaitWithoutHoldingTheLockThrows) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    spindle::mutex m;
    spindle::condition_variable cv;
    std::unique_lock<spindle::mutex> lk(m, std::defer_lock);
    try {
      cv.wait(lk);
      ADD_FAILURE() << "wait with an unlocked lock did not throw";
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code(), std::errc::operation_not_permitted);
    }
    EXPECT_THROW(cv.wait_for(lk, 1ms), std::system_error);
    std::unique_lock<spindle::mutex> empty;
    EXPECT_THROW(cv.wait(empty, [] { return false; }), std::system_error);
    // A unique_lock that owns a mutex another fiber locked: not the caller's.
    lk.lock();
    auto other = spawn_started([&] { return spindle::test::error_code_of([&] { cv.wait(lk); }); });
    EXPECT_EQ(other.join(), std::errc::operation_not_permitted);
  });
}
