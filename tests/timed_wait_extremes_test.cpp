// Timed waits at the extremes: every timed call of the public API, given
// durations and time points at and beyond the ends of their types, of
// steady_clock, system_clock and a coarse custom clock, with integral,
// unsigned and floating representations.
//
// The rule under test (detail/deadline.hpp, USER_GUIDE "Timed waits"):
//  * "past" (a duration <= 0, a time point not after its clock's now()): the
//    call returns at once with its timeout result;
//  * "huge" (beyond steady_clock's range, or just very long): the call
//    really waits — it is still waiting after a moment, and returns its
//    success result when the normal event comes (unlock, send, notify, ...);
//  * NaN: std::invalid_argument.
// These conversions used to overflow: hours::max() and friends returned at
// once (UBSan: signed overflow) and system_clock::time_point::min() slept
// forever. Timing only bounds hangs; it never decides a pass.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <future>
#include <limits>
#include <memory>
#include <optional>
#include <ratio>
#include <spindle/channel.hpp>
#include <spindle/io.hpp>
#include <spindle/net.hpp>
#include <spindle/promise.hpp>
#include <spindle/runtime.hpp>
#include <spindle/signal_set.hpp>
#include <spindle/sync.hpp>
#include <spindle/this_fiber.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>

#include "test_support.hpp"

namespace {

using namespace std::chrono;
using namespace std::chrono_literals;

// A clock with an hour's tick and a 32-bit count, following system_clock.
struct coarse_clock {
  using rep = std::int32_t;
  using period = std::ratio<3600>;
  using duration = std::chrono::duration<rep, period>;
  using time_point = std::chrono::time_point<coarse_clock>;
  [[maybe_unused]] static constexpr bool is_steady = false;  // a clock must say; nothing here asks
  static time_point now() {
    return time_point(floor<duration>(system_clock::now().time_since_epoch()));
  }
};

using fsec = duration<double>;
using years32 = duration<std::int32_t, std::ratio<31'556'952>>;  // coarse period, 32-bit count
using unsigned_ms = duration<std::uint64_t, std::milli>;
constexpr double infinity = std::numeric_limits<double>::infinity();
constexpr double not_a_number = std::numeric_limits<double>::quiet_NaN();

template <class T>
constexpr bool is_duration = false;
template <class R, class P>
constexpr bool is_duration<duration<R, P>> = true;

// Arguments whose wait must end at once with the timeout result.
auto past_args() {
  return std::tuple(nanoseconds::min(), seconds::min(), hours::min(), nanoseconds::zero(), -1ns,
                    fsec(-1e300), fsec(0), fsec(-infinity), years32::min(), years32::zero(),
                    steady_clock::time_point::min(), time_point<steady_clock, seconds>::min(),
                    steady_clock::time_point{}, time_point<steady_clock, fsec>(fsec(-1e300)),
                    steady_clock::now() - 1ms, system_clock::time_point::min(),
                    time_point<system_clock, hours>::min(), system_clock::now() - 1h,
                    time_point<system_clock, fsec>(fsec(-infinity)),
                    coarse_clock::time_point::min(), coarse_clock::now());
}

// Arguments whose wait must last until the event: beyond steady_clock's
// range, or 200 years, which is representable.
auto huge_args() {
  constexpr hours two_centuries(24 * 365 * 200);
  return std::tuple(
      nanoseconds::max(), seconds::max(), hours::max(), fsec(1e300), fsec(infinity), years32::max(),
      unsigned_ms::max(), two_centuries, steady_clock::time_point::max(),
      time_point<steady_clock, seconds>::max(), time_point<steady_clock, fsec>(fsec(1e300)),
      steady_clock::now() + two_centuries, system_clock::time_point::max(),
      time_point<system_clock, hours>::max(), time_point<system_clock, fsec>(fsec(infinity)),
      system_clock::now() + two_centuries, coarse_clock::time_point::max());
}

auto nan_args() {
  return std::tuple(fsec(not_a_number), time_point<steady_clock, fsec>(fsec(not_a_number)),
                    time_point<system_clock, fsec>(fsec(not_a_number)));
}

// Only the durations of a tuple of arguments (for calls that take no time point).
template <class... A>
auto durations_of(const std::tuple<A...>& args) {
  return std::apply(
      [](const auto&... a) {
        return std::tuple_cat([&] {
          if constexpr (is_duration<std::decay_t<decltype(a)>>) {
            return std::tuple(a);
          } else {
            return std::tuple<>();
          }
        }()...);
      },
      args);
}

template <class Tuple, class F>
void for_each_arg(const Tuple& args, F f) {
  std::apply([&](const auto&... a) { (f(a), ...); }, args);
}

// A name for the failure trace ("time_point -9.22337e+18 x 1/1000000000 s of system_clock").
template <class A>
std::string describe(const A& a) {
  std::ostringstream out;
  if constexpr (is_duration<A>) {
    out << static_cast<long double>(a.count()) << " x " << A::period::num << "/" << A::period::den
        << " s";
  } else {
    out << "time_point " << describe(a.time_since_epoch()) << " of "
        << (std::is_same_v<typename A::clock, steady_clock>   ? "steady_clock"
            : std::is_same_v<typename A::clock, system_clock> ? "system_clock"
                                                              : "coarse_clock");
  }
  return out.str();
}

constexpr auto hang_bound = 30s;  // only ever reached by a failing build
constexpr auto moment = 5ms;      // long enough for a wrongly immediate return to show

enum class where { fiber, thread };

// Runs body() in a fiber of rt or on a thread of its own; result() waits for
// it (bounded) and returns what it returned.
class call_in_background {
 public:
  template <class F>
  call_in_background(spindle::runtime& rt, where w, F body) {
    // The caller owns the promise too, so this object may go as soon as the
    // result is there, while set_value is still returning.
    auto run = [result = result_, body]() mutable {
      try {
        result->set_value(body());
      } catch (const std::exception&) {  // not catch (...): ~runtime's unwind must pass
        result->set_exception(std::current_exception());
      }
    };
    if (w == where::fiber) {
      rt.spawn(std::move(run)).detach();
    } else {
      thread_ = std::thread(std::move(run));
    }
  }
  ~call_in_background() {
    if (thread_.joinable()) thread_.join();
  }

  bool returned_within(std::chrono::milliseconds d) {
    return future_.wait_for(d) == std::future_status::ready;
  }
  bool result() { return future_.get(); }

 private:
  std::shared_ptr<std::promise<bool>> result_ = std::make_shared<std::promise<bool>>();
  std::future<bool> future_ = result_->get_future();
  std::thread thread_;
};

// One timed call of the API and the state it waits on. wait(a) makes the
// call with argument a and returns true for success, false for its timeout
// result; release() brings the event the call waits for, once, and never
// blocks (a wrongly timed-out call must not hang the test).
//
// Each kind is checked by the three sweeps below; a fresh object serves one call.

struct mutex_op {
  spindle::mutex m;
  mutex_op() { m.lock(); }  // by the test's thread, the releaser
  template <class A>
  bool wait(const A& a) {
    bool ok;
    if constexpr (is_duration<A>) {
      ok = m.try_lock_for(a);
    } else {
      ok = m.try_lock_until(a);
    }
    if (ok) m.unlock();
    return ok;
  }
  void release() { m.unlock(); }
};

struct shared_mutex_op {
  spindle::shared_mutex m;
  bool shared;
  explicit shared_mutex_op(bool shared) : shared(shared) { m.lock(); }
  template <class A>
  bool wait(const A& a) {
    if (shared) {
      bool ok;
      if constexpr (is_duration<A>) {
        ok = m.try_lock_shared_for(a);
      } else {
        ok = m.try_lock_shared_until(a);
      }
      if (ok) m.unlock_shared();
      return ok;
    }
    bool ok;
    if constexpr (is_duration<A>) {
      ok = m.try_lock_for(a);
    } else {
      ok = m.try_lock_until(a);
    }
    if (ok) m.unlock();
    return ok;
  }
  void release() { m.unlock(); }
};

struct condition_variable_op {
  spindle::mutex m;
  spindle::condition_variable cv;
  bool flag = false;  // guarded by m
  bool with_predicate;
  explicit condition_variable_op(bool with_predicate) : with_predicate(with_predicate) {}
  template <class A>
  bool wait(const A& a) {
    std::unique_lock lk(m);
    auto pred = [&] { return flag; };
    if (with_predicate) {
      if constexpr (is_duration<A>) {
        return cv.wait_for(lk, a, pred);
      } else {
        return cv.wait_until(lk, a, pred);
      }
    }
    while (!flag) {  // a notify may come before the wait starts, or a spurious wake-up
      std::cv_status s;
      if constexpr (is_duration<A>) {
        s = cv.wait_for(lk, a);
      } else {
        s = cv.wait_until(lk, a);
      }
      if (s == std::cv_status::timeout) return false;
    }
    return true;
  }
  void release() {
    {
      std::lock_guard g(m);
      flag = true;
    }
    cv.notify_all();
  }
};

struct semaphore_op {
  spindle::semaphore s{0};
  template <class A>
  bool wait(const A& a) {
    if constexpr (is_duration<A>) {
      return s.try_acquire_for(a);
    } else {
      return s.try_acquire_until(a);
    }
  }
  void release() { s.release(); }
};

// A full channel of capacity 1: the send waits until the releaser takes the filler.
struct channel_send_op {
  spindle::channel<int> ch{1};
  channel_send_op() { ch.send(-1); }
  template <class A>
  bool wait(const A& a) {
    if constexpr (is_duration<A>) {
      return ch.send_for(7, a);
    } else {
      return ch.send_until(7, a);
    }
  }
  void release() { ch.try_recv(); }
};

// An empty channel of capacity 1: the releaser's send never blocks.
struct channel_recv_op {
  spindle::channel<int> ch{1};
  template <class A>
  bool wait(const A& a) {
    std::optional<int> v;
    if constexpr (is_duration<A>) {
      v = ch.recv_for(a);
    } else {
      v = ch.recv_until(a);
    }
    if (v) {
      EXPECT_EQ(*v, 7);
    }
    return v.has_value();
  }
  void release() { ch.send(7); }
};

struct select_timeout_op {
  spindle::channel<int> ch{1};
  template <class A>
  bool wait(const A& a) {
    bool timed_out = false;
    const std::size_t i = spindle::select(spindle::on_recv(ch, [](std::optional<int>) {}),
                                          spindle::on_timeout(a, [&] { timed_out = true; }));
    EXPECT_EQ(timed_out, i == 1);
    return i == 0;
  }
  void release() { ch.send(7); }
};

struct latch_op {
  spindle::latch l{1};
  template <class A>
  bool wait(const A& a) {
    if constexpr (is_duration<A>) {
      return l.wait_for(a);
    } else {
      return l.wait_until(a);
    }
  }
  void release() { l.count_down(); }
};

struct wait_group_op {
  spindle::wait_group wg;
  wait_group_op() { wg.add(); }
  template <class A>
  bool wait(const A& a) {
    if constexpr (is_duration<A>) {
      return wg.wait_for(a);
    } else {
      return wg.wait_until(a);
    }
  }
  void release() { wg.done(); }
};

// A signal set; the releaser sends the process its signal.
struct signal_set_op {
  spindle::signal_set sigs{SIGUSR1};
  template <class A>
  bool wait(const A& a) {
    std::optional<int> signo;
    if constexpr (is_duration<A>) {
      signo = sigs.wait_for(a);
    } else {
      signo = sigs.wait_until(a);
    }
    if (signo) {
      EXPECT_EQ(*signo, SIGUSR1);
    }
    return signo.has_value();
  }
  void release() { EXPECT_EQ(::kill(::getpid(), SIGUSR1), 0); }
};

struct future_op {
  spindle::promise<int> p;
  spindle::future<int> f = p.get_future();
  template <class A>
  bool wait(const A& a) {
    std::future_status s;
    if constexpr (is_duration<A>) {
      s = f.wait_for(a);
    } else {
      s = f.wait_until(a);
    }
    return s == std::future_status::ready;
  }
  void release() { p.set_value(7); }
};

// A pipe: readable once the releaser writes a byte.
struct io_wait_op {
  int fds[2] = {-1, -1};
  io_wait_op() {
    if (::pipe(fds) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
  }
  ~io_wait_op() {
    ::close(fds[0]);
    ::close(fds[1]);
  }
  template <class A>
  bool wait(const A& a) {
    return spindle::io::wait_readable(fds[0], a);
  }
  void release() { EXPECT_EQ(::write(fds[1], "x", 1), 1); }
};

// A connected pair of TCP streams; the call reads under set_timeout.
struct tcp_timeout_op {
  spindle::net::tcp_stream client, server;
  tcp_timeout_op() {
    auto lst = spindle::net::tcp_listener::bind(spindle::net::endpoint::parse("127.0.0.1:0"));
    client = spindle::net::tcp_stream::connect(lst.local_endpoint());
    server = lst.accept();
  }
  template <class A>
  bool wait(const A& a) {
    client.set_timeout(a);
    std::byte buf[8];
    try {
      return client.read_some(buf) == 1;
    } catch (const std::system_error& e) {
      if (e.code() == std::errc::timed_out) return false;
      throw;
    }
  }
  void release() { server.write_all("x"); }
};

// A pair of UDP sockets; the call receives under set_timeout.
struct udp_timeout_op {
  spindle::net::udp_socket receiver =
      spindle::net::udp_socket::bind(spindle::net::endpoint::parse("127.0.0.1:0"));
  spindle::net::udp_socket sender =
      spindle::net::udp_socket::bind(spindle::net::endpoint::parse("127.0.0.1:0"));
  template <class A>
  bool wait(const A& a) {
    receiver.set_timeout(a);
    std::byte buf[8];
    try {
      return receiver.recv_from(buf).size == 1;
    } catch (const std::system_error& e) {
      if (e.code() == std::errc::timed_out) return false;
      throw;
    }
  }
  void release() { sender.send_to("x", receiver.local_endpoint()); }
};

// The call must end at once with its timeout result.
template <class Op, class A>
void expect_times_out_at_once(spindle::runtime& rt, where w, Op& op, const A& a) {
  SCOPED_TRACE(describe(a));
  call_in_background call(rt, w, [&op, a] { return op.wait(a); });
  if (!call.returned_within(hang_bound)) {
    ADD_FAILURE() << "a timed wait with a past deadline did not return";
    op.release();
  }
  EXPECT_FALSE(call.result());
}

// The call must still be waiting after a moment, and succeed on the event.
template <class Op, class A>
void expect_waits_for_the_event(spindle::runtime& rt, where w, Op& op, const A& a) {
  SCOPED_TRACE(describe(a));
  call_in_background call(rt, w, [&op, a] { return op.wait(a); });
  EXPECT_FALSE(call.returned_within(moment)) << "a timed wait with a huge timeout returned early";
  op.release();
  ASSERT_TRUE(call.returned_within(hang_bound)) << "the event did not end the wait";
  EXPECT_TRUE(call.result());
}

template <class Op, class A>
void expect_nan_rejected(spindle::runtime& rt, where w, Op& op, const A& a) {
  SCOPED_TRACE(describe(a));
  call_in_background call(rt, w, [&op, a] { return op.wait(a); });
  if (!call.returned_within(hang_bound)) {
    ADD_FAILURE() << "a timed wait with a NaN did not return";
    op.release();
  }
  EXPECT_THROW(call.result(), std::invalid_argument);
}

// Every sweep, in a fiber and on a plain thread, over `args` (a tuple of
// past, huge and NaN arguments) with a fresh Op per call, made by make_op.
template <class MakeOp, class Past, class Huge, class Nan>
void sweep(MakeOp make_op, const Past& past, const Huge& huge, const Nan& nans) {
  spindle::runtime rt(spindle::test::two_workers());
  for (where w : {where::fiber, where::thread}) {
    SCOPED_TRACE(w == where::fiber ? "in a fiber" : "on a plain thread");
    for_each_arg(past, [&](const auto& a) {
      auto op = make_op();
      expect_times_out_at_once(rt, w, *op, a);
    });
    for_each_arg(huge, [&](const auto& a) {
      auto op = make_op();
      expect_waits_for_the_event(rt, w, *op, a);
    });
    for_each_arg(nans, [&](const auto& a) {
      auto op = make_op();
      expect_nan_rejected(rt, w, *op, a);
    });
  }
}

template <class Op, class... Args>
auto maker(Args... args) {
  return [=] { return std::make_unique<Op>(args...); };
}

void sweep_all_args(auto make_op) {
  sweep(make_op, past_args(), huge_args(), nan_args());
}
void sweep_durations(auto make_op) {
  sweep(make_op, durations_of(past_args()), durations_of(huge_args()), durations_of(nan_args()));
}

}  // namespace

TEST(TimedWaitExtremes, MutexTryLock) {
  sweep_all_args(maker<mutex_op>());
}

TEST(TimedWaitExtremes, SharedMutexTryLock) {
  sweep_all_args(maker<shared_mutex_op>(false));
}

TEST(TimedWaitExtremes, SharedMutexTryLockShared) {
  sweep_all_args(maker<shared_mutex_op>(true));
}

TEST(TimedWaitExtremes, ConditionVariableWait) {
  sweep_all_args(maker<condition_variable_op>(false));
}

TEST(TimedWaitExtremes, ConditionVariableWaitWithPredicate) {
  sweep_all_args(maker<condition_variable_op>(true));
}

TEST(TimedWaitExtremes, SemaphoreTryAcquire) {
  sweep_all_args(maker<semaphore_op>());
}

TEST(TimedWaitExtremes, LatchWait) {
  sweep_all_args(maker<latch_op>());
}

TEST(TimedWaitExtremes, WaitGroupWait) {
  sweep_all_args(maker<wait_group_op>());
}

TEST(TimedWaitExtremes, ChannelSend) {
  sweep_all_args(maker<channel_send_op>());
}

TEST(TimedWaitExtremes, ChannelRecv) {
  sweep_all_args(maker<channel_recv_op>());
}

TEST(TimedWaitExtremes, SelectOnTimeout) {
  sweep_durations(maker<select_timeout_op>());
}

TEST(TimedWaitExtremes, SignalSetWait) {
  sweep_all_args(maker<signal_set_op>());
}

TEST(TimedWaitExtremes, FutureWait) {
  sweep_all_args(maker<future_op>());
}

TEST(TimedWaitExtremes, IoWaitReadable) {
  sweep_durations(maker<io_wait_op>());
}

TEST(TimedWaitExtremes, TcpStreamTimeout) {
  sweep_durations(maker<tcp_timeout_op>());
}

TEST(TimedWaitExtremes, UdpSocketTimeout) {
  sweep_durations(maker<udp_timeout_op>());
}

// Sleeping has no event: a huge sleep is still asleep after a moment and
// ends only when ~runtime() unwinds the fiber; a past one returns at once.
TEST(TimedWaitExtremes, SleepForAndSleepUntil) {
  auto sleep = [](const auto& a) {
    if constexpr (is_duration<std::decay_t<decltype(a)>>) {
      spindle::this_fiber::sleep_for(a);
    } else {
      spindle::this_fiber::sleep_until(a);
    }
  };
  spindle::runtime rt(spindle::test::two_workers());
  for_each_arg(past_args(), [&](const auto& a) {
    SCOPED_TRACE(describe(a));
    call_in_background call(rt, where::fiber, [&sleep, a] {
      sleep(a);
      return true;
    });
    ASSERT_TRUE(call.returned_within(hang_bound)) << "a sleep into the past did not return";
    EXPECT_TRUE(call.result());
  });
  for_each_arg(nan_args(), [&](const auto& a) {
    SCOPED_TRACE(describe(a));
    call_in_background call(rt, where::fiber, [&sleep, a] {
      sleep(a);
      return true;
    });
    ASSERT_TRUE(call.returned_within(hang_bound));
    EXPECT_THROW(call.result(), std::invalid_argument);
  });
  for_each_arg(huge_args(), [&](const auto& a) {
    SCOPED_TRACE(describe(a));
    std::atomic<bool> woke{false}, unwound{false};
    {
      spindle::runtime sleeper_rt(spindle::options{.workers = 1});
      std::promise<void> asleep;
      sleeper_rt
          .spawn([&, a] {
            struct on_unwind {
              std::atomic<bool>& flag;
              ~on_unwind() { flag = true; }
            } guard{unwound};
            asleep.set_value();
            sleep(a);
            woke = true;
          })
          .detach();
      asleep.get_future().wait();
      std::this_thread::sleep_for(moment);
      EXPECT_FALSE(woke.load()) << "a huge sleep returned early";
    }  // ~runtime() unwinds the sleeping fiber
    EXPECT_FALSE(woke.load());
    EXPECT_TRUE(unwound.load());
  });
}

// NaN is rejected whether or not the call would have had to wait: the fast
// paths that try first check it too.
TEST(TimedWaitExtremes, NanRejectedEvenWhenNoWaitIsNeeded) {
  spindle::semaphore s(1);
  EXPECT_THROW(s.try_acquire_for(fsec(not_a_number)), std::invalid_argument);
  EXPECT_THROW(s.try_acquire_until(time_point<system_clock, fsec>(fsec(not_a_number))),
               std::invalid_argument);
  EXPECT_TRUE(s.try_acquire());  // the permit is still there
  spindle::shared_mutex m;
  EXPECT_THROW(m.try_lock_shared_for(fsec(not_a_number)), std::invalid_argument);
  EXPECT_THROW(m.try_lock_shared_until(time_point<steady_clock, fsec>(fsec(not_a_number))),
               std::invalid_argument);
  EXPECT_TRUE(m.try_lock());  // nobody holds it
  m.unlock();
  spindle::mutex mu;
  EXPECT_THROW(mu.try_lock_for(fsec(not_a_number)), std::invalid_argument);
  EXPECT_TRUE(mu.try_lock());
  mu.unlock();
  spindle::channel<int> ch(1);
  EXPECT_THROW(ch.send_for(1, fsec(not_a_number)), std::invalid_argument);
  EXPECT_FALSE(ch.try_recv());
  spindle::latch l(0);
  EXPECT_THROW(l.wait_for(fsec(not_a_number)), std::invalid_argument);
  spindle::wait_group wg;
  EXPECT_THROW(wg.wait_until(time_point<system_clock, fsec>(fsec(not_a_number))),
               std::invalid_argument);
}

// The IO calls that only store a timeout reject NaN when it is set.
TEST(TimedWaitExtremes, SetTimeoutAndConnectRejectNan) {
  auto lst = spindle::net::tcp_listener::bind(spindle::net::endpoint::parse("127.0.0.1:0"));
  EXPECT_THROW(spindle::net::tcp_stream::connect(lst.local_endpoint(), fsec(not_a_number)),
               std::invalid_argument);
  auto s = spindle::net::tcp_stream::connect(lst.local_endpoint(), hours::max());
  EXPECT_THROW(s.set_timeout(fsec(not_a_number)), std::invalid_argument);
  auto u = spindle::net::udp_socket::bind(spindle::net::endpoint::parse("127.0.0.1:0"));
  EXPECT_THROW(u.set_timeout(fsec(not_a_number)), std::invalid_argument);
}
