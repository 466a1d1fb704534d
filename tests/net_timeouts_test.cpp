// tcp_stream's read and write timeouts are separate: set_read_timeout bounds
// read_some/read_exact only, set_write_timeout write_some/write_all only, and
// set_timeout sets both. A server cuts a client that sends nothing without
// cutting a long reply to a client that reads slowly, and the other way round.
// Each case runs in fibers of a runtime (reactor waits) and on plain threads
// (poll(2) waits). Loopback only.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <latch>
#include <spindle/net.hpp>
#include <spindle/runtime.hpp>
#include <spindle/task.hpp>
#include <spindle/this_fiber.hpp>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "net_support.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using spindle::net::tcp_listener;
using spindle::net::tcp_stream;
using spindle::test::error_code_of;
using spindle::test::pattern_message;

namespace {

// The idle side's timeout, and how long the busy side keeps its peer waiting:
// long enough past the timeout that the timeout would fire if it applied.
constexpr auto short_timeout = 50ms;
constexpr auto peer_delay = 300ms;

// Far more than the two (shrunk) socket buffers hold, so writing it waits
// for the peer to read.
constexpr std::size_t big = 2 << 20;

void pause(std::chrono::milliseconds d) {
  if (spindle::in_fiber()) {
    spindle::this_fiber::sleep_for(d);
  } else {
    std::this_thread::sleep_for(d);
  }
}

// A connected pair over 127.0.0.1 whose kernel buffers are small.
std::pair<tcp_stream, tcp_stream> small_buffered_pair() {
  auto lst = tcp_listener::bind(spindle::test::loopback_any_port());
  auto c = tcp_stream::connect(lst.local_endpoint());
  auto s = lst.accept();
  const int size = 16 * 1024;
  for (const tcp_stream* t : {&c, &s}) {
    EXPECT_EQ(::setsockopt(t->native_handle(), SOL_SOCKET, SO_SNDBUF, &size, sizeof size), 0);
    EXPECT_EQ(::setsockopt(t->native_handle(), SOL_SOCKET, SO_RCVBUF, &size, sizeof size), 0);
  }
  return {std::move(c), std::move(s)};
}

// f running concurrently: in a fiber when started from one, else on a thread.
class concurrently {
 public:
  template <class F>
  explicit concurrently(F f) {
    if (spindle::in_fiber()) {
      fiber_ = spindle::spawn(std::move(f));
    } else {
      thread_ = std::thread(std::move(f));
    }
  }
  void join() {
    if (thread_.joinable()) {
      thread_.join();
    } else {
      fiber_.join();
    }
  }

 private:
  spindle::task<void> fiber_;
  std::thread thread_;
};

// `c` has only a read timeout and writes `big` bytes to `s`, which starts
// reading long after that timeout: the write completes. Then c's idle read
// times out all the same.
void read_timeout_spares_a_slow_write() {
  auto pair = small_buffered_pair();
  tcp_stream& c = pair.first;
  tcp_stream& s = pair.second;
  c.set_read_timeout(short_timeout);
  const std::vector<std::byte> data = pattern_message(1, 2, big);
  concurrently reader([&s, &data] {
    pause(peer_delay);
    std::vector<std::byte> got(big);
    EXPECT_EQ(error_code_of([&] { s.read_exact(got); }), std::error_code());
    EXPECT_TRUE(got == data);
  });
  EXPECT_EQ(error_code_of([&] { c.write_all(data); }), std::error_code());
  c.shutdown_write();  // should the write have stopped short, the reader sees the end
  reader.join();
  std::array<std::byte, 4> buf{};
  EXPECT_EQ(error_code_of([&] { c.read_some(buf); }), std::errc::timed_out);
  EXPECT_EQ(error_code_of([&] { c.read_exact(buf); }), std::errc::timed_out);
}

// `s` has only a write timeout and waits for data that `c` sends long after
// that timeout: the read completes. Then s's write to a peer that does not
// read times out all the same.
void write_timeout_spares_an_idle_read() {
  auto pair = small_buffered_pair();
  tcp_stream& c = pair.first;
  tcp_stream& s = pair.second;
  s.set_write_timeout(short_timeout);
  concurrently sender([&c] {
    pause(peer_delay);
    EXPECT_EQ(error_code_of([&] { c.write_all("late"); }), std::error_code());
  });
  std::array<std::byte, 4> buf{};
  EXPECT_EQ(error_code_of([&] { s.read_exact(buf); }), std::error_code());
  EXPECT_EQ(std::string_view(reinterpret_cast<const char*>(buf.data()), buf.size()), "late");
  sender.join();
  const std::vector<std::byte> data(big);
  EXPECT_EQ(error_code_of([&] { s.write_all(data); }), std::errc::timed_out);
  EXPECT_EQ(error_code_of([&] { s.write_some(data); }), std::errc::timed_out);
}

// set_timeout is both: the same slow write is cut. clear_timeout clears both.
void set_timeout_bounds_reads_and_writes() {
  auto pair = small_buffered_pair();
  tcp_stream& c = pair.first;
  tcp_stream& s = pair.second;
  c.set_timeout(short_timeout);
  const std::vector<std::byte> data(big);
  EXPECT_EQ(error_code_of([&] { c.write_all(data); }), std::errc::timed_out);
  std::array<std::byte, 4> buf{};
  EXPECT_EQ(error_code_of([&] { c.read_some(buf); }), std::errc::timed_out);
  c.clear_timeout();
  concurrently sender([&s] {
    pause(peer_delay);
    EXPECT_EQ(error_code_of([&] { s.write_all("late"); }), std::error_code());
  });
  EXPECT_EQ(error_code_of([&] { c.read_exact(buf); }), std::error_code());
  sender.join();
}

template <class F>
void in_a_fiber(F f) {
  spindle::runtime rt(spindle::options{.workers = 2});
  rt.block_on(f);
}

TEST(TcpTimeouts, ReadTimeoutSparesASlowWriteInFibers) {
  in_a_fiber(read_timeout_spares_a_slow_write);
}

TEST(TcpTimeouts, ReadTimeoutSparesASlowWriteOnThreads) {
  read_timeout_spares_a_slow_write();
}

TEST(TcpTimeouts, WriteTimeoutSparesAnIdleReadInFibers) {
  in_a_fiber(write_timeout_spares_an_idle_read);
}

TEST(TcpTimeouts, WriteTimeoutSparesAnIdleReadOnThreads) {
  write_timeout_spares_an_idle_read();
}

TEST(TcpTimeouts, SetTimeoutBoundsReadsAndWritesInFibers) {
  in_a_fiber(set_timeout_bounds_reads_and_writes);
}

TEST(TcpTimeouts, SetTimeoutBoundsReadsAndWritesOnThreads) {
  set_timeout_bounds_reads_and_writes();
}

}  // namespace

// --- DNS with a deadline --------------------------------------------------------

namespace {

// A runtime whose one blocking-pool thread is held by a call until release():
// a lookup queued behind it cannot start, so its timeout is certain to pass.
struct busy_pool {
  spindle::runtime rt{[] {
    spindle::options o = spindle::test::two_workers();
    o.blocking_threads = 1;
    return o;
  }()};
  std::latch started{1};
  std::latch release_call{1};
  spindle::task<void> holder = rt.spawn([this] {
    spindle::run_blocking([this] {
      started.count_down();
      release_call.wait();
    });
  });
  busy_pool() { started.wait(); }
  void release() {
    release_call.count_down();
    holder.join();
  }
};

}  // namespace

TEST(DnsTimeouts, ResolveWithATimeoutAnswersAsWithout) {
  spindle::runtime rt(spindle::test::two_workers());
  rt.block_on([] {
    const auto plain = spindle::net::resolve("localhost", 80);
    const auto timed = spindle::net::resolve("localhost", 80, 30s);
    ASSERT_FALSE(plain.empty());
    ASSERT_EQ(timed.size(), plain.size());
    for (std::size_t i = 0; i < plain.size(); ++i)
      EXPECT_EQ(timed[i].to_string(), plain[i].to_string());
    // A numeric address needs no lookup: no timeout applies, not even zero.
    const auto numeric = spindle::net::resolve("127.0.0.1", 7, 0s);
    ASSERT_EQ(numeric.size(), 1u);
    EXPECT_EQ(numeric[0].to_string(), "127.0.0.1:7");
  });
}

// The lookup cannot start (the pool's one thread is busy): the fiber gives up
// at its deadline; the lookup runs later on its own copies (ASan checks that
// nothing touches the fiber's frame then).
TEST(DnsTimeouts, ResolveTimesOutAndTheAbandonedLookupIsHarmless) {
  busy_pool pool;
  const std::error_code ec = pool.rt.block_on(
      [] { return error_code_of([] { (void)spindle::net::resolve("localhost", 80, 50ms); }); });
  EXPECT_EQ(ec, std::errc::timed_out);
  pool.release();
  EXPECT_FALSE(pool.rt.block_on([] { return spindle::net::resolve("localhost", 80); }).empty());
}

TEST(DnsTimeouts, ConnectByNameWithinATimeout) {
  busy_pool pool;
  auto lst = tcp_listener::bind(spindle::test::loopback_any_port());
  const std::uint16_t port = lst.local_endpoint().port();
  // The lookup of "localhost" is stuck behind the busy pool: timed_out.
  const std::error_code ec = pool.rt.block_on([port] {
    return error_code_of([port] { (void)tcp_stream::connect("localhost", port, 50ms); });
  });
  EXPECT_EQ(ec, std::errc::timed_out);
  pool.release();
  // With the pool free, the same call connects (every address of localhost
  // is tried: ::1 may refuse, 127.0.0.1 listens).
  auto accepted = pool.rt.spawn([&] { return lst.accept(); });
  pool.rt.block_on([port] {
    auto s = tcp_stream::connect("localhost", port, 30s);
    s.write_all("x");
  });
  auto peer = accepted.join();
  std::array<std::byte, 1> got{};
  peer.read_exact(got);
  EXPECT_EQ(static_cast<char>(got[0]), 'x');
}
