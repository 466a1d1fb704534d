// promise/future, async, when_all, when_any: across fibers and threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <numeric>
#include <random>
#include <spindle/future.hpp>
#include <spindle/runtime.hpp>
#include <spindle/this_fiber.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

using namespace std::chrono_literals;
using spindle::test::future_error_of;
using spindle::test::two_workers;
using steady = std::chrono::steady_clock;

namespace {

// The future of each promise, in order.
template <class T>
std::vector<spindle::future<T>> futures_of(std::vector<spindle::promise<T>>& promises) {
  std::vector<spindle::future<T>> futures;
  for (auto& p : promises) futures.push_back(p.get_future());
  return futures;
}

}  // namespace

TEST(Future, ValueSetBeforeGet) {
  spindle::promise<int> p;
  spindle::future<int> f = p.get_future();
  EXPECT_TRUE(f.valid());
  EXPECT_FALSE(f.ready());
  p.set_value(42);
  EXPECT_TRUE(f.ready());
  EXPECT_EQ(f.wait_for(0ms), std::future_status::ready);
  EXPECT_EQ(f.get(), 42);
  EXPECT_FALSE(f.valid());
  EXPECT_FALSE(f.ready());
}

TEST(Future, FiberWaitsForAThread) {
  spindle::runtime rt(two_workers());
  spindle::promise<std::string> p;
  auto getter = rt.spawn([f = p.get_future()]() mutable { return f.get(); });
  std::this_thread::sleep_for(5ms);
  p.set_value("hello");
  EXPECT_EQ(getter.join(), "hello");
}

TEST(Future, ThreadWaitsForAFiber) {
  spindle::runtime rt(two_workers());
  spindle::promise<int> p;
  spindle::future<int> f = p.get_future();
  auto setter = rt.spawn([p = std::move(p)]() mutable {
    spindle::this_fiber::sleep_for(5ms);
    p.set_value(7);
  });
  EXPECT_EQ(f.get(), 7);
  setter.join();
}

TEST(Future, ManyFibersWaitOnOneFuture) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    spindle::promise<void> go;
    std::vector<spindle::promise<int>> results(100);
    std::vector<spindle::task<void>> tasks;
    auto started = std::make_shared<spindle::future<void>>(go.get_future());
    // Every fiber waits on its own future of the same event: one promise per
    // future, fanned out from `go` by a single fiber.
    auto futures = futures_of(results);
    tasks.push_back(spindle::spawn([started, &results] {
      started->wait();
      for (std::size_t i = 0; i < results.size(); ++i) results[i].set_value(static_cast<int>(i));
    }));
    std::vector<spindle::task<int>> waiters;
    for (auto& f : futures) waiters.push_back(spindle::spawn([&f] { return f.get(); }));
    spindle::this_fiber::sleep_for(2ms);
    go.set_value();
    int sum = 0;
    for (auto& w : waiters) sum += w.join();
    for (auto& t : tasks) t.join();
    EXPECT_EQ(sum, 99 * 100 / 2);
  });
}

TEST(Future, VoidAndMoveOnly) {
  spindle::promise<void> pv;
  auto fv = pv.get_future();
  pv.set_value();
  EXPECT_NO_THROW(fv.get());

  spindle::promise<std::unique_ptr<int>> pm;
  auto fm = pm.get_future();
  pm.set_value(std::make_unique<int>(5));
  std::unique_ptr<int> v = fm.get();
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, 5);
}

TEST(Future, SetValueCopiesAnLvalue) {
  spindle::promise<std::string> p;
  auto f = p.get_future();
  std::string s = "kept";
  p.set_value(s);
  EXPECT_EQ(s, "kept");
  EXPECT_EQ(f.get(), "kept");
}

TEST(Future, ExceptionIsRethrown) {
  spindle::runtime rt(two_workers());
  spindle::promise<int> p;
  auto f = p.get_future();
  // The promise dies inside the fiber, so join() orders its release before
  // the what() below: an exception's reference count lives in libstdc++,
  // which ThreadSanitizer does not see, so a last release on another thread
  // would look like a race with the read.
  rt.spawn([p = std::move(p)]() mutable {
      spindle::promise<int> local = std::move(p);
      try {
        throw std::runtime_error("boom");
      } catch (...) {
        local.set_exception(std::current_exception());
      }
    }).join();
  try {
    f.get();
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "boom");
  }
  EXPECT_FALSE(f.valid());
}

TEST(Future, BrokenPromise) {
  spindle::future<int> f;
  {
    spindle::promise<int> p;
    f = p.get_future();
  }
  EXPECT_TRUE(f.ready());
  EXPECT_EQ(future_error_of([&] { f.get(); }), std::future_errc::broken_promise);

  // From a fiber that dies while another waits.
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    spindle::promise<void> p;
    auto fut = p.get_future();
    spindle::spawn([p = std::move(p)] { spindle::this_fiber::sleep_for(2ms); }).detach();
    EXPECT_EQ(future_error_of([&] { fut.get(); }), std::future_errc::broken_promise);
  });
}

TEST(Future, MisuseErrors) {
  spindle::promise<int> p;
  auto f = p.get_future();
  EXPECT_EQ(future_error_of([&] { (void)p.get_future(); }),
            std::future_errc::future_already_retrieved);
  p.set_value(1);
  EXPECT_EQ(future_error_of([&] { p.set_value(2); }), std::future_errc::promise_already_satisfied);
  EXPECT_EQ(future_error_of([&] { p.set_exception(std::make_exception_ptr(1)); }),
            std::future_errc::promise_already_satisfied);
  EXPECT_THROW(p.set_exception(nullptr), std::invalid_argument);
  EXPECT_EQ(f.get(), 1);
  EXPECT_EQ(future_error_of([&] { f.get(); }), std::future_errc::no_state);
  EXPECT_EQ(future_error_of([&] { f.wait(); }), std::future_errc::no_state);

  spindle::promise<int> moved_to = std::move(p);
  EXPECT_EQ(future_error_of([&] { p.set_value(3); }), std::future_errc::no_state);
}

TEST(Future, WaitForAndWaitUntilNeverEndEarly) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    spindle::promise<int> p;
    auto f = p.get_future();
    auto t0 = steady::now();
    EXPECT_EQ(f.wait_for(20ms), std::future_status::timeout);
    EXPECT_GE(steady::now() - t0, 20ms);
    t0 = steady::now();
    EXPECT_EQ(f.wait_until(steady::now() + 10ms), std::future_status::timeout);
    EXPECT_GE(steady::now() - t0, 10ms);
    EXPECT_EQ(f.wait_until(std::chrono::system_clock::now() - 1s), std::future_status::timeout);
    auto setter = spindle::spawn([&p] {
      spindle::this_fiber::sleep_for(2ms);
      p.set_value(3);
    });
    EXPECT_EQ(f.wait_for(10s), std::future_status::ready);
    EXPECT_EQ(f.get(), 3);
    setter.join();
  });
  // From a plain thread.
  spindle::promise<void> p;
  auto f = p.get_future();
  auto t0 = steady::now();
  EXPECT_EQ(f.wait_for(15ms), std::future_status::timeout);
  EXPECT_GE(steady::now() - t0, 15ms);
}

TEST(Async, RunsInAFiberAndReturnsTheResult) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    auto f = spindle::async([](int a, int b) { return a + b; }, 2, 3);
    EXPECT_EQ(f.get(), 5);

    auto in_fiber = spindle::async([] { return spindle::in_fiber(); });
    EXPECT_TRUE(in_fiber.get());

    std::atomic<bool> ran{false};
    auto v = spindle::async([&ran] { ran = true; });
    v.get();
    EXPECT_TRUE(ran.load());

    auto e = spindle::async([]() -> int { throw std::out_of_range("x"); });
    EXPECT_THROW(e.get(), std::out_of_range);
  });
}

TEST(Async, DecayCopiesAndMoveOnlyCallables) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    std::string s = "before";
    auto f = spindle::async([](std::string copy) { return copy; }, s);
    s = "after";
    EXPECT_EQ(f.get(), "before");

    auto p = std::make_unique<int>(8);
    auto g = spindle::async([q = std::move(p)]() mutable { return std::move(q); });
    EXPECT_EQ(*g.get(), 8);

    auto h =
        spindle::async([](std::unique_ptr<int> q) { return *q * 2; }, std::make_unique<int>(4));
    EXPECT_EQ(h.get(), 8);

    int counter = 0;
    auto m = spindle::async([counter]() mutable { return ++counter; });
    EXPECT_EQ(m.get(), 1);
  });
}

TEST(Async, OnARuntimeFromAPlainThread) {
  spindle::runtime rt(two_workers());
  auto f = spindle::async(
      rt, [](int x) { return x * 3; }, 5);
  EXPECT_EQ(f.get(), 15);
  EXPECT_THROW(spindle::async([] { return 1; }), std::logic_error);  // no fiber here
}

TEST(WhenAll, ThousandFuturesInInputOrder) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    constexpr int n = 1000;
    std::vector<spindle::promise<int>> promises(n);
    auto futures = futures_of(promises);
    promises[0].set_value(0);  // some already ready
    auto all = spindle::when_all(std::move(futures));
    EXPECT_FALSE(all.ready());
    // Set the rest in a random order from several fibers and a thread.
    std::vector<int> order(n - 1);
    std::iota(order.begin(), order.end(), 1);
    std::shuffle(order.begin(), order.end(), std::mt19937(7));
    std::vector<spindle::task<void>> setters;
    for (int part = 0; part < 3; ++part) {
      setters.push_back(spindle::spawn([&, part] {
        for (std::size_t i = part; i < order.size(); i += 4) promises[order[i]].set_value(order[i]);
      }));
    }
    std::thread t([&] {
      for (std::size_t i = 3; i < order.size(); i += 4) promises[order[i]].set_value(order[i]);
    });
    std::vector<int> values = all.get();
    t.join();
    for (auto& s : setters) s.join();
    ASSERT_EQ(values.size(), static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) EXPECT_EQ(values[i], i);
  });
}

TEST(WhenAll, AsyncResults) {
  spindle::runtime rt(two_workers());
  long sum = rt.block_on([] {
    std::vector<spindle::future<long>> futures;
    for (long i = 0; i < 1000; ++i) futures.push_back(spindle::async([i] { return i * i; }));
    auto values = spindle::when_all(std::move(futures)).get();
    return std::accumulate(values.begin(), values.end(), 0L);
  });
  EXPECT_EQ(sum, 999L * 1000 * 1999 / 6);
}

TEST(WhenAll, VoidEmptyAndErrors) {
  std::vector<spindle::promise<void>> ps(3);
  auto fs = futures_of(ps);
  spindle::future<void> all = spindle::when_all(std::move(fs));
  ps[2].set_value();
  ps[0].set_value();
  EXPECT_FALSE(all.ready());
  ps[1].set_value();
  EXPECT_TRUE(all.ready());
  EXPECT_NO_THROW(all.get());

  EXPECT_TRUE(spindle::when_all(std::vector<spindle::future<int>>{}).get().empty());
  EXPECT_NO_THROW(spindle::when_all(std::vector<spindle::future<void>>{}).get());

  // The first failing input in input order decides the exception.
  std::vector<spindle::promise<int>> qs(3);
  auto gs = futures_of(qs);
  auto all2 = spindle::when_all(std::move(gs));
  qs[2].set_exception(std::make_exception_ptr(std::runtime_error("third")));
  qs[1].set_exception(std::make_exception_ptr(std::runtime_error("second")));
  qs[0].set_value(0);
  try {
    all2.get();
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "second");
  }

  std::vector<spindle::future<int>> bad(1);
  EXPECT_EQ(future_error_of([&] { spindle::when_all(std::move(bad)); }),
            std::future_errc::no_state);
}

TEST(WhenAll, BrokenInputBreaksTheResult) {
  std::vector<spindle::future<int>> fs;
  {
    spindle::promise<int> p;
    fs.push_back(p.get_future());
  }
  EXPECT_EQ(future_error_of([&] { spindle::when_all(std::move(fs)).get(); }),
            std::future_errc::broken_promise);
}

TEST(WhenAny, ThousandFuturesFirstReadyWins) {
  spindle::runtime rt(two_workers());
  rt.block_on([] {
    constexpr int n = 1000;
    std::vector<spindle::promise<int>> promises(n);
    auto futures = futures_of(promises);
    auto any = spindle::when_any(std::move(futures));
    EXPECT_FALSE(any.ready());
    auto setter = spindle::spawn([&] {
      spindle::this_fiber::sleep_for(2ms);
      promises[637].set_value(1);
    });
    EXPECT_EQ(any.get(), 637u);
    setter.join();
    for (int i = 0; i < n; ++i) {
      if (i != 637) promises[i].set_value(i);  // late arrivals are harmless
    }
  });
}

TEST(WhenAny, LvalueOverloadLeavesTheFuturesToCollect) {
  std::vector<spindle::promise<std::string>> ps(4);
  auto fs = futures_of(ps);
  ps[3].set_value("three");
  ps[1].set_value("one");
  std::size_t i = spindle::when_any(fs).get();
  EXPECT_EQ(i, 1u);  // among inputs ready at the call, the lowest index
  for (auto& f : fs) EXPECT_TRUE(f.valid());
  EXPECT_EQ(fs[i].get(), "one");

  // Exceptions count as ready.
  ps[0].set_exception(std::make_exception_ptr(std::runtime_error("e")));
  std::vector<spindle::future<std::string>> rest;
  rest.push_back(std::move(fs[2]));
  rest.push_back(std::move(fs[0]));
  EXPECT_EQ(spindle::when_any(std::move(rest)).get(), 1u);
}

TEST(WhenAny, EmptyAndBrokenInputs) {
  EXPECT_EQ(spindle::when_any(std::vector<spindle::future<int>>{}).get(),
            static_cast<std::size_t>(-1));
  std::vector<spindle::future<void>> fs;
  {
    spindle::promise<void> p;
    fs.push_back(p.get_future());
  }
  EXPECT_EQ(spindle::when_any(std::move(fs)).get(), 0u);
}

TEST(WhenAny, ConcurrentSettersAcrossWorkersAndThreads) {
  // Races between many inputs completing at once: exactly one index wins and
  // the combining state is freed (ASan) whatever the interleaving.
  spindle::runtime rt(two_workers());
  for (int round = 0; round < spindle::test::scaled(200, 50); ++round) {
    std::vector<spindle::promise<int>> ps(8);
    auto fs = futures_of(ps);
    auto any = spindle::when_any(std::move(fs));
    std::vector<spindle::promise<int>> threads_half;
    for (int i = 4; i < 8; ++i) threads_half.push_back(std::move(ps[i]));
    auto fiber_side = rt.spawn([&ps] {
      for (int i = 0; i < 4; ++i) ps[i].set_value(i);
    });
    std::thread thread_side([&] {
      for (auto& p : threads_half) p.set_value(1);
    });
    std::size_t i = any.get();
    EXPECT_LT(i, 8u);
    fiber_side.join();
    thread_side.join();
  }
}
