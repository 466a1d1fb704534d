// select: readiness, random fairness, wake-up by any channel, timeouts,
// default, closed channels, and no value lost or duplicated (property tests).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <spindle/channel.hpp>
#include <spindle/runtime.hpp>
#include <spindle/this_fiber.hpp>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

using namespace std::chrono_literals;
using spindle::test::scaled;
using spindle::test::two_workers;
using steady = std::chrono::steady_clock;

TEST(Select, RunsTheReadyCase) {
  spindle::channel<int> a(1), b(1);
  b.send(7);
  std::optional<int> got;
  std::size_t i = spindle::select(spindle::on_recv(a, [&](std::optional<int> v) { got = v; }),
                                  spindle::on_recv(b, [&](std::optional<int> v) { got = v; }));
  EXPECT_EQ(i, 1u);
  EXPECT_EQ(got, 7);
  EXPECT_FALSE(b.try_recv());
}

TEST(Select, SendCaseAndChannelsOfDifferentTypes) {
  spindle::channel<std::string> names(1);
  spindle::channel<int> full(1);
  full.send(1);
  bool sent = false;
  std::size_t i = spindle::select(spindle::on_send(full, 2, [] { FAIL(); }),
                                  spindle::on_send(names, std::string("x"), [&] { sent = true; }));
  EXPECT_EQ(i, 1u);
  EXPECT_TRUE(sent);
  EXPECT_EQ(names.recv(), "x");
  EXPECT_EQ(full.recv(), 1);  // the case not chosen sent nothing
  EXPECT_FALSE(full.try_recv());
}

TEST(Select, DefaultWhenNothingIsReady) {
  spindle::channel<int> a(0), b(1);
  b.send(1);
  bool ran = false;
  std::size_t i = spindle::select(spindle::on_recv(a, [](std::optional<int>) { FAIL(); }),
                                  spindle::on_send(b, 2, [] { FAIL(); }),
                                  spindle::on_default([&] { ran = true; }));
  EXPECT_EQ(i, 2u);
  EXPECT_TRUE(ran);
  EXPECT_EQ(b.recv(), 1);
  EXPECT_FALSE(b.try_recv());  // the send case's value did not get in
  EXPECT_EQ(spindle::select(spindle::on_default([] {})), 0u);
}

TEST(Select, SameChannelInSeveralCases) {
  spindle::channel<int> a(2);
  a.send(1);
  int got = 0;
  std::size_t i = spindle::select(spindle::on_recv(a, [&](std::optional<int> v) { got = *v; }),
                                  spindle::on_recv(a, [&](std::optional<int> v) { got = *v; }),
                                  spindle::on_send(a, 5, [&] { got = -1; }));
  ASSERT_LT(i, 3u);
  if (i < 2) {
    EXPECT_EQ(got, 1);
  } else {
    EXPECT_EQ(a.recv(), 1);
    EXPECT_EQ(a.recv(), 5);
  }
}

TEST(Select, FairAmongReadyCases) {
  spindle::channel<int> a(1), b(1);
  a.send(0);
  b.send(0);
  const int rounds = scaled(100'000, 20'000);
  int chose_a = 0;
  for (int n = 0; n < rounds; ++n) {
    std::size_t i = spindle::select(spindle::on_recv(a, [](std::optional<int>) {}),
                                    spindle::on_recv(b, [](std::optional<int>) {}));
    if (i == 0) {
      ++chose_a;
      a.send(0);
    } else {
      b.send(0);
    }
  }
  EXPECT_GE(chose_a, rounds * 40 / 100);
  EXPECT_LE(chose_a, rounds * 60 / 100);
}

TEST(Select, FairAmongThreeWithOneNeverReady) {
  spindle::channel<int> a(1), b(1), never(0);
  a.send(0);
  b.send(0);
  const int rounds = scaled(30'000, 10'000);
  int counts[3] = {0, 0, 0};
  for (int n = 0; n < rounds; ++n) {
    std::size_t i = spindle::select(spindle::on_recv(never, [](std::optional<int>) {}),
                                    spindle::on_recv(a, [&](std::optional<int>) { a.send(0); }),
                                    spindle::on_recv(b, [&](std::optional<int>) { b.send(0); }));
    ++counts[i];
  }
  EXPECT_EQ(counts[0], 0);
  EXPECT_GE(counts[1], rounds * 40 / 100);
  EXPECT_GE(counts[2], rounds * 40 / 100);
}

TEST(Select, BlockedSelectWokenByEachOfItsChannels) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    for (std::size_t target = 0; target < 3; ++target) {
      spindle::channel<int> ch[3] = {spindle::channel<int>(0), spindle::channel<int>(0),
                                     spindle::channel<int>(2)};
      auto sender = spindle::spawn([&ch, target] {
        spindle::this_fiber::sleep_for(5ms);
        ch[target].send(static_cast<int>(target) + 10);
      });
      std::optional<int> got;
      auto on = [&](std::optional<int> v) { got = v; };
      std::size_t i = spindle::select(spindle::on_recv(ch[0], on), spindle::on_recv(ch[1], on),
                                      spindle::on_recv(ch[2], on));
      EXPECT_EQ(i, target);
      EXPECT_EQ(got, static_cast<int>(target) + 10);
      sender.join();
    }
  });
}

TEST(Select, BlockedSendCaseWokenByAReceiver) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    spindle::channel<int> a(0), b(0);
    auto receiver = spindle::spawn([b] {
      spindle::this_fiber::sleep_for(5ms);
      return b.recv();
    });
    bool sent = false;
    std::size_t i = spindle::select(spindle::on_send(a, 1, [] {}),
                                    spindle::on_send(b, 2, [&] { sent = true; }));
    EXPECT_EQ(i, 1u);
    EXPECT_TRUE(sent);
    EXPECT_EQ(receiver.join(), 2);
    EXPECT_FALSE(a.try_recv());
  });
}

TEST(Select, SendAndReceiveOnOneRendezvousChannelNeverMatchEachOther) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    spindle::channel<int> a(0);
    for (int round = 0; round < 2; ++round) {
      // The partner arrives after the select has blocked with both cases linked.
      auto partner = spindle::spawn([a, round] {
        spindle::this_fiber::sleep_for(5ms);
        if (round == 0) return *a.recv();
        a.send(2);
        return 0;
      });
      std::optional<int> got;
      std::size_t i = spindle::select(spindle::on_send(a, 1, [] {}),
                                      spindle::on_recv(a, [&](std::optional<int> v) { got = v; }));
      EXPECT_EQ(i, static_cast<std::size_t>(round));
      if (round == 0) {
        EXPECT_EQ(partner.join(), 1);
        EXPECT_FALSE(got);
      } else {
        partner.join();
        EXPECT_EQ(got, 2);
      }
    }
  });
}

TEST(Select, FromAPlainThread) {
  spindle::runtime rt(two_workers());
  spindle::channel<int> a(0), b(0);
  auto sender = rt.spawn([a] {
    spindle::this_fiber::sleep_for(5ms);
    a.send(3);
  });
  int got = 0;
  std::size_t i = spindle::select(spindle::on_recv(a, [&](std::optional<int> v) { got = *v; }),
                                  spindle::on_recv(b, [&](std::optional<int>) {}));
  EXPECT_EQ(i, 0u);
  EXPECT_EQ(got, 3);
  sender.join();
}

TEST(Select, TimeoutCountsFromTheCallAndNeverFiresEarly) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    spindle::channel<int> a(0);
    bool timed_out = false;
    auto t0 = steady::now();
    std::size_t i = spindle::select(spindle::on_recv(a, [](std::optional<int>) { FAIL(); }),
                                    spindle::on_timeout(50ms, [] { FAIL(); }),
                                    spindle::on_timeout(20ms, [&] { timed_out = true; }));
    EXPECT_EQ(i, 2u);
    EXPECT_TRUE(timed_out);
    EXPECT_GE(steady::now() - t0, 20ms);

    // Only a timeout: a sleep.
    t0 = steady::now();
    EXPECT_EQ(spindle::select(spindle::on_timeout(10ms, [] {})), 0u);
    EXPECT_GE(steady::now() - t0, 10ms);

    // An expired timeout still loses to a ready case.
    a = spindle::channel<int>(1);
    a.send(1);
    EXPECT_EQ(spindle::select(spindle::on_timeout(0ms, [] {}),
                              spindle::on_recv(a, [](std::optional<int>) {})),
              1u);
  });
  // A plain thread.
  spindle::channel<int> a(0);
  auto t0 = steady::now();
  EXPECT_EQ(spindle::select(spindle::on_recv(a, [](std::optional<int>) {}),
                            spindle::on_timeout(15ms, [] {})),
            1u);
  EXPECT_GE(steady::now() - t0, 15ms);
}

TEST(Select, ClosedChannels) {
  spindle::channel<int> a(1);
  a.send(4);
  a.close();
  std::vector<std::optional<int>> got;
  auto rx = [&](std::optional<int> v) { got.push_back(v); };
  EXPECT_EQ(spindle::select(spindle::on_recv(a, rx)), 0u);
  EXPECT_EQ(spindle::select(spindle::on_recv(a, rx)), 0u);  // closed and drained: ready
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], 4);
  EXPECT_EQ(got[1], std::nullopt);
  EXPECT_THROW(spindle::select(spindle::on_send(a, 1, [] {})), spindle::channel_closed);
}

TEST(Select, CloseWakesABlockedSelect) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    spindle::channel<int> a(0), b(0);
    auto closer = spindle::spawn([a] {
      spindle::this_fiber::sleep_for(5ms);
      a.close();
    });
    std::optional<int> got = 1;
    std::size_t i = spindle::select(spindle::on_recv(b, [](std::optional<int>) { FAIL(); }),
                                    spindle::on_recv(a, [&](std::optional<int> v) { got = v; }));
    EXPECT_EQ(i, 1u);
    EXPECT_EQ(got, std::nullopt);
    closer.join();

    auto closer2 = spindle::spawn([b] {
      spindle::this_fiber::sleep_for(5ms);
      b.close();
    });
    EXPECT_THROW(spindle::select(spindle::on_send(b, 1, [] {})), spindle::channel_closed);
    closer2.join();
  });
}

TEST(Select, MoveOnlyValues) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    spindle::channel<std::unique_ptr<int>> a(0);
    auto receiver = spindle::spawn([a] {
      std::unique_ptr<int> got;
      spindle::select(
          spindle::on_recv(a, [&](std::optional<std::unique_ptr<int>> v) { got = std::move(*v); }));
      return *got;
    });
    spindle::select(spindle::on_send(a, std::make_unique<int>(11), [] {}));
    EXPECT_EQ(receiver.join(), 11);
  });
}

// A sequential random program against a reference model: with one party the
// outcome of every operation is determined, so each step checks exactly which
// cases select may choose and what every channel holds afterwards.
TEST(Select, PropertyAgainstAReferenceModelSequential) {
  struct model {
    std::size_t capacity;
    std::deque<int> buffer;
    bool closed = false;
  };
  for (std::uint32_t seed : {1u, 2u, 3u, 4u, 5u, 6u, 7u, 8u}) {
    std::mt19937 rng(seed);
    constexpr int k = 3;
    std::vector<spindle::channel<int>> chans;
    std::vector<model> models;
    for (int c = 0; c < k; ++c) {
      std::size_t cap = rng() % 4;  // 0..3; 0 is never ready with a single party
      chans.emplace_back(static_cast<std::ptrdiff_t>(cap));
      models.push_back(model{cap, {}, false});
    }
    int next_value = 0;
    for (int step = 0; step < 3000; ++step) {
      const int a = static_cast<int>(rng() % k), b = static_cast<int>(rng() % k);
      const int v2 = next_value++;
      const bool b_sends = rng() % 2;
      if (rng() % 100 == 0) {
        chans[a].close();
        models[a].closed = true;
        continue;
      }
      // select(on_recv(a), on_send-or-recv(b), on_default)
      auto recv_ready = [&](int c) { return !models[c].buffer.empty() || models[c].closed; };
      auto send_ready = [&](int c) {
        return models[c].closed || models[c].buffer.size() < models[c].capacity;
      };
      const bool ready0 = recv_ready(a);
      const bool ready1 = b_sends ? send_ready(b) : recv_ready(b);
      std::optional<int> got;
      bool threw = false;
      std::size_t i = 99;
      try {
        if (b_sends) {
          i = spindle::select(spindle::on_recv(chans[a], [&](std::optional<int> v) { got = v; }),
                              spindle::on_send(chans[b], v2, [] {}), spindle::on_default([] {}));
        } else {
          i = spindle::select(spindle::on_recv(chans[a], [&](std::optional<int> v) { got = v; }),
                              spindle::on_recv(chans[b], [&](std::optional<int> v) { got = v; }),
                              spindle::on_default([] {}));
        }
      } catch (const spindle::channel_closed&) {
        threw = true;
        i = 1;
      }
      if (!ready0 && !ready1) {
        ASSERT_EQ(i, 2u) << "seed " << seed << " step " << step;
        continue;
      }
      ASSERT_TRUE((i == 0 && ready0) || (i == 1 && ready1)) << "seed " << seed << " step " << step;
      model& m = models[i == 0 ? a : b];
      if (i == 1 && b_sends) {
        ASSERT_EQ(threw, m.closed);
        if (!m.closed) m.buffer.push_back(v2);
      } else if (m.buffer.empty()) {
        ASSERT_EQ(got, std::nullopt);  // closed and drained
      } else {
        ASSERT_EQ(got, m.buffer.front());
        m.buffer.pop_front();
      }
    }
    // Drain and compare every channel with its model.
    for (int c = 0; c < k; ++c) {
      for (int expected : models[c].buffer) ASSERT_EQ(chans[c].try_recv(), expected);
      ASSERT_EQ(chans[c].try_recv(), std::nullopt);
    }
  }
}

// Many parties with random selects over shared channels (sends, receives,
// timeouts, defaults): every value that a send case reports as sent is
// received exactly once, and no value of a case not chosen ever shows up.
TEST(Select, PropertyNoValueLostOrDuplicatedConcurrent) {
  spindle::runtime rt(two_workers());
  for (std::uint32_t seed : {11u, 12u, 13u}) {
    constexpr int k = 3;
    constexpr int parties = 6;
    const int ops = scaled(4000, 600);
    std::vector<spindle::channel<int>> chans;
    for (int c = 0; c < k; ++c) chans.emplace_back(c);  // capacities 0, 1, 2
    std::vector<std::vector<int>> sent(parties), received(parties + 1);

    rt.block_on([&] {
      std::vector<spindle::task<void>> tasks;
      for (int p = 0; p < parties; ++p) {
        tasks.push_back(spindle::spawn([&, p] {
          std::mt19937 rng(seed * 100 + static_cast<std::uint32_t>(p));
          auto rx = [&](std::optional<int> v) {
            if (v) received[p].push_back(*v);
          };
          for (int n = 0; n < ops; ++n) {
            const int value = p * 1'000'000 + n;
            const int a = static_cast<int>(rng() % k), b = static_cast<int>(rng() % k);
            auto tx = [&] { sent[p].push_back(value); };
            switch (rng() % 4) {
              case 0:  // send or receive, whichever comes first
                spindle::select(spindle::on_send(chans[a], value, tx),
                                spindle::on_recv(chans[b], rx), spindle::on_timeout(1ms, [] {}));
                break;
              case 1:  // two sends of the same value: at most one may happen
                spindle::select(spindle::on_send(chans[a], value, tx),
                                spindle::on_send(chans[b], value, tx), spindle::on_default([] {}));
                break;
              case 2:
                spindle::select(spindle::on_recv(chans[a], rx), spindle::on_recv(chans[b], rx),
                                spindle::on_timeout(std::chrono::microseconds(rng() % 500), [] {}));
                break;
              default:
                if (auto v = chans[a].try_recv()) received[p].push_back(*v);
                if (chans[b].try_send(int{value})) sent[p].push_back(value);
                break;
            }
          }
        }));
      }
      for (auto& t : tasks) t.join();
    });
    for (auto& ch : chans) {
      while (auto v = ch.try_recv()) received[parties].push_back(*v);
    }
    std::multiset<int> s, r;
    for (auto& v : sent) s.insert(v.begin(), v.end());
    for (auto& v : received) r.insert(v.begin(), v.end());
    EXPECT_EQ(s.size(), r.size()) << "seed " << seed;
    EXPECT_TRUE(s == r) << "seed " << seed;
    EXPECT_EQ(std::set<int>(s.begin(), s.end()).size(), s.size()) << "a value sent twice";
  }
}

TEST(Select, ContendedSelectsAcrossWorkersAndThreads) {
  // Two selecting consumers (a fiber and a thread) over three channels fed by
  // producers; every value arrives exactly once.
  spindle::runtime rt(two_workers());
  const int per_channel = scaled(30'000, 3'000);
  spindle::channel<int> chans[3] = {spindle::channel<int>(0), spindle::channel<int>(1),
                                    spindle::channel<int>(16)};
  spindle::channel<int> done(0);
  std::atomic<long> sum{0};
  std::atomic<int> count{0};
  auto consume = [&] {
    bool running = true;
    while (running) {
      auto rx = [&](std::optional<int> v) {
        if (v) {
          sum += *v;
          ++count;
        }
      };
      spindle::select(spindle::on_recv(chans[0], rx), spindle::on_recv(chans[1], rx),
                      spindle::on_recv(chans[2], rx),
                      spindle::on_recv(done, [&](std::optional<int>) { running = false; }));
    }
  };
  std::vector<spindle::task<void>> producers;
  for (int c = 0; c < 3; ++c) {
    producers.push_back(rt.spawn([&, c] {
      for (int i = 0; i < per_channel; ++i) chans[c].send(1 + i % 7);
    }));
  }
  auto fiber_consumer = rt.spawn(consume);
  std::thread thread_consumer(consume);
  for (auto& p : producers) p.join();
  // A consumer that sees `done` closed leaves without draining; the values
  // still buffered are collected here.
  done.close();
  fiber_consumer.join();
  thread_consumer.join();
  for (auto& ch : chans) {
    while (auto v = ch.try_recv()) {
      sum += *v;
      ++count;
    }
  }
  long expected = 0;
  for (int i = 0; i < per_channel; ++i) expected += 1 + i % 7;
  EXPECT_EQ(count.load(), 3 * per_channel);
  EXPECT_EQ(sum.load(), 3 * expected);
}

// Two cases on one channel, found parked by the other party: each must win
// about half the time (the header promises a uniformly random choice). They
// used to be linked in listed order, so the first case won every round.
//
// On a rendezvous channel try_send/try_recv succeed only against a parked
// party, so the partner spinning on them hits the parked select every round.
// With capacity N the partner yields first, which on one worker lets the
// select run until it parks; on several workers some rounds may take the
// select's (already fair) ready path instead.
struct parked_fairness {
  bool select_sends;  // two on_send cases (else two on_recv)
  std::ptrdiff_t capacity;
  std::size_t workers;
};

void expect_parked_select_fair(const parked_fairness& p) {
  SCOPED_TRACE(testing::Message() << (p.select_sends ? "on_send" : "on_recv") << " capacity "
                                  << p.capacity << " workers " << p.workers);
  const int rounds = 2'000;
  spindle::runtime rt(spindle::options{.workers = p.workers});
  spindle::channel<int> ch(p.capacity);
  spindle::channel<int> next(0);  // partner -> select: the round is over
  int chosen[2] = {0, 0};         // by the select's return value
  int delivered[2] = {0, 0};      // by the values that went through ch
  rt.block_on([&] {
    // With capacity N the sends park only while the buffer is full of
    // fillers (-1), which the partner drains at the end.
    if (p.select_sends) {
      for (std::ptrdiff_t i = 0; i < p.capacity; ++i) ch.send(-1);
    }
    auto partner = spindle::spawn([&] {
      for (int r = 0; r < rounds; ++r) {
        if (p.select_sends) {
          std::optional<int> v;
          if (p.capacity == 0) {
            while (!(v = ch.try_recv())) spindle::this_fiber::yield();
          } else {
            spindle::this_fiber::yield();
            v = ch.recv();
          }
          if (*v >= 0) ++delivered[*v];
        } else if (p.capacity == 0) {
          while (!ch.try_send(r)) spindle::this_fiber::yield();
        } else {
          spindle::this_fiber::yield();
          ch.send(r);
        }
        next.recv();
      }
    });
    for (int r = 0; r < rounds; ++r) {
      std::size_t i;
      if (p.select_sends) {
        i = spindle::select(spindle::on_send(ch, 0, [] {}), spindle::on_send(ch, 1, [] {}));
      } else {
        std::optional<int> got;
        auto rx = [&](std::optional<int> v) { got = v; };
        i = spindle::select(spindle::on_recv(ch, rx), spindle::on_recv(ch, rx));
        EXPECT_EQ(got, r);  // one sender: every value once, in order
        if (i < 2) ++delivered[i];
      }
      ASSERT_LT(i, 2u);
      ++chosen[i];
      next.send(r);
    }
    partner.join();
    while (std::optional<int> v = ch.try_recv()) {
      if (*v >= 0) ++delivered[*v];
    }
  });
  EXPECT_EQ(chosen[0] + chosen[1], rounds);
  EXPECT_EQ(delivered[0], chosen[0]);
  EXPECT_EQ(delivered[1], chosen[1]);
  EXPECT_GE(chosen[0], rounds * 40 / 100);
  EXPECT_LE(chosen[0], rounds * 60 / 100);
}

TEST(Select, ParkedRecvCasesOnOneChannelAreChosenFairly) {
  for (std::ptrdiff_t capacity : {0, 4}) {
    for (std::size_t workers : {1, 3}) expect_parked_select_fair({false, capacity, workers});
  }
}

TEST(Select, ParkedSendCasesOnOneChannelAreChosenFairly) {
  for (std::ptrdiff_t capacity : {0, 4}) {
    for (std::size_t workers : {1, 3}) expect_parked_select_fair({true, capacity, workers});
  }
}
