// spindle::shared_future and future<T&>/promise<T&>: many readers of one
// result, every copy sees the same value or exception as often as it asks,
// references handed over as references.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <memory>
#include <spindle/promise.hpp>
#include <spindle/runtime.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

using namespace std::chrono_literals;
using spindle::test::two_workers;
using spindle::test::future_error_of;

namespace {

TEST(SharedFuture, EveryCopyInFibersAndThreadsGetsTheSameValue) {
  spindle::runtime rt(two_workers());
  spindle::promise<std::string> p;
  spindle::shared_future<std::string> sf = p.get_future().share();
  EXPECT_TRUE(sf.valid());
  EXPECT_FALSE(sf.ready());
  std::atomic<int> matched{0};
  std::vector<spindle::task<void>> readers;
  for (int i = 0; i < 16; ++i) {
    readers.push_back(rt.spawn([sf, &matched] {
      for (int k = 0; k < 3; ++k) {
        if (sf.get() == "forty-two") matched.fetch_add(1);
      }
    }));
  }
  std::thread th([sf, &matched] {
    if (sf.get() == "forty-two") matched.fetch_add(1);
  });
  p.set_value("forty-two");
  for (auto& r : readers) r.join();
  th.join();
  EXPECT_EQ(matched.load(), 16 * 3 + 1);
  EXPECT_TRUE(sf.valid());  // get() leaves a shared_future valid
  EXPECT_TRUE(sf.ready());
  EXPECT_EQ(&sf.get(), &sf.get());  // one value, by const reference
}

TEST(SharedFuture, EveryCopyRethrowsTheSameException) {
  spindle::promise<int> p;
  spindle::shared_future<int> a(p.get_future());
  spindle::shared_future<int> b = a;
  p.set_exception(std::make_exception_ptr(std::runtime_error("boom")));
  for (auto* f : {&a, &b, &a}) {
    try {
      f->get();
      ADD_FAILURE() << "no exception";
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "boom");
    }
  }
}

TEST(SharedFuture, ShareInvalidatesTheFutureAndTimedWaitsWork) {
  spindle::promise<void> p;
  spindle::future<void> f = p.get_future();
  spindle::shared_future<void> sf = f.share();
  EXPECT_FALSE(f.valid());
  EXPECT_EQ(future_error_of([&] { f.wait(); }), std::future_errc::no_state);
  EXPECT_EQ(sf.wait_for(1ms), std::future_status::timeout);
  p.set_value();
  EXPECT_EQ(sf.wait_until(std::chrono::steady_clock::now()), std::future_status::ready);
  sf.get();
  sf.get();
  spindle::shared_future<void> empty;
  EXPECT_FALSE(empty.valid());
  EXPECT_EQ(future_error_of([&] { empty.get(); }), std::future_errc::no_state);
}

TEST(SharedFuture, BrokenPromiseReachesEveryCopy) {
  spindle::shared_future<int> sf;
  {
    spindle::promise<int> p;
    sf = p.get_future().share();
  }
  spindle::shared_future<int> copy = sf;
  EXPECT_EQ(future_error_of([&] { sf.get(); }), std::future_errc::broken_promise);
  EXPECT_EQ(future_error_of([&] { copy.get(); }), std::future_errc::broken_promise);
}

TEST(FutureOfReference, HandsOverTheObjectItself) {
  spindle::runtime rt(two_workers());
  int target = 1;
  spindle::promise<int&> p;
  spindle::future<int&> f = p.get_future();
  auto setter = rt.spawn([&p, &target] { p.set_value(target); });
  int& got = f.get();
  setter.join();
  EXPECT_EQ(&got, &target);
  got = 7;
  EXPECT_EQ(target, 7);

  spindle::promise<const std::string&> q;
  spindle::shared_future<const std::string&> sq = q.get_future().share();
  const std::string s = "shared";
  q.set_value(s);
  EXPECT_EQ(&sq.get(), &s);
  EXPECT_EQ(future_error_of([&] { q.set_value(s); }), std::future_errc::promise_already_satisfied);
}

}  // namespace
