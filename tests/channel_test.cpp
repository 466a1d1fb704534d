// channel<T>: rendezvous and bounded, MPMC across workers and plain threads,
// close, timeouts, move-only payloads, range-for.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <spindle/channel.hpp>
#include <spindle/runtime.hpp>
#include <spindle/this_fiber.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

using namespace std::chrono_literals;
using spindle::test::scaled;
using spindle::test::two_workers;
using steady = std::chrono::steady_clock;

TEST(Channel, NegativeCapacityThrows) {
  EXPECT_THROW(spindle::channel<int>(-1), std::invalid_argument);
  EXPECT_NO_THROW(spindle::channel<int>(0));
}

TEST(Channel, BufferedFifoAndNonBlockingOps) {
  spindle::channel<int> ch(3);
  EXPECT_FALSE(ch.try_recv());
  EXPECT_TRUE(ch.try_send(1));
  ch.send(2);
  EXPECT_TRUE(ch.try_send(3));
  EXPECT_FALSE(ch.try_send(4));  // full
  EXPECT_EQ(ch.recv(), 1);
  EXPECT_EQ(ch.try_recv(), 2);
  EXPECT_EQ(ch.recv(), 3);
  EXPECT_FALSE(ch.try_recv());
}

TEST(Channel, SizeAndCapacity) {
  spindle::channel<int> ch(3);
  EXPECT_EQ(ch.capacity(), 3u);
  EXPECT_EQ(ch.size(), 0u);
  ch.send(1);
  ch.send(2);
  EXPECT_EQ(ch.size(), 2u);
  spindle::channel<int> copy = ch;
  EXPECT_EQ(copy.size(), 2u);
  EXPECT_EQ(ch.recv(), 1);
  EXPECT_EQ(ch.size(), 1u);
  ch.close();
  EXPECT_EQ(ch.size(), 1u);  // closing keeps what is buffered
  EXPECT_EQ(ch.recv(), 2);
  EXPECT_EQ(ch.size(), 0u);
  EXPECT_EQ(ch.capacity(), 3u);
  spindle::channel<int> rendezvous;
  EXPECT_EQ(rendezvous.capacity(), 0u);
  EXPECT_EQ(rendezvous.size(), 0u);
}

TEST(Channel, CopiesShareOneChannel) {
  spindle::channel<int> a(1);
  spindle::channel<int> b = a;
  spindle::channel<int> c(1);
  EXPECT_TRUE(a == b);
  EXPECT_FALSE(a == c);
  a.send(7);
  EXPECT_EQ(b.recv(), 7);
  b.close();
  EXPECT_TRUE(a.closed());
  EXPECT_FALSE(c.closed());
}

TEST(Channel, RendezvousTrySendNeedsAWaitingReceiver) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    spindle::channel<int> ch(0);
    EXPECT_FALSE(ch.try_send(1));
    EXPECT_FALSE(ch.try_recv());
    auto receiver = spindle::spawn([ch] { return ch.recv(); });
    // Succeeds only once the receiver is parked in recv().
    while (!ch.try_send(42)) spindle::this_fiber::yield();
    EXPECT_EQ(receiver.join(), 42);
  });
}

TEST(Channel, RendezvousSendWaitsForTheReceiver) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    spindle::channel<int> ch(0);
    std::atomic<bool> sent{false};
    auto sender = spindle::spawn([&] {
      ch.send(5);
      sent = true;
    });
    spindle::this_fiber::sleep_for(20ms);
    EXPECT_FALSE(sent.load());  // nobody has received yet
    EXPECT_EQ(ch.recv(), 5);
    sender.join();
    EXPECT_TRUE(sent.load());
  });
}

TEST(Channel, BoundedSendBlocksWhileFull) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    spindle::channel<int> ch(2);
    std::atomic<int> sent{0};
    auto sender = spindle::spawn([&] {
      for (int i = 0; i < 3; ++i) {
        ch.send(i);
        sent = i + 1;
      }
    });
    while (sent.load() < 2) spindle::this_fiber::yield();
    spindle::this_fiber::sleep_for(20ms);
    EXPECT_EQ(sent.load(), 2);  // the third send is still blocked
    EXPECT_EQ(ch.recv(), 0);  // frees a slot; the blocked value moves into it
    sender.join();
    EXPECT_EQ(ch.recv(), 1);
    EXPECT_EQ(ch.recv(), 2);
  });
}

// Every value sent is received exactly once, and each consumer sees every
// producer's values in the order they were sent.
void run_mpmc(std::ptrdiff_t capacity, bool use_threads) {
  constexpr int producers = 4;
  constexpr int consumers = 4;
  // A plain thread blocks in the kernel for each hand-off it waits for, so the
  // mixed runs are smaller; the fiber-only runs carry the full million.
  const std::int64_t total =
      use_threads ? scaled(200'000, 10'000) : scaled(1'000'000, capacity == 0 ? 20'000 : 50'000);
  const std::int64_t per_producer = total / producers;

  spindle::runtime rt(two_workers());
  spindle::channel<std::int64_t> ch(capacity);
  std::atomic<std::int64_t> sum{0};
  std::atomic<std::int64_t> count{0};
  std::atomic<int> order_errors{0};

  auto produce = [ch, per_producer](int p) {
    for (std::int64_t i = 0; i < per_producer; ++i) ch.send(p * per_producer + i);
  };
  auto consume = [&, ch] {
    std::vector<std::int64_t> last(producers, -1);
    std::int64_t s = 0, n = 0;
    while (std::optional<std::int64_t> v = ch.recv()) {
      const auto p = static_cast<std::size_t>(*v / per_producer);
      if (*v <= last[p]) order_errors.fetch_add(1);
      last[p] = *v;
      s += *v;
      ++n;
    }
    sum += s;
    count += n;
  };

  if (!use_threads) {
    rt.block_on([&] {
      std::vector<spindle::task<void>> prod, cons;
      for (int c = 0; c < consumers; ++c) cons.push_back(spindle::spawn(consume));
      for (int p = 0; p < producers; ++p) prod.push_back(spindle::spawn(produce, p));
      for (auto& t : prod) t.join();
      ch.close();
      for (auto& t : cons) t.join();
    });
  } else {
    // Half of each side are plain threads, half fibers.
    std::vector<std::thread> threads;
    std::vector<spindle::task<void>> prod, cons;
    for (int c = 0; c < consumers; ++c) {
      if (c % 2)
        threads.emplace_back(consume);
      else
        cons.push_back(rt.spawn(consume));
    }
    std::vector<std::thread> prod_threads;
    for (int p = 0; p < producers; ++p) {
      if (p % 2)
        prod_threads.emplace_back(produce, p);
      else
        prod.push_back(rt.spawn(produce, p));
    }
    for (auto& t : prod_threads) t.join();
    for (auto& t : prod) t.join();
    ch.close();
    for (auto& t : cons) t.join();
    for (auto& t : threads) t.join();
  }

  const std::int64_t n = per_producer * producers;
  EXPECT_EQ(count.load(), n);
  EXPECT_EQ(sum.load(), n * (n - 1) / 2);
  EXPECT_EQ(order_errors.load(), 0);
}

TEST(Channel, MpmcBufferedEveryValueExactlyOnce) {
  run_mpmc(64, false);
}
TEST(Channel, MpmcCapacityOneEveryValueExactlyOnce) {
  run_mpmc(1, false);
}
TEST(Channel, MpmcRendezvousEveryValueExactlyOnce) {
  run_mpmc(0, false);
}
TEST(Channel, MpmcFibersAndThreadsBuffered) {
  run_mpmc(64, true);
}
TEST(Channel, MpmcFibersAndThreadsRendezvous) {
  run_mpmc(0, true);
}

TEST(Channel, CloseWakesBlockedReceivers) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    spindle::channel<int> ch(0);
    std::vector<spindle::task<std::optional<int>>> receivers;
    for (int i = 0; i < 4; ++i) receivers.push_back(spindle::spawn([ch] { return ch.recv(); }));
    spindle::this_fiber::sleep_for(10ms);
    ch.close();
    for (auto& r : receivers) EXPECT_EQ(r.join(), std::nullopt);
    EXPECT_EQ(ch.recv(), std::nullopt);
  });
}

TEST(Channel, CloseWakesBlockedSendersAndDrainsTheBuffer) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    spindle::channel<int> ch(2);
    ch.send(1);
    ch.send(2);
    std::vector<spindle::task<bool>> senders;
    for (int i = 0; i < 3; ++i) {
      senders.push_back(spindle::spawn([ch, i] {
        try {
          ch.send(10 + i);
          return false;
        } catch (const spindle::channel_closed&) {
          return true;
        }
      }));
    }
    spindle::this_fiber::sleep_for(10ms);
    ch.close();
    for (auto& s : senders) EXPECT_TRUE(s.join());
    EXPECT_EQ(ch.recv(), 1);
    EXPECT_EQ(ch.recv(), 2);
    EXPECT_EQ(ch.recv(), std::nullopt);
    EXPECT_EQ(ch.try_recv(), std::nullopt);
  });
}

TEST(Channel, SendOnClosedChannelThrows) {
  spindle::channel<int> ch(4);
  EXPECT_FALSE(ch.closed());
  ch.close();
  ch.close();  // harmless
  EXPECT_TRUE(ch.closed());
  EXPECT_THROW(ch.send(1), spindle::channel_closed);
  EXPECT_THROW(ch.try_send(1), spindle::channel_closed);
  EXPECT_THROW(ch.send_for(1, 10ms), spindle::channel_closed);
  EXPECT_EQ(ch.recv_for(10ms), std::nullopt);
}

TEST(Channel, CloseFromAThreadWakesFibersAndThreads) {
  spindle::runtime rt(two_workers());
  spindle::channel<int> ch(0);
  auto fiber_rx = rt.spawn([ch] { return ch.recv(); });
  std::optional<int> thread_rx = 0;
  std::thread t([&] { thread_rx = ch.recv(); });
  std::this_thread::sleep_for(10ms);
  ch.close();
  t.join();
  EXPECT_EQ(fiber_rx.join(), std::nullopt);
  EXPECT_EQ(thread_rx, std::nullopt);
}

TEST(Channel, TimeoutsNeverEndEarly) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    spindle::channel<int> ch(0);
    auto t0 = steady::now();
    EXPECT_EQ(ch.recv_for(30ms), std::nullopt);
    EXPECT_GE(steady::now() - t0, 30ms);

    t0 = steady::now();
    EXPECT_FALSE(ch.send_for(1, 30ms));
    EXPECT_GE(steady::now() - t0, 30ms);

    t0 = steady::now();
    EXPECT_EQ(ch.recv_until(std::chrono::system_clock::now() + 20ms), std::nullopt);
    EXPECT_GE(steady::now() - t0, 19ms);  // system_clock converts with a tick of slack

    EXPECT_EQ(ch.recv_for(-5ms), std::nullopt);
    EXPECT_FALSE(ch.send_for(1, 0ms));
  });
  // The same from a plain thread.
  spindle::channel<int> ch(1);
  ch.send(1);
  auto t0 = steady::now();
  EXPECT_FALSE(ch.send_until(2, steady::now() + 20ms));
  EXPECT_GE(steady::now() - t0, 20ms);
  EXPECT_EQ(ch.recv_for(1h), 1);  // ready: returns at once
}

TEST(Channel, TimedOperationsSucceedWhenAPartnerArrives) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    spindle::channel<int> ch(0);
    auto sender = spindle::spawn([ch] {
      spindle::this_fiber::sleep_for(5ms);
      return ch.send_for(9, 10s);
    });
    EXPECT_EQ(ch.recv_for(10s), 9);
    EXPECT_TRUE(sender.join());
  });
}

TEST(Channel, TimedOutSendKeepsTheMoveOnlyValue) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    spindle::channel<std::unique_ptr<int>> ch(0);
    auto p = std::make_unique<int>(3);
    EXPECT_FALSE(ch.try_send(std::move(p)));
    ASSERT_TRUE(p);
    EXPECT_FALSE(ch.send_for(std::move(p), 5ms));
    ASSERT_TRUE(p);
    EXPECT_EQ(*p, 3);
    ch.close();
    EXPECT_THROW(ch.send(std::move(p)), spindle::channel_closed);
    EXPECT_TRUE(p);
  });
}

TEST(Channel, MoveOnlyPayloads) {
  spindle::runtime rt(two_workers());
  for (std::ptrdiff_t capacity : {0, 3}) {
    rt.block_on([capacity] {
      spindle::channel<std::unique_ptr<std::string>> ch(capacity);
      constexpr int n = 100;
      auto producer = spindle::spawn([ch] {
        for (int i = 0; i < n; ++i) ch.send(std::make_unique<std::string>(std::to_string(i)));
        ch.close();
      });
      int expected = 0;
      for (auto& p : ch) {
        ASSERT_TRUE(p);
        EXPECT_EQ(*p, std::to_string(expected++));
        std::unique_ptr<std::string> taken = std::move(p);  // keeping it is allowed
      }
      EXPECT_EQ(expected, n);
      producer.join();
    });
  }
}

TEST(Channel, RangeForReceivesUntilClosedAndDrained) {
  spindle::runtime rt(two_workers());
  int sum = rt.block_on([] {
    spindle::channel<int> ch(4);
    auto producer = spindle::spawn([ch] {
      for (int i = 1; i <= 100; ++i) ch.send(i);
      ch.close();
    });
    int s = 0;
    for (int v : ch) s += v;
    producer.join();
    return s;
  });
  EXPECT_EQ(sum, 5050);
}

TEST(Channel, PlainThreadsOnly) {
  spindle::channel<int> ch(0);
  std::thread producer([ch] {
    for (int i = 0; i < 1000; ++i) ch.send(i);
    ch.close();
  });
  long sum = 0;
  for (int v : ch) sum += v;
  producer.join();
  EXPECT_EQ(sum, 999 * 1000 / 2);
}

// The woken party may destroy the channel at once: the notifier does not touch
// it after the wake-up (checked by ASan).
TEST(Channel, DestroyedByTheWokenPartyRightAfterTheHandOff) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    for (int i = 0; i < scaled(2000, 300); ++i) {
      auto* ch = new spindle::channel<int>(0);
      auto receiver = spindle::spawn([ch] {
        std::optional<int> v = ch->recv();
        delete ch;
        return v;
      });
      if (i % 2) spindle::this_fiber::yield();
      ch->send(i);  // ch may be gone once this returns
      EXPECT_EQ(receiver.join(), i);
    }
  });
}

TEST(Channel, PingPongStaysCorrect) {
  spindle::runtime rt(two_workers());
  constexpr int rounds = scaled(100'000, 10'000);
  rt.block_on([] {
    spindle::channel<int> ping(0), pong(0);
    auto echo = spindle::spawn([ping, pong] {
      while (auto v = ping.recv()) pong.send(*v + 1);
    });
    for (int i = 0; i < rounds; ++i) {
      ping.send(i);
      ASSERT_EQ(pong.recv(), i + 1);
    }
    ping.close();
    echo.join();
  });
}
