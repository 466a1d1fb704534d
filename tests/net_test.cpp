// Network IO: endpoints, TCP and UDP sockets, timeouts, close, errors, and
// readiness waits on foreign descriptors. Loopback only.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <spindle/net.hpp>
#include <spindle/runtime.hpp>
#include <spindle/this_fiber.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "net_support.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using spindle::net::endpoint;
using spindle::net::tcp_listener;
using spindle::net::tcp_stream;
using spindle::net::udp_socket;
using spindle::test::as_string;
using spindle::test::error_code_of;
using spindle::test::expect_errc;
using spindle::test::loopback_any_port;
using steady = std::chrono::steady_clock;

namespace {

// Writes `text` to `from`, reads as many bytes from `to` and expects them to
// be `text` (from == to through an echo server).
void expect_delivered(tcp_stream& from, tcp_stream& to, std::string_view text) {
  from.write_all(text);
  std::vector<std::byte> buf(text.size());
  to.read_exact(buf);
  EXPECT_EQ(as_string(buf), text);
}

// Runs `body` with a listener on 127.0.0.1 that echoes every connection.
template <class F>
void with_echo_server(spindle::runtime& rt, F body) {
  rt.block_on([&] {
    auto lst = tcp_listener::bind(loopback_any_port());
    auto server = spindle::spawn([&lst] { spindle::test::echo_server(lst); });
    body(lst.local_endpoint());
    lst.close();
    server.join();
  });
}

// Runs body(c, s) in a fiber of rt: `c` a stream connected over 127.0.0.1,
// `s` the listener's accepted end of it. Both close when body returns, before
// the runtime goes.
template <class F>
void with_connected_pair(spindle::runtime& rt, F body) {
  rt.block_on([&] {
    auto lst = tcp_listener::bind(loopback_any_port());
    auto c = tcp_stream::connect(lst.local_endpoint());
    auto s = lst.accept();
    body(c, s);
  });
}

bool ipv6_loopback_available() {
  const int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

// --- endpoint -----------------------------------------------------------------

TEST(Endpoint, ParsesIPv4AndIPv6) {
  auto a = endpoint::parse("127.0.0.1:8080");
  EXPECT_EQ(a.port(), 8080);
  EXPECT_FALSE(a.is_v6());
  EXPECT_EQ(a.to_string(), "127.0.0.1:8080");

  auto b = endpoint::parse("[::1]:80");
  EXPECT_EQ(b.port(), 80);
  EXPECT_TRUE(b.is_v6());
  EXPECT_EQ(b.to_string(), "[::1]:80");

  EXPECT_EQ(endpoint::parse("0.0.0.0:0").port(), 0);
  EXPECT_EQ(endpoint::parse("255.255.255.255:65535").port(), 65535);
  EXPECT_EQ(endpoint::parse("[fe80::1:2]:443"), endpoint::parse("[fe80:0::1:2]:443"));
  EXPECT_EQ(endpoint::parse(a.to_string()), a);
  EXPECT_EQ(endpoint::parse(b.to_string()), b);
  EXPECT_NE(a, endpoint::parse("127.0.0.1:8081"));
  EXPECT_NE(a, endpoint::parse("127.0.0.2:8080"));
}

TEST(Endpoint, BadTextThrowsInvalidArgumentNamingIt) {
  for (std::string_view bad :
       {"", "127.0.0.1", "127.0.0.1:", ":80", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:+80",
        "127.0.0.1:8o", "1.2.3:80", "1.2.3.4.5:80", "256.1.1.1:80", "localhost:80", "::1:80",
        "[::1]80", "[::1]:", "[127.0.0.1]:80", "[::g]:80", " 127.0.0.1:80", "127.0.0.1:80 "}) {
    try {
      endpoint::parse(bad);
      ADD_FAILURE() << "accepted \"" << bad << "\"";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("\"" + std::string(bad) + "\""), std::string::npos)
          << e.what();
    }
  }
}

// inet_pton reads only up to a NUL byte: whatever follows one must not be
// silently dropped. The message shows a NUL escaped (what() is a C string).
TEST(Endpoint, RejectsTextNotEntirelyConsumed) {
  using namespace std::string_view_literals;
  for (std::string_view bad :
       {"127.0.0.1\0garbage:80"sv, "127.0.0.1\0:80"sv, "\0:80"sv, "[::1\0junk]:80"sv,
        "[::1]:80\0"sv, "127.0.0.1:8\0"sv, "127.0.0.1:80x"sv, "127.0.0.1:80:80"sv, "[::1]:80]"sv,
        "[::1]:80 "sv, "127.0.0.1x:80"sv}) {
    std::string shown(bad);
    for (auto at = shown.find('\0'); at != shown.npos; at = shown.find('\0')) {
      shown.replace(at, 1, "\\x00");
    }
    try {
      endpoint::parse(bad);
      ADD_FAILURE() << "accepted \"" << shown << "\"";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("\"" + shown + "\""), std::string::npos) << e.what();
    }
  }
}

// --- TCP ----------------------------------------------------------------------

TEST(Tcp, EchoRoundTrip) {
  spindle::runtime rt(spindle::options{.workers = 2});
  with_echo_server(rt, [](endpoint ep) {
    auto c = tcp_stream::connect(ep);
    EXPECT_EQ(c.remote_endpoint(), ep);
    EXPECT_EQ(c.local_endpoint().family(), AF_INET);
    expect_delivered(c, c, "hello, spindle");
  });
}

TEST(Tcp, ListenerReportsItsPort) {
  spindle::runtime rt(spindle::options{.workers = 1});
  rt.block_on([] {
    auto lst = tcp_listener::bind(loopback_any_port());
    EXPECT_NE(lst.local_endpoint().port(), 0);
    EXPECT_GE(lst.native_handle(), 0);
    // Non-blocking and close-on-exec, as accepted streams are.
    EXPECT_TRUE(fcntl(lst.native_handle(), F_GETFL) & O_NONBLOCK);
    EXPECT_TRUE(fcntl(lst.native_handle(), F_GETFD) & FD_CLOEXEC);
    auto c = tcp_stream::connect(lst.local_endpoint());
    auto s = lst.accept();
    EXPECT_TRUE(fcntl(s.native_handle(), F_GETFL) & O_NONBLOCK);
    EXPECT_TRUE(fcntl(s.native_handle(), F_GETFD) & FD_CLOEXEC);
    EXPECT_EQ(s.remote_endpoint(), c.local_endpoint());
  });
}

TEST(Tcp, Ipv6Loopback) {
  if (!ipv6_loopback_available()) GTEST_SKIP() << "no IPv6 loopback here";
  spindle::runtime rt(spindle::options{.workers = 2});
  rt.block_on([] {
    auto lst = tcp_listener::bind(endpoint::parse("[::1]:0"));
    EXPECT_TRUE(lst.local_endpoint().is_v6());
    auto server = spindle::spawn([&lst] { spindle::test::echo_server(lst); });
    auto c = tcp_stream::connect(lst.local_endpoint());
    expect_delivered(c, c, "six");
    lst.close();
    server.join();
  });
}

TEST(Tcp, ConnectByHostName) {
  spindle::runtime rt(spindle::options{.workers = 2});
  with_echo_server(rt, [](endpoint ep) {
    // "localhost" may resolve to ::1 first, where nothing listens: every
    // address is tried in turn.
    auto c = tcp_stream::connect("localhost", ep.port());
    expect_delivered(c, c, "by name");
    auto d = tcp_stream::connect("127.0.0.1", ep.port());  // numeric: no lookup
    EXPECT_EQ(d.remote_endpoint(), ep);
  });
}

TEST(Tcp, EndOfStreamIsNotAnError) {
  spindle::runtime rt(spindle::options{.workers = 2});
  with_connected_pair(rt, [](tcp_stream& c, tcp_stream& s) {
    c.write_all("abc");
    c.shutdown_write();
    std::array<std::byte, 8> buf{};
    std::size_t got = 0;
    for (std::size_t n; (n = s.read_some(std::span(buf).subspan(got))) != 0;) got += n;
    EXPECT_EQ(as_string(std::span(buf).first(got)), "abc");
    EXPECT_EQ(s.read_some(buf), 0u);  // and again: end of stream stays
    // The half-closed stream still carries the other direction.
    expect_delivered(s, c, "back");
  });
}

// Data and the FIN in one readiness edge: the reader that was waiting is
// woken once, its read takes the data and stops short, and the next read
// (which waits for readiness before calling recv() after a short read) must
// still see the end of stream: a hang-up stays reported. One worker, blocked
// on purpose while the peer writes and shuts down, so that no poll can see the
// data and the FIN apart. The read timeout turns the old hang into a failure.
TEST(Tcp, EndOfStreamArrivingWithTheLastDataIsSeenAfterAShortRead) {
  spindle::runtime rt(spindle::options{.workers = 1});
  with_connected_pair(rt, [](tcp_stream& c, tcp_stream& s) {
    s.set_timeout(5s);
    auto reader = spindle::spawn([&s] {
      std::array<std::byte, 64> buf{};
      std::string got;
      for (std::size_t n; (n = s.read_some(buf)) != 0;) got += as_string(std::span(buf).first(n));
      return got;
    });
    spindle::this_fiber::yield();  // the reader finds nothing and waits
    c.write_all("last words");
    c.shutdown_write();
    std::this_thread::sleep_for(50ms);  // both arrive while no worker can poll
    EXPECT_EQ(reader.join(), "last words");
  });
}

TEST(Tcp, ReadExactAtEndOfStreamThrowsConnectionAborted) {
  spindle::runtime rt(spindle::options{.workers = 2});
  with_connected_pair(rt, [](tcp_stream& c, tcp_stream& s) {
    c.write_all("12345");
    c.close();
    std::array<std::byte, 10> buf{};
    expect_errc([&] { s.read_exact(buf); }, std::errc::connection_aborted);
    EXPECT_EQ(as_string(std::span(buf).first(5)), "12345");
  });
}

TEST(Tcp, PeerResetMidReadGivesConnectionReset) {
  spindle::runtime rt(spindle::options{.workers = 2});
  with_connected_pair(rt, [](tcp_stream& c, tcp_stream& s) {
    auto reader = spindle::spawn([&s] {
      std::array<std::byte, 100> buf{};
      return error_code_of([&] { s.read_exact(buf); });  // gets 10 bytes, then waits for the rest
    });
    c.write_all("0123456789");
    spindle::this_fiber::sleep_for(50ms);  // the reader is blocked mid-read
    const linger hard{1, 0};               // close with RST instead of FIN
    ASSERT_EQ(::setsockopt(c.native_handle(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard), 0);
    c.close();
    EXPECT_EQ(reader.join(), std::errc::connection_reset);
  });
}

TEST(Tcp, ReadTimeoutNeverEndsEarly) {
  spindle::runtime rt(spindle::options{.workers = 2});
  with_echo_server(rt, [](endpoint ep) {
    auto c = tcp_stream::connect(ep);
    c.set_timeout(100ms);
    std::array<std::byte, 4> buf{};
    for (int i = 0; i < 3; ++i) {
      const auto start = steady::now();
      expect_errc([&] { c.read_some(buf); }, std::errc::timed_out);
      const auto took = steady::now() - start;
      EXPECT_GE(took, 100ms);
      EXPECT_LT(took, 5s);
    }
    // The stream is still usable after a timeout.
    expect_delivered(c, c, "ping");
    // read_exact: the timeout bounds the whole call.
    c.write_all("pi");
    const auto start = steady::now();
    expect_errc([&] { c.read_exact(buf); }, std::errc::timed_out);
    EXPECT_GE(steady::now() - start, 100ms);
    c.clear_timeout();
  });
}

TEST(Tcp, WriteTimeoutWhenThePeerDoesNotRead) {
  spindle::runtime rt(spindle::options{.workers = 2});
  with_connected_pair(rt, [](tcp_stream& c, tcp_stream& /*never reads*/) {
    c.set_timeout(50ms);
    const std::vector<std::byte> chunk(1 << 20);
    const auto start = steady::now();
    std::size_t chunks = 0;
    try {
      for (; chunks < 256; ++chunks) c.write_all(chunk);  // fills both socket buffers
      ADD_FAILURE() << "256 MiB written to a peer that never reads";
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code(), std::errc::timed_out) << e.what();
    }
    EXPECT_GE(steady::now() - start, 50ms);
  });
}

TEST(Tcp, CloseFromAnotherFiberWakesTheReader) {
  spindle::runtime rt(spindle::options{.workers = 2});
  with_connected_pair(rt, [](tcp_stream& /*the peer stays open*/, tcp_stream& s) {
    std::atomic<bool> reading{false};
    auto reader = spindle::spawn([&] {
      std::array<std::byte, 16> buf{};
      reading = true;
      return error_code_of([&] { s.read_some(buf); });
    });
    while (!reading) spindle::this_fiber::yield();
    spindle::this_fiber::sleep_for(30ms);  // the reader is parked on the socket
    const auto start = steady::now();
    s.close();
    EXPECT_EQ(reader.join(), std::errc::operation_canceled);
    EXPECT_LT(steady::now() - start, 2s);
    EXPECT_FALSE(s.is_open());
    std::array<std::byte, 1> buf{};
    expect_errc([&] { s.read_some(buf); }, std::errc::operation_canceled);
    expect_errc([&] { s.write_all("x"); }, std::errc::operation_canceled);
  });
}

TEST(Tcp, CloseFromAnotherFiberWakesAccept) {
  spindle::runtime rt(spindle::options{.workers = 2});
  rt.block_on([] {
    auto lst = tcp_listener::bind(loopback_any_port());
    auto acceptor = spindle::spawn([&lst] { return error_code_of([&lst] { lst.accept(); }); });
    spindle::this_fiber::sleep_for(30ms);
    lst.close();
    EXPECT_EQ(acceptor.join(), std::errc::operation_canceled);
  });
}

// Every call on a closed socket throws operation_canceled, whether it began
// before the close (and was woken) or after it: an accept loop stops the same
// way however close() and accept() interleave (before, a call made after the
// close saw EBADF). A socket that never was open says bad_file_descriptor.
TEST(Tcp, EveryCallAfterCloseThrowsOperationCanceled) {
  auto check_closed = [](tcp_listener& lst, tcp_stream& c, udp_socket& u) {
    std::array<std::byte, 4> buf{};
    expect_errc([&] { lst.accept(); }, std::errc::operation_canceled);
    expect_errc([&] { lst.local_endpoint(); }, std::errc::operation_canceled);
    expect_errc([&] { c.read_some(buf); }, std::errc::operation_canceled);
    expect_errc([&] { c.read_exact(buf); }, std::errc::operation_canceled);
    expect_errc([&] { c.write_some(std::span<const std::byte>(buf)); },
                std::errc::operation_canceled);
    expect_errc([&] { c.write_all("x"); }, std::errc::operation_canceled);
    expect_errc([&] { c.set_no_delay(true); }, std::errc::operation_canceled);
    expect_errc([&] { c.shutdown_write(); }, std::errc::operation_canceled);
    expect_errc([&] { c.remote_endpoint(); }, std::errc::operation_canceled);
    expect_errc([&] { u.recv_from(buf); }, std::errc::operation_canceled);
    expect_errc([&] { u.send_to("x", endpoint::parse("127.0.0.1:9")); },
                std::errc::operation_canceled);
    EXPECT_FALSE(lst.is_open());
    EXPECT_EQ(c.native_handle(), -1);
  };
  auto open_and_close = [&](bool waited_before) {
    auto lst = tcp_listener::bind(loopback_any_port());
    auto c = tcp_stream::connect(lst.local_endpoint());
    auto s = lst.accept();
    auto u = udp_socket::bind(loopback_any_port());
    if (waited_before) {  // attaches each socket to the reactor (in a fiber)
      std::array<std::byte, 1> b{};
      c.set_timeout(1ms);
      u.set_timeout(1ms);
      expect_errc([&] { c.read_some(b); }, std::errc::timed_out);
      expect_errc([&] { u.recv_from(b); }, std::errc::timed_out);
    }
    lst.close();
    c.close();
    u.close();
    check_closed(lst, c, u);
    lst.close();  // idempotent
    check_closed(lst, c, u);
  };
  spindle::runtime rt(spindle::options{.workers = 2});
  rt.block_on([&] {
    open_and_close(false);
    open_and_close(true);
  });
  open_and_close(false);  // a plain thread
}

// The accept loop of the samples: the acceptor has not reached accept() yet
// when the listener is closed, or is already blocked in it.
TEST(Tcp, AcceptLoopStopsWithOperationCanceledWhenClosedBeforeOrDuringAccept) {
  spindle::runtime rt(spindle::options{.workers = 2});
  rt.block_on([] {
    for (const bool blocked : {false, true}) {
      auto lst = tcp_listener::bind(loopback_any_port());
      std::atomic<bool> go{false};
      auto acceptor = spindle::spawn([&] {
        while (!go) spindle::this_fiber::yield();
        return error_code_of([&] {
          for (;;) lst.accept();
        });
      });
      if (blocked) {
        go = true;
        spindle::this_fiber::sleep_for(30ms);  // parked in accept
        lst.close();
      } else {
        lst.close();
        go = true;
      }
      EXPECT_EQ(acceptor.join(), std::errc::operation_canceled) << "blocked: " << blocked;
    }
  });
}

// A plain thread waits in poll(2), which close() on another thread cannot
// interrupt by itself (the descriptor stays open while the call is in
// progress): the wait must notice the close. Before, the waits slept on (on
// a number that was closed under them). In a child process, so that a wait
// that misses the close fails the test (killed after 30 s) instead of hanging.
TEST(Tcp, CloseWakesPlainThreadsBlockedInReadAndAccept) {
  ASSERT_TRUE(spindle::test::single_threaded()) << "fork needs a single-threaded process";
  const pid_t pid = spindle::test::fork_child([] {
    auto lst = tcp_listener::bind(loopback_any_port());
    auto c = tcp_stream::connect(lst.local_endpoint());
    auto s = lst.accept();
    std::atomic<int> started{0};
    std::error_code read_error;
    std::error_code accept_error;
    std::thread reader([&] {
      std::array<std::byte, 16> buf{};
      ++started;
      read_error = error_code_of([&] { s.read_some(buf); });
    });
    std::thread acceptor([&] {
      ++started;
      accept_error = error_code_of([&] { lst.accept(); });
    });
    while (started < 2) std::this_thread::yield();
    std::this_thread::sleep_for(30ms);  // both are in poll(2) now
    s.close();
    lst.close();
    reader.join();
    acceptor.join();
    return read_error == std::errc::operation_canceled &&
                   accept_error == std::errc::operation_canceled
               ? 0
               : 1;
  });
  ASSERT_GT(pid, 0);
  EXPECT_EQ(spindle::test::wait_child(pid, 30s), 0);
}

TEST(Tcp, CloseFromAPlainThreadWakesTheReader) {
  spindle::runtime rt(spindle::options{.workers = 2});
  std::optional<tcp_stream> s;
  std::optional<tcp_stream> c;
  std::optional<tcp_listener> lst;
  rt.block_on([&] {
    lst = tcp_listener::bind(loopback_any_port());
    c = tcp_stream::connect(lst->local_endpoint());
    s = lst->accept();
  });
  auto reader = rt.spawn([&] {
    std::array<std::byte, 16> buf{};
    s->read_some(buf);
  });
  std::this_thread::sleep_for(30ms);
  s->close();
  EXPECT_THROW(reader.join(), std::system_error);
  rt.block_on([&] {  // closed before the runtime goes
    c.reset();
    lst.reset();
  });
}

TEST(Tcp, ConnectionRefused) {
  spindle::runtime rt(spindle::options{.workers = 2});
  rt.block_on([] {
    endpoint ep;
    {
      auto lst = tcp_listener::bind(loopback_any_port());
      ep = lst.local_endpoint();
    }  // nothing listens there any more
    expect_errc([&] { tcp_stream::connect(ep); }, std::errc::connection_refused);
    expect_errc([&] { tcp_stream::connect("127.0.0.1", ep.port()); },
                std::errc::connection_refused);
  });
}

TEST(Tcp, BindToABusyPortFails) {
  spindle::runtime rt(spindle::options{.workers = 1});
  rt.block_on([] {
    auto a = tcp_listener::bind(loopback_any_port());
    expect_errc([&] { tcp_listener::bind(a.local_endpoint()); }, std::errc::address_in_use);
  });
}

TEST(Tcp, WriteToAResetPeerThrowsWithoutSigpipe) {
  spindle::runtime rt(spindle::options{.workers = 2});
  with_connected_pair(rt, [](tcp_stream& c, tcp_stream& s) {
    s.close();
    const std::vector<std::byte> chunk(64 * 1024);
    try {
      for (int i = 0; i < 1000; ++i) {  // the first write may still succeed
        c.write_all(chunk);
        spindle::this_fiber::sleep_for(1ms);
      }
      ADD_FAILURE() << "writes to a closed peer kept succeeding";
    } catch (const std::system_error& e) {
      EXPECT_TRUE(e.code() == std::errc::broken_pipe || e.code() == std::errc::connection_reset)
          << e.what();
    }
  });
}

TEST(Tcp, EmptyStreamThrowsBadFileDescriptor) {
  tcp_stream s;
  EXPECT_FALSE(s.is_open());
  EXPECT_EQ(s.native_handle(), -1);
  std::array<std::byte, 1> buf{};
  expect_errc([&] { s.read_some(buf); }, std::errc::bad_file_descriptor);
  expect_errc([&] { s.write_all("x"); }, std::errc::bad_file_descriptor);
  s.close();  // idempotent
  tcp_listener l;
  expect_errc([&] { l.accept(); }, std::errc::bad_file_descriptor);
}

TEST(Tcp, MoveTransfersOwnership) {
  spindle::runtime rt(spindle::options{.workers = 2});
  with_echo_server(rt, [](endpoint ep) {
    auto a = tcp_stream::connect(ep);
    const int fd = a.native_handle();
    tcp_stream b = std::move(a);
    EXPECT_FALSE(a.is_open());  // NOLINT(bugprone-use-after-move): moved-from is empty
    EXPECT_EQ(b.native_handle(), fd);
    b.write_all("mv");
    std::array<std::byte, 2> buf{};
    b.read_exact(buf);
    tcp_stream c = tcp_stream::connect(ep);
    c = std::move(b);  // closes c's old socket
    EXPECT_EQ(c.native_handle(), fd);
  });
}

TEST(Tcp, WorksOnPlainThreadsWithoutARuntime) {
  auto lst = tcp_listener::bind(loopback_any_port());
  std::thread server([&lst] {
    auto s = lst.accept();
    std::array<std::byte, 5> buf{};
    s.read_exact(buf);
    s.write_all(std::span<const std::byte>(buf));
    EXPECT_EQ(s.read_some(buf), 0u);  // until the client closes
  });
  auto c = tcp_stream::connect(lst.local_endpoint());
  expect_delivered(c, c, "plain");
  std::array<std::byte, 5> buf{};
  c.set_timeout(20ms);
  const auto start = steady::now();
  expect_errc([&] { c.read_some(buf); }, std::errc::timed_out);
  EXPECT_GE(steady::now() - start, 20ms);
  c.close();
  server.join();
}

// A socket attached to a runtime's reactor (it waited once) shares ownership
// of that reactor: it may outlive the runtime, still works from a plain
// thread, and closes cleanly; a fiber of another runtime that would wait on it
// gets a clear error instead of a hang.
TEST(Tcp, SocketOutlivesItsRuntime) {
  auto lst = tcp_listener::bind(loopback_any_port());
  std::optional<tcp_stream> client;
  tcp_stream server_side;
  {
    spindle::runtime rt(spindle::options{.workers = 2});
    rt.block_on([&] {
      client = tcp_stream::connect(lst.local_endpoint());
      server_side = lst.accept();
      client->set_timeout(5ms);
      std::array<std::byte, 1> b{};
      expect_errc([&] { client->read_some(b); }, std::errc::timed_out);  // attaches
    });
  }
  client->clear_timeout();
  server_side.write_all("late");
  std::array<std::byte, 4> buf{};
  client->read_exact(buf);  // a plain thread: poll(2)
  EXPECT_EQ(as_string(buf), "late");
  spindle::runtime other(spindle::options{.workers = 1});
  other.block_on([&] {
    std::array<std::byte, 1> b{};
    EXPECT_THROW(client->read_some(b), std::logic_error);
  });
  client->close();
  server_side.close();
}

TEST(Tcp, SixteenMiBToASlowReader) {
  spindle::runtime rt(spindle::options{.workers = 2});
  with_connected_pair(rt, [](tcp_stream& c, tcp_stream& s) {
    constexpr std::size_t total = 16u << 20;
    auto writer = spindle::spawn([&c] {
      std::vector<std::byte> data(total);
      for (std::size_t i = 0; i < total; ++i) data[i] = spindle::test::pattern(1, i >> 16, i);
      c.write_all(data);  // one call: many partial writes and waits
      c.shutdown_write();
    });
    std::vector<std::byte> buf(std::size_t{64} << 10);
    std::size_t got = 0;
    std::size_t bad = 0;
    int reads = 0;
    for (std::size_t n; (n = s.read_some(buf)) != 0; got += n) {
      for (std::size_t i = 0; i < n; ++i) {
        const std::size_t at = got + i;
        bad += buf[i] != spindle::test::pattern(1, at >> 16, at);
      }
      if (++reads % 8 == 0) spindle::this_fiber::sleep_for(1ms);  // slow
    }
    writer.join();
    EXPECT_EQ(got, total);
    EXPECT_EQ(bad, 0u);
  });
}

// --- UDP ----------------------------------------------------------------------

TEST(Udp, RoundTrip) {
  spindle::runtime rt(spindle::options{.workers = 2});
  rt.block_on([] {
    auto a = udp_socket::bind(loopback_any_port());
    auto b = udp_socket::bind(loopback_any_port());
    auto echo = spindle::spawn([&b] {
      std::array<std::byte, 64> buf{};
      auto [n, from] = b.recv_from(buf);
      b.send_to(std::span<const std::byte>(buf.data(), n), from);
    });
    EXPECT_EQ(a.send_to("datagram", b.local_endpoint()), 8u);
    std::array<std::byte, 64> buf{};
    auto [n, from] = a.recv_from(buf);
    EXPECT_EQ(as_string(std::span(buf).first(n)), "datagram");
    EXPECT_EQ(from, b.local_endpoint());
    echo.join();

    a.set_timeout(30ms);
    const auto start = steady::now();
    expect_errc([&] { a.recv_from(buf); }, std::errc::timed_out);
    EXPECT_GE(steady::now() - start, 30ms);
  });
}

TEST(Udp, Ipv6RoundTrip) {
  if (!ipv6_loopback_available()) GTEST_SKIP() << "no IPv6 loopback here";
  spindle::runtime rt(spindle::options{.workers = 1});
  rt.block_on([] {
    auto a = udp_socket::bind(endpoint::parse("[::1]:0"));
    auto b = udp_socket::bind(endpoint::parse("[::1]:0"));
    a.send_to("v6", b.local_endpoint());
    std::array<std::byte, 8> buf{};
    auto r = b.recv_from(buf);
    EXPECT_EQ(r.size, 2u);
    EXPECT_EQ(r.from, a.local_endpoint());
  });
}

// --- io::wait_* ---------------------------------------------------------------

namespace {

struct nonblocking_pipe {
  int fds[2] = {-1, -1};
  nonblocking_pipe() {
    if (::pipe(fds) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
    for (int fd : fds) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  }
  ~nonblocking_pipe() {
    ::close(fds[0]);
    ::close(fds[1]);
  }
};

}  // namespace

TEST(Io, WaitReadableOnAPipe) {
  spindle::runtime rt(spindle::options{.workers = 2});
  rt.block_on([] {
    nonblocking_pipe p;
    auto start = steady::now();
    EXPECT_FALSE(spindle::io::wait_readable(p.fds[0], 50ms));
    EXPECT_GE(steady::now() - start, 50ms);
    EXPECT_TRUE(spindle::io::wait_writable(p.fds[1], 1s));

    auto writer = spindle::spawn([&p] {
      spindle::this_fiber::sleep_for(20ms);
      EXPECT_EQ(::write(p.fds[1], "x", 1), 1);
    });
    start = steady::now();
    EXPECT_TRUE(spindle::io::wait_readable(p.fds[0], 5s));
    EXPECT_LT(steady::now() - start, 4s);
    char c = 0;
    EXPECT_EQ(::read(p.fds[0], &c, 1), 1);
    EXPECT_EQ(c, 'x');
    writer.join();

    // Twice on the same descriptor: registered for each wait, not leaked.
    EXPECT_FALSE(spindle::io::wait_readable(p.fds[0], 1ms));
    EXPECT_FALSE(spindle::io::wait_readable(p.fds[0], 1ms));
  });
}

TEST(Io, WaitReadableOnAPlainThread) {
  nonblocking_pipe p;
  const auto start = steady::now();
  EXPECT_FALSE(spindle::io::wait_readable(p.fds[0], 30ms));
  EXPECT_GE(steady::now() - start, 30ms);
  EXPECT_EQ(::write(p.fds[1], "y", 1), 1);
  EXPECT_TRUE(spindle::io::wait_readable(p.fds[0], 1s));
  spindle::io::wait_writable(p.fds[1]);
}

TEST(Io, ManyFibersWaitOnDifferentPipes) {
  spindle::runtime rt(spindle::options{.workers = 2});
  rt.block_on([] {
    constexpr int n = 50;
    std::vector<std::unique_ptr<nonblocking_pipe>> pipes;
    std::vector<spindle::task<char>> readers;
    for (int i = 0; i < n; ++i) {
      pipes.push_back(std::make_unique<nonblocking_pipe>());
      readers.push_back(spindle::spawn([fd = pipes.back()->fds[0]] {
        char c = 0;
        while (::read(fd, &c, 1) != 1) spindle::io::wait_readable(fd);
        return c;
      }));
    }
    spindle::this_fiber::sleep_for(10ms);
    for (int i = n - 1; i >= 0; --i) {
      const char c = static_cast<char>('a' + i % 26);
      EXPECT_EQ(::write(pipes[static_cast<std::size_t>(i)]->fds[1], &c, 1), 1);
    }
    for (int i = 0; i < n; ++i) {
      EXPECT_EQ(readers[static_cast<std::size_t>(i)].join(), static_cast<char>('a' + i % 26));
    }
  });
}

// Two fibers wait on one foreign descriptor: the one that leaves first (its
// timeout) must not take the registration from under the other, which is
// woken by the data and neither cancelled nor timed out. Before, the second
// got operation_canceled when the first left.
TEST(Io, TwoFibersWaitOnOneDescriptor) {
  spindle::runtime rt(spindle::options{.workers = 2});
  rt.block_on([] {
    nonblocking_pipe p;
    // The hasty one registers the descriptor; the patient one shares it.
    auto hasty = spindle::spawn([&] { return spindle::io::wait_readable(p.fds[0], 50ms); });
    spindle::this_fiber::sleep_for(10ms);
    std::atomic<int> waiting{0};
    auto patient = spindle::spawn([&] {
      ++waiting;
      return spindle::io::wait_readable(p.fds[0], 30s);
    });
    while (waiting < 1) spindle::this_fiber::yield();
    EXPECT_FALSE(hasty.join());  // timed out and left
    spindle::this_fiber::sleep_for(20ms);
    EXPECT_EQ(::write(p.fds[1], "x", 1), 1);
    EXPECT_TRUE(patient.join());

    // Both waiting when the data comes: both are woken.
    char c = 0;
    EXPECT_EQ(::read(p.fds[0], &c, 1), 1);
    waiting = 0;
    std::vector<spindle::task<bool>> both;
    for (int i = 0; i < 2; ++i) {
      both.push_back(spindle::spawn([&] {
        ++waiting;
        return spindle::io::wait_readable(p.fds[0], 30s);
      }));
    }
    while (waiting < 2) spindle::this_fiber::yield();
    spindle::this_fiber::sleep_for(10ms);
    EXPECT_EQ(::write(p.fds[1], "y", 1), 1);
    for (auto& t : both) EXPECT_TRUE(t.join());
  });
}

// Two first waits on one descriptor at once, on two workers: one registers
// it, the other shares the registration (before, the second EPOLL_CTL_ADD
// could fail with "File exists"). Every wait sees the byte written first.
TEST(Io, ConcurrentFirstWaitsOnOneDescriptorShareTheRegistration) {
  spindle::runtime rt(spindle::options{.workers = 2});
  rt.block_on([] {
    constexpr int rounds = 300;
    constexpr int waiters = 4;
    int ready = 0;
    for (int r = 0; r < rounds; ++r) {
      nonblocking_pipe p;
      EXPECT_EQ(::write(p.fds[1], "z", 1), 1);
      std::atomic<int> arrived{0};
      std::vector<spindle::task<bool>> ts;
      for (int i = 0; i < waiters; ++i) {
        ts.push_back(spindle::spawn([&] {
          ++arrived;
          while (arrived < waiters) spindle::this_fiber::yield();  // start together
          return spindle::io::wait_readable(p.fds[0], 30s);
        }));
      }
      for (auto& t : ts) ready += t.join();
    }
    EXPECT_EQ(ready, rounds * waiters);
  });
}

// A regular file is always ready, as poll(2) says; epoll refuses to watch it
// (EPERM). A fiber and a plain thread get the same answer (before, the fiber
// got std::system_error EPERM).
TEST(Io, RegularFileIsReadyAtOnceInAFiberAndOnAThread) {
  char path[] = "/tmp/spindle_io_regular_XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::unlink(path);
  auto check = [fd] {
    EXPECT_TRUE(spindle::io::wait_readable(fd, 30s));
    EXPECT_TRUE(spindle::io::wait_writable(fd, 30s));
    spindle::io::wait_readable(fd);
    spindle::io::wait_writable(fd);
  };
  check();  // a plain thread
  spindle::runtime rt(spindle::options{.workers = 2});
  rt.block_on([&] {
    check();
    std::vector<spindle::task<void>> ts;
    for (int i = 0; i < 4; ++i) ts.push_back(spindle::spawn(check));
    for (auto& t : ts) t.join();
  });
  ::close(fd);
}
