// options::stall_threshold: a worker that runs one fiber without a switch is
// reported, and its other fibers, timers and IO are served by a spare thread
// until the fiber switches.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <spindle/spindle.hpp>
#include <vector>

#include "test_support.hpp"

using namespace std::chrono_literals;

namespace {

// Spins without a switch until `until` is set or a generous bound passes;
// returns true if it was told to stop (not timed out).
bool spin_until(const std::atomic<bool>& until) {
  const auto give_up = std::chrono::steady_clock::now() + 60s;
  while (!until.load()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
  }
  return true;
}

struct reports {
  std::mutex m;
  std::vector<spindle::stall_report> all;
  std::function<void(const spindle::stall_report&)> hook() {
    return [this](const spindle::stall_report& r) {
      std::lock_guard g(m);
      all.push_back(r);
    };
  }
};

spindle::options one_worker(std::chrono::nanoseconds threshold, reports* r) {
  spindle::options o;
  o.workers = 1;
  o.stall_threshold = threshold;
  if (r) o.on_stall = r->hook();
  return o;
}

}  // namespace

// One worker: without the spare, nothing but the spinner could run.
TEST(Stall, SleepersTimersAndNewFibersRunWhileAWorkerIsStuck) {
  reports r;
  spindle::runtime rt(one_worker(20ms, &r));
  std::atomic<bool> others_done{false};
  std::atomic<bool> spinning{false};
  auto spinner = rt.spawn(spindle::fiber_options{.name = "spinner"}, [&] {
    spinning = true;
    return spin_until(others_done);
  });
  const std::uint64_t spinner_id = spinner.id();
  while (!spinning.load()) std::this_thread::sleep_for(1ms);
  // Spawned from this thread while the only worker is stuck: the global queue.
  auto sleeper = rt.spawn([] {
    for (int i = 0; i < 20; ++i) spindle::this_fiber::sleep_for(1ms);
    return spindle::spawn([] { return 7; }).join();  // a fiber it spawns runs too
  });
  EXPECT_EQ(sleeper.join(), 7);
  others_done = true;
  EXPECT_TRUE(spinner.join()) << "the spinner gave up: the sleeper was not served during the stall";
  std::lock_guard g(r.m);
  ASSERT_GE(r.all.size(), 1u);
  EXPECT_EQ(r.all[0].worker, 0u);
  EXPECT_EQ(r.all[0].fiber_id, spinner_id);
  EXPECT_EQ(r.all[0].fiber_name, "spinner");
  EXPECT_GE(r.all[0].running_for, 20ms);
}

TEST(Stall, IoIsServedWhileAWorkerIsStuck) {
  spindle::runtime rt(one_worker(20ms, nullptr));
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
  std::atomic<bool> read_done{false};
  std::atomic<bool> spinning{false};
  auto reader = rt.spawn([&] {
    spindle::io::wait_readable(fds[0]);
    char c = 0;
    EXPECT_EQ(::read(fds[0], &c, 1), 1);
    return c;
  });
  testing::internal::CaptureStderr();
  auto spinner = rt.spawn(spindle::fiber_options{.name = "busy loop"}, [&] {
    spinning = true;
    return spin_until(read_done);
  });
  const std::uint64_t spinner_id = spinner.id();
  while (!spinning.load()) std::this_thread::sleep_for(1ms);
  ASSERT_EQ(::write(fds[1], "z", 1), 1);
  EXPECT_EQ(reader.join(), 'z');
  read_done = true;
  EXPECT_TRUE(spinner.join());
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find(std::string("spindle: worker 0 has run fiber ").append(std::to_string(spinner_id)) +
                     " \"busy loop\" for "),
            std::string::npos)
      << err;
  ::close(fds[0]);
  ::close(fds[1]);
}

// A socket read queued behind the spinner (with io_uring, a request in the
// stuck worker's ring that it never submits; with epoll, a readiness wait)
// is served by the spare: submitted, completed, and its fiber run. Runs on
// both backends (the default, and SPINDLE_IO=epoll in its "epoll." copy).
TEST(Stall, SocketReadsAreServedWhileAWorkerIsStuck) {
  spindle::runtime rt(one_worker(20ms, nullptr));
  auto [a, b] = spindle::net::unix_stream::pair();
  std::atomic<bool> read_done{false};
  std::atomic<bool> spinning{false};
  auto reader = rt.spawn([&, &b = b] {
    std::array<std::byte, 4> buf{};
    b.read_exact(buf);
    return std::string(reinterpret_cast<const char*>(buf.data()), buf.size());
  });
  testing::internal::CaptureStderr();
  auto spinner = rt.spawn([&] {
    spinning = true;
    return spin_until(read_done);
  });
  while (!spinning.load()) std::this_thread::sleep_for(1ms);
  a.write_all("ring");  // a plain thread
  EXPECT_EQ(reader.join(), "ring");
  read_done = true;
  EXPECT_TRUE(spinner.join());
  testing::internal::GetCapturedStderr();
}

// A stall that ends hands the spare's fibers back; a second stall is served
// again; at most one report per stall. (The second spinner may be taken by
// the spare itself, from the global queue, before it retires: then it
// stalls nobody's worker and is not reported.)
TEST(Stall, OneReportPerStallAndTheSpareComesBack) {
  reports r;
  spindle::runtime rt(one_worker(20ms, &r));
  for (int round = 0; round < 2; ++round) {
    std::atomic<bool> done{false};
    std::atomic<bool> spinning{false};
    auto spinner = rt.spawn([&] {
      spinning = true;
      return spin_until(done);
    });
    while (!spinning.load()) std::this_thread::sleep_for(1ms);
    auto sleeper = rt.spawn([] { spindle::this_fiber::sleep_for(2ms); });
    sleeper.join();
    done = true;
    EXPECT_TRUE(spinner.join());
  }
  EXPECT_EQ(rt.block_on([] { return 5; }), 5);
  std::lock_guard g(r.m);
  EXPECT_GE(r.all.size(), 1u);
  EXPECT_LE(r.all.size(), 2u);
}

TEST(Stall, ZeroThresholdMeansNoMonitor) {
  reports r;
  spindle::runtime rt(one_worker(0ns, &r));
  rt.block_on([] {
    const auto end = std::chrono::steady_clock::now() + 30ms;
    while (std::chrono::steady_clock::now() < end) {
    }
  });
  std::lock_guard g(r.m);
  EXPECT_TRUE(r.all.empty());
}

TEST(Stall, ThrowingHookIsReportedAndIgnored) {
  spindle::options o = one_worker(10ms, nullptr);
  o.on_stall = [](const spindle::stall_report&) { throw std::runtime_error("hook failed"); };
  testing::internal::CaptureStderr();
  {
    spindle::runtime rt(o);
    std::atomic<bool> done{false};
    auto spinner = rt.spawn([&] { return spin_until(done); });
    auto other = rt.spawn([] { spindle::this_fiber::sleep_for(1ms); });
    other.join();
    done = true;
    EXPECT_TRUE(spinner.join());
  }
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("options::on_stall threw (ignored): std::runtime_error: hook failed"),
            std::string::npos)
      << err;
}
