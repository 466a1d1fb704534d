// What a fiber leaves behind: its callable and arguments are destroyed before
// it counts as finished (as std::thread does), and a fiber ~runtime() unwound
// has no result, so join() throws instead of returning one.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <spindle/runtime.hpp>
#include <spindle/sync.hpp>
#include <spindle/this_fiber.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>

using namespace std::chrono_literals;

namespace {

// Sets *flag when destroyed. The flag is a plain bool in the joiner's frame:
// join() must order the destructor before its return (ThreadSanitizer checks).
struct sets_on_destruction {
  bool* flag;
  explicit sets_on_destruction(bool* f) : flag(f) {}
  sets_on_destruction(sets_on_destruction&& o) noexcept : flag(std::exchange(o.flag, nullptr)) {}
  ~sets_on_destruction() {
    if (flag) *flag = true;
  }
};

// Joins a child whose capture and argument record their destruction, and
// checks both are gone when join() returns; `started_first` makes the child
// run (and park) before the join, so the joiner waits instead of running it
// inline. Runs on a fiber or a plain thread.
template <class Spawn>
void check_released_before_join_returns(Spawn spawn, bool started_first) {
  bool capture_gone = false;
  bool argument_gone = false;
  auto shared = std::make_shared<int>(1);
  std::atomic<bool> started{false};
  auto t = spawn(
      [guard = sets_on_destruction(&capture_gone), shared, &started,
       started_first](sets_on_destruction&&) {
        started = true;
        // Parks, so that the joiner waits; otherwise no suspension at all,
        // so that nothing but the join itself can release the fiber.
        if (started_first) spindle::this_fiber::sleep_for(1ms);
        return 5;
      },
      sets_on_destruction(&argument_gone));
  if (started_first) {
    while (!started.load()) {
      if (spindle::in_fiber())
        spindle::this_fiber::yield();
      else
        std::this_thread::sleep_for(100us);
    }
  }
  EXPECT_EQ(t.join(), 5);
  EXPECT_TRUE(capture_gone);
  EXPECT_TRUE(argument_gone);
  EXPECT_EQ(shared.use_count(), 1);
}

}  // namespace

TEST(FiberLifetime, CallableAndArgumentsAreDestroyedBeforeJoinReturns) {
  for (std::size_t workers : {1, 3}) {
    SCOPED_TRACE("workers = " + std::to_string(workers));
    spindle::runtime rt(spindle::options{.workers = workers});
    auto from_fiber = [](auto&&... a) { return spindle::spawn(std::forward<decltype(a)>(a)...); };
    auto from_thread = [&rt](auto&&... a) { return rt.spawn(std::forward<decltype(a)>(a)...); };
    for (int round = 0; round < 50; ++round) {
      // On one worker an immediate join runs the child inline (it has not
      // started): the inline path must release it too.
      rt.block_on([&] { check_released_before_join_returns(from_fiber, false); });
      rt.block_on([&] { check_released_before_join_returns(from_fiber, true); });
      check_released_before_join_returns(from_thread, false);
      check_released_before_join_returns(from_thread, true);
    }
  }
}

TEST(FiberLifetime, CallableIsDestroyedBeforeJoinRethrows) {
  for (std::size_t workers : {1, 3}) {
    spindle::runtime rt(spindle::options{.workers = workers});
    bool gone = false;
    auto t = rt.spawn([g = sets_on_destruction(&gone)] { throw std::runtime_error("thrown"); });
    EXPECT_THROW(t.join(), std::runtime_error);
    EXPECT_TRUE(gone);
    rt.block_on([] {
      bool inline_gone = false;
      auto c = spindle::spawn(
          [g = sets_on_destruction(&inline_gone)] { throw std::runtime_error("thrown"); });
      EXPECT_THROW(c.join(), std::runtime_error);
      EXPECT_TRUE(inline_gone);
    });
  }
}

TEST(FiberLifetime, CallableOfADiscardedFiberIsDestroyedByShutdown) {
  auto shared = std::make_shared<int>(1);
  spindle::task<int> t;
  std::optional<spindle::runtime> rt(std::in_place, spindle::options{.workers = 1});
  std::atomic<bool> blocker_running{false};
  std::atomic<bool> release{false};
  // Occupy the only worker until shutdown has (most likely) begun, so that
  // the fiber queued behind it is discarded without running.
  rt->spawn([&] {
      blocker_running = true;
      while (!release.load()) std::this_thread::sleep_for(100us);
    }).detach();
  while (!blocker_running.load()) std::this_thread::sleep_for(100us);
  t = rt->spawn([shared] { return 1; });
  std::thread releaser([&] {
    std::this_thread::sleep_for(100ms);
    release = true;
  });
  rt.reset();
  releaser.join();
  // Gone whether the fiber was discarded or (on a slow machine) ran: the task
  // holds the control block, not the capture.
  EXPECT_EQ(shared.use_count(), 1);
  try {
    EXPECT_EQ(t.join(), 1);  // it ran
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("before this fiber started"), std::string::npos)
        << e.what();
  }
}

// A started fiber parked when the runtime goes: join() afterwards throws the
// logic_error of a fiber without a result, for every result type.
template <class T>
void check_join_of_unwound_fiber_throws() {
  std::atomic<bool> started{false};
  spindle::task<T> t;
  {
    spindle::runtime rt(spindle::options{.workers = 2});
    t = rt.spawn([&started]() -> T {
      started = true;
      spindle::this_fiber::sleep_for(1h);
      if constexpr (!std::is_void_v<T>) return T{};
    });
    while (!started.load()) std::this_thread::sleep_for(100us);
  }
  ASSERT_TRUE(t.done());
  try {
    t.join();
    ADD_FAILURE() << "join() of an unwound fiber returned";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("unwound"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(t.joinable());
}

TEST(FiberLifetime, JoinOfAFiberUnwoundByShutdownThrows) {
  check_join_of_unwound_fiber_throws<int>();
  check_join_of_unwound_fiber_throws<std::string>();
  check_join_of_unwound_fiber_throws<std::unique_ptr<int>>();
  check_join_of_unwound_fiber_throws<void>();
}

TEST(FiberLifetime, ThreadBlockedInJoinWhileShutdownUnwindsTheFiberGetsLogicError) {
  for (int round = 0; round < 20; ++round) {
    std::atomic<bool> started{false};
    std::atomic<bool> joining{false};
    bool threw = false;
    std::thread joiner;
    {
      spindle::runtime rt(spindle::options{.workers = 2});
      auto t = rt.spawn([&started] {
        started = true;
        spindle::this_fiber::sleep_for(1h);
        return std::string("never");
      });
      while (!started.load()) std::this_thread::sleep_for(100us);
      joiner = std::thread([&, t = std::move(t)]() mutable {
        joining = true;
        try {
          (void)t.join();
        } catch (const std::logic_error&) {
          threw = true;
        }
      });
      while (!joining.load()) std::this_thread::sleep_for(100us);
    }
    joiner.join();
    EXPECT_TRUE(threw);
  }
}

TEST(FiberLifetime, FiberJoinerOfAnUnwoundFiberIsUnwoundQuietly) {
  // A parent parked in join() of a parked child: shutdown unwinds the child
  // first (newest first); the parent's join has no result and unwinds the
  // parent as any wait does during shutdown, with nothing on stderr.
  testing::internal::CaptureStderr();
  bool parent_unwound = false;
  {
    spindle::runtime rt(spindle::options{.workers = 2});
    std::atomic<bool> child_started{false};
    std::atomic<bool> parent_joining{false};
    rt.spawn([&] {
        sets_on_destruction guard(&parent_unwound);
        auto child = spindle::spawn([&] {
          child_started = true;
          spindle::this_fiber::sleep_for(1h);
          return 1;
        });
        while (!child_started.load()) spindle::this_fiber::yield();
        parent_joining = true;
        (void)child.join();
        ADD_FAILURE() << "join() returned a value the child never produced";
      }).detach();
    while (!parent_joining.load()) std::this_thread::sleep_for(100us);
  }
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
  EXPECT_TRUE(parent_unwound);
}
