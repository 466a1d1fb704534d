// spindle::signal_set: delivery to a parked fiber, to a plain thread and to
// every set naming a signal; coalescing of a pending signal; the former
// disposition restored by the last set; the hub started and stopped a
// thousand times; bad input.
//
// Signals are sent with kill(getpid(), ...), process-directed as a Ctrl-C
// is (ThreadSanitizer delivers them at its next safe point, which is fine).
// No timing decides a pass: waits are bounded by generous wait_for only.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>
#include <spindle/runtime.hpp>
#include <spindle/signal_set.hpp>
#include <spindle/this_fiber.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

using namespace std::chrono_literals;
using spindle::test::two_workers;

namespace {

constexpr auto hang_bound = 30s;  // only ever reached by a failing build

void send(int signo) {
  ASSERT_EQ(::kill(::getpid(), signo), 0);
}

// The handler the tests install themselves, to see it come back.
std::atomic<int> own_handler_calls{0};
extern "C" void own_handler(int) {
  own_handler_calls.fetch_add(1);
}

// The current disposition of `signo`.
struct sigaction disposition(int signo) {
  struct sigaction sa {};
  EXPECT_EQ(::sigaction(signo, nullptr, &sa), 0);
  return sa;
}

// Installs own_handler for `signo` for the life of the object, then puts
// back what was there.
class own_disposition {
 public:
  explicit own_disposition(int signo) : signo_(signo) {
    struct sigaction sa {};
    sa.sa_handler = own_handler;
    sigemptyset(&sa.sa_mask);
    EXPECT_EQ(::sigaction(signo_, &sa, &saved_), 0);
  }
  ~own_disposition() { ::sigaction(signo_, &saved_, nullptr); }

 private:
  int signo_;
  struct sigaction saved_ {};
};

// The message of the std::invalid_argument that making a set of `signals`
// throws; "" if it does not throw.
std::string refusal_of(std::initializer_list<int> signals) {
  try {
    spindle::signal_set s(signals);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

// Threads of this process named "spindle-sig": the hub's.
int hub_threads() {
  int n = 0;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    if (name == "spindle-sig") ++n;
  }
  return n;
}

std::size_t open_descriptors() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

}  // namespace

// A fiber parked in wait() gets the signal sent from another thread, and its
// worker goes on running other fibers meanwhile (one worker only).
TEST(SignalSet, DeliveredToAFiberParkedInWait) {
  spindle::runtime rt(spindle::options{.workers = 1});
  spindle::signal_set sigs{SIGUSR1};
  std::atomic<bool> waiting{false};
  auto waiter = rt.spawn([&] {
    waiting = true;
    return sigs.wait();
  });
  // Another fiber runs on the only worker while the waiter is parked.
  auto other = rt.spawn([&] {
    while (!waiting) spindle::this_fiber::yield();
    spindle::this_fiber::sleep_for(5ms);  // most likely parked by now; either way is correct
    return 7;
  });
  EXPECT_EQ(other.join(), 7);
  std::thread sender([] { send(SIGUSR1); });
  sender.join();
  EXPECT_EQ(waiter.join(), SIGUSR1);
  EXPECT_EQ(sigs.try_wait(), std::nullopt);
}

// Sent by a fiber of the runtime itself, to a fiber of the same worker.
TEST(SignalSet, SentAndReceivedByFibersOfOneWorker) {
  spindle::runtime rt(spindle::options{.workers = 1});
  spindle::signal_set sigs{SIGUSR2, SIGHUP};
  const int got = rt.block_on([&] {
    auto waiter = spindle::spawn([&] { return sigs.wait_for(hang_bound); });
    spindle::this_fiber::yield();
    send(SIGHUP);
    return waiter.join().value_or(0);
  });
  EXPECT_EQ(got, SIGHUP);
}

TEST(SignalSet, DeliveredToAPlainThread) {
  spindle::signal_set sigs{SIGTERM};
  std::optional<int> got;
  std::thread waiter([&] { got = sigs.wait_for(hang_bound); });
  send(SIGTERM);
  waiter.join();
  EXPECT_EQ(got, SIGTERM);
  // And to a thread blocked in wait() with no bound, woken by a thread.
  std::thread blocked([&] { got = sigs.wait(); });
  std::thread sender([] { send(SIGTERM); });
  sender.join();
  blocked.join();
  EXPECT_EQ(got, SIGTERM);
}

// Every set naming a signal gets each occurrence; a set that does not name
// it gets nothing.
TEST(SignalSet, EverySetNamingTheSignalGetsIt) {
  spindle::runtime rt(two_workers());
  spindle::signal_set a{SIGUSR1};
  spindle::signal_set b{SIGUSR2, SIGUSR1};
  spindle::signal_set c{SIGUSR2};
  for (int round = 0; round < 3; ++round) {
    auto in_a = rt.spawn([&] { return a.wait_for(hang_bound); });
    auto in_b = rt.spawn([&] { return b.wait_for(hang_bound); });
    send(SIGUSR1);
    EXPECT_EQ(in_a.join(), SIGUSR1);
    EXPECT_EQ(in_b.join(), SIGUSR1);
  }
  // c named only SIGUSR2: a SIGUSR2 now is the first thing it sees.
  send(SIGUSR2);
  EXPECT_EQ(c.wait_for(hang_bound), SIGUSR2);
  EXPECT_EQ(b.wait_for(hang_bound), SIGUSR2);
  EXPECT_EQ(a.try_wait(), std::nullopt);
}

// Occurrences of a signal that is pending in a set (caught, not yet taken)
// coalesce with it; another signal still gets through, and once taken the
// signal can be pending again.
TEST(SignalSet, PendingSignalCoalesces) {
  spindle::signal_set pending{SIGUSR1, SIGUSR2};
  // `observer` takes each SIGUSR1 as it comes, proving each one was caught
  // and handed out on its own (not merged by the kernel), and `fence` proves
  // the hub has finished handing out everything sent before: the hub serves
  // one signal at a time, to every set, in the order they were caught.
  spindle::signal_set observer{SIGUSR1};
  spindle::signal_set fence{SIGHUP};
  for (int i = 0; i < 3; ++i) {
    send(SIGUSR1);
    ASSERT_EQ(observer.wait_for(hang_bound), SIGUSR1);
  }
  send(SIGHUP);
  ASSERT_EQ(fence.wait_for(hang_bound), SIGHUP);
  send(SIGUSR2);
  send(SIGHUP);
  ASSERT_EQ(fence.wait_for(hang_bound), SIGHUP);
  // Three SIGUSR1 arrived while one was pending: one; then SIGUSR2.
  EXPECT_EQ(pending.try_wait(), SIGUSR1);
  EXPECT_EQ(pending.try_wait(), SIGUSR2);
  EXPECT_EQ(pending.try_wait(), std::nullopt);
  send(SIGUSR1);
  EXPECT_EQ(pending.wait_for(hang_bound), SIGUSR1);
  EXPECT_EQ(observer.wait_for(hang_bound), SIGUSR1);
}

// The disposition a signal had before its first set comes back when its last
// set is gone, and works again; a set naming another signal keeps its own.
TEST(SignalSet, LastSetRestoresTheFormerDisposition) {
  own_disposition own(SIGUSR1);
  own_handler_calls = 0;
  {
    spindle::signal_set first{SIGUSR1};
    EXPECT_NE(disposition(SIGUSR1).sa_handler, own_handler);
    {
      spindle::signal_set second{SIGUSR1, SIGUSR2};
      const auto caught_usr2 = disposition(SIGUSR2).sa_handler;
      EXPECT_EQ(disposition(SIGUSR1).sa_handler, caught_usr2);  // one handler catches all
      send(SIGUSR1);
      EXPECT_EQ(second.wait_for(hang_bound), SIGUSR1);
      EXPECT_EQ(first.wait_for(hang_bound), SIGUSR1);
    }
    EXPECT_NE(disposition(SIGUSR1).sa_handler, own_handler);  // `first` still names it
    EXPECT_EQ(disposition(SIGUSR2).sa_handler, SIG_DFL);      // nobody names it any more
  }
  EXPECT_EQ(disposition(SIGUSR1).sa_handler, own_handler);
  EXPECT_EQ(own_handler_calls.load(), 0);
  send(SIGUSR1);  // the restored handler runs again
  const auto bound = std::chrono::steady_clock::now() + hang_bound;
  while (own_handler_calls.load() == 0 && std::chrono::steady_clock::now() < bound) {
    std::this_thread::yield();
  }
  EXPECT_EQ(own_handler_calls.load(), 1);

  // An ignored signal stays ignored.
  ::signal(SIGHUP, SIG_IGN);
  { spindle::signal_set s{SIGHUP}; }
  EXPECT_EQ(disposition(SIGHUP).sa_handler, SIG_IGN);
  ::signal(SIGHUP, SIG_DFL);
}

// The hub thread starts with the first set and stops with the last, a
// thousand times over, sometimes with a signal delivered in between; no
// thread or descriptor is left behind.
TEST(SignalSet, CreatedAndDestroyedAThousandTimes) {
  const std::size_t descriptors = open_descriptors();
  const int rounds = 1000;
  for (int i = 0; i < rounds; ++i) {
    spindle::signal_set s{SIGUSR1};
    if (i % 100 == 0) {
      send(SIGUSR1);
      ASSERT_EQ(s.wait_for(hang_bound), SIGUSR1);
      EXPECT_EQ(hub_threads(), 1);  // it has run (it delivered), so it has named itself
    }
  }
  EXPECT_EQ(hub_threads(), 0);
  EXPECT_EQ(open_descriptors(), descriptors);
  EXPECT_EQ(disposition(SIGUSR1).sa_handler, SIG_DFL);
  // Sets living on several threads at once, created and destroyed in a race.
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < rounds / 2; ++i) spindle::signal_set s{SIGUSR1};
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(hub_threads(), 0);
  EXPECT_EQ(open_descriptors(), descriptors);
  EXPECT_EQ(disposition(SIGUSR1).sa_handler, SIG_DFL);
}

// wait_for and wait_until give up with nullopt when nothing comes.
TEST(SignalSet, TimedWaitsTimeOut) {
  spindle::runtime rt(two_workers());
  spindle::signal_set sigs{SIGUSR2};
  EXPECT_EQ(sigs.try_wait(), std::nullopt);
  EXPECT_EQ(sigs.wait_for(1ms), std::nullopt);
  EXPECT_EQ(sigs.wait_until(std::chrono::system_clock::now() + 1ms), std::nullopt);
  EXPECT_EQ(rt.block_on([&] { return sigs.wait_for(-1s); }), std::nullopt);
  EXPECT_THROW(sigs.wait_for(std::chrono::duration<double>(NAN)), std::invalid_argument);
}

TEST(SignalSet, BadSignalsAreRefused) {
  EXPECT_NE(refusal_of({}).find("no signals"), std::string::npos);
  EXPECT_NE(refusal_of({0}).find("0 is not a signal number"), std::string::npos);
  EXPECT_NE(refusal_of({-3}).find("-3 is not a signal number"), std::string::npos);
  EXPECT_NE(refusal_of({NSIG}).find("is not a signal number"), std::string::npos);
  EXPECT_NE(refusal_of({1000}).find("1000 is not a signal number"), std::string::npos);
  EXPECT_NE(refusal_of({SIGKILL}).find("SIGKILL cannot be caught"), std::string::npos);
  EXPECT_NE(refusal_of({SIGSTOP}).find("SIGSTOP cannot be caught"), std::string::npos);
  const struct {
    int signo;
    std::string name;
  } faults[] = {{SIGSEGV, "SIGSEGV"}, {SIGBUS, "SIGBUS"}, {SIGFPE, "SIGFPE"}, {SIGILL, "SIGILL"}};
  for (const auto& f : faults) {
    EXPECT_NE(refusal_of({SIGINT, f.signo}).find(f.name + " is a synchronous fault"),
              std::string::npos);
  }
  // A refused set changes nothing: SIGINT, named first, was not caught.
  EXPECT_EQ(disposition(SIGINT).sa_handler, SIG_DFL);
  // A signal named twice counts once.
  spindle::signal_set twice{SIGUSR1, SIGUSR1};
  send(SIGUSR1);
  EXPECT_EQ(twice.wait_for(hang_bound), SIGUSR1);
  EXPECT_EQ(twice.try_wait(), std::nullopt);
}
