// spindle::packaged_task: the function's result or exception reaches the
// future, whether the task runs in a fiber, on a thread or inline; once only;
// reset, broken promise, no_state.
#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <spindle/packaged_task.hpp>
#include <spindle/runtime.hpp>
#include <stdexcept>
#include <thread>

#include "test_support.hpp"

using spindle::test::two_workers;
using spindle::test::future_error_of;

namespace {

TEST(PackagedTask, ResultReachesTheFutureFromAFiber) {
  spindle::runtime rt(two_workers());
  spindle::packaged_task<int(int, int)> job([](int a, int b) { return a * b; });
  EXPECT_TRUE(job.valid());
  spindle::future<int> f = job.get_future();
  auto t = rt.spawn(std::move(job), 6, 7);
  EXPECT_EQ(f.get(), 42);
  t.join();
}

TEST(PackagedTask, ExceptionReachesTheFutureFromAThread) {
  spindle::packaged_task<void()> job([] { throw std::runtime_error("failed"); });
  spindle::future<void> f = job.get_future();
  std::thread th(std::move(job));
  th.join();
  EXPECT_THROW(f.get(), std::runtime_error);
}

TEST(PackagedTask, RunsOnceAndResetGivesAFreshFuture) {
  int calls = 0;
  spindle::packaged_task<int()> job([&calls] { return ++calls; });
  spindle::future<int> first = job.get_future();
  job();
  EXPECT_EQ(future_error_of([&] { job(); }), std::future_errc::promise_already_satisfied);
  EXPECT_EQ(calls, 1);  // the second call did not run the function
  EXPECT_EQ(future_error_of([&] { job.get_future(); }), std::future_errc::future_already_retrieved);
  EXPECT_EQ(first.get(), 1);
  job.reset();
  spindle::future<int> second = job.get_future();
  job();
  EXPECT_EQ(second.get(), 2);
}

TEST(PackagedTask, DestroyedOrResetBeforeRunningBreaksThePromise) {
  spindle::future<int> f;
  {
    spindle::packaged_task<int()> job([] { return 1; });
    f = job.get_future();
  }
  EXPECT_EQ(future_error_of([&] { f.get(); }), std::future_errc::broken_promise);

  spindle::packaged_task<int()> job([] { return 1; });
  spindle::future<int> old = job.get_future();
  job.reset();
  EXPECT_EQ(future_error_of([&] { old.get(); }), std::future_errc::broken_promise);
}

TEST(PackagedTask, EmptyOrMovedFromTasksThrowNoState) {
  spindle::packaged_task<void()> empty;
  EXPECT_FALSE(empty.valid());
  EXPECT_EQ(future_error_of([&] { empty(); }), std::future_errc::no_state);
  EXPECT_EQ(future_error_of([&] { empty.get_future(); }), std::future_errc::no_state);
  spindle::packaged_task<void()> a([] {});
  spindle::packaged_task<void()> b = std::move(a);
  EXPECT_FALSE(a.valid());
  EXPECT_EQ(future_error_of([&] { a(); }), std::future_errc::no_state);
  a.swap(b);
  EXPECT_TRUE(a.valid());
  EXPECT_FALSE(b.valid());
  a();
}

TEST(PackagedTask, MoveOnlyCallable) {
  auto p = std::make_unique<int>(5);
  spindle::packaged_task<int()> job([p = std::move(p)] { return *p; });
  spindle::future<int> f = job.get_future();
  job();
  EXPECT_EQ(f.get(), 5);
}

}  // namespace
