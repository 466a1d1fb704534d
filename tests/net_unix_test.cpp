// Unix-domain sockets: endpoints (paths, abstract names, limits), streams
// (echo over a path and an abstract name, many at once, end of stream, close,
// timeouts, cancellation, plain threads), listeners (address_in_use, no
// unlink) and datagrams (exact payloads and senders). Paths live in a
// temporary directory of each test's own.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <span>
#include <spindle/cancel.hpp>
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
using spindle::net::unix_datagram_socket;
using spindle::net::unix_endpoint;
using spindle::net::unix_listener;
using spindle::net::unix_stream;
using spindle::test::as_string;
using spindle::test::error_code_of;
using spindle::test::expect_errc;

namespace {

namespace fs = std::filesystem;

// A fresh directory under the system's temporary one, removed with all it
// holds when the test ends.
class temp_dir {
 public:
  temp_dir() {
    std::string templ = (fs::temp_directory_path() / "spindle-unix-XXXXXX").string();
    if (!::mkdtemp(templ.data())) throw std::system_error(errno, std::generic_category(), templ);
    path_ = templ;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  unix_endpoint endpoint(std::string_view name) const {
    return unix_endpoint((path_ / name).string());
  }

 private:
  fs::path path_;
};

// An abstract name no other test process uses at the same time.
unix_endpoint unique_abstract(std::string_view name) {
  return unix_endpoint::abstract("spindle-test-" + std::to_string(::getpid()) + "-" +
                                 std::string(name));
}

// Echoes every connection until end of stream.
void echo(unix_stream s) {
  std::byte buf[16 * 1024];
  while (const std::size_t n = s.read_some(buf)) s.write_all(std::span<const std::byte>(buf, n));
}

// Runs body(endpoint) in a fiber while net::serve echoes on a listener bound
// to `ep`; closes the listener after it and waits for the server.
template <class F>
void with_echo_server(const unix_endpoint& ep, F body) {
  spindle::runtime rt(spindle::test::two_workers());
  rt.block_on([&] {
    auto lst = unix_listener::bind(ep);
    auto server = spindle::spawn([&lst] { spindle::net::serve(lst, echo); });
    body(lst.local_endpoint());
    lst.close();
    server.join();
  });
}

void expect_echo(const unix_endpoint& ep, std::string_view text) {
  auto c = unix_stream::connect(ep);
  c.write_all(text);
  std::vector<std::byte> back(text.size());
  c.read_exact(back);
  EXPECT_EQ(as_string(back), text);
  c.shutdown_write();
  std::array<std::byte, 1> more{};
  EXPECT_EQ(c.read_some(more), 0u);  // the server ends its side too
}

}  // namespace

TEST(UnixEndpoint, PathsAndAbstractNames) {
  const unix_endpoint p("/tmp/x.sock");
  EXPECT_EQ(p.path(), "/tmp/x.sock");
  EXPECT_FALSE(p.is_abstract());
  EXPECT_FALSE(p.is_unnamed());
  EXPECT_EQ(p.to_string(), "/tmp/x.sock");
  EXPECT_EQ(p.data()->sa_family, AF_UNIX);
  EXPECT_EQ(p, unix_endpoint("/tmp/x.sock"));
  EXPECT_NE(p, unix_endpoint("/tmp/y.sock"));

  const auto a = unix_endpoint::abstract("name");
  EXPECT_EQ(a.path(), "name");
  EXPECT_TRUE(a.is_abstract());
  EXPECT_EQ(a.to_string(), "@name");
  EXPECT_NE(a, unix_endpoint("name"));
  EXPECT_EQ(a, unix_endpoint::from_sockaddr(a.data(), a.size()));
  EXPECT_EQ(p, unix_endpoint::from_sockaddr(p.data(), p.size()));
  EXPECT_TRUE(unix_endpoint::from_sockaddr(p.data(), 0).is_unnamed());  // recvfrom, unnamed sender

  const unix_endpoint none;
  EXPECT_TRUE(none.is_unnamed());
  EXPECT_EQ(none.to_string(), "");
  EXPECT_EQ(none.path(), "");
}

TEST(UnixEndpoint, LongestPathFitsAndOneMoreThrowsNamingThePathAndTheLimit) {
  const std::string longest(unix_endpoint::max_path, 'a');
  EXPECT_EQ(unix_endpoint(longest).path(), longest);
  EXPECT_EQ(unix_endpoint::abstract(longest).path(), longest);

  const std::string too_long = "/tmp/" + std::string(unix_endpoint::max_path, 'b');
  try {
    unix_endpoint ep(too_long);
    ADD_FAILURE() << "no exception";
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(too_long), std::string::npos) << what;
    EXPECT_NE(what.find("at most " + std::to_string(unix_endpoint::max_path)), std::string::npos)
        << what;
  }
  EXPECT_THROW(unix_endpoint::abstract(std::string(unix_endpoint::max_path + 1, 'c')),
               std::invalid_argument);
  EXPECT_THROW(unix_endpoint(""), std::invalid_argument);
  EXPECT_THROW(unix_endpoint(std::string_view("a\0b", 3)), std::invalid_argument);
}

TEST(UnixStream, EchoOverAPath) {
  temp_dir dir;
  const unix_endpoint ep = dir.endpoint("echo.sock");
  with_echo_server(ep, [&](const unix_endpoint& bound) {
    EXPECT_EQ(bound, ep);
    expect_echo(bound, "hello over a path");
  });
  EXPECT_TRUE(fs::exists(ep.path())) << "the listener must not unlink its path";
}

TEST(UnixStream, EchoOverAnAbstractName) {
  const unix_endpoint ep = unique_abstract("echo");
  with_echo_server(ep, [&](const unix_endpoint& bound) {
    EXPECT_EQ(bound, ep);
    EXPECT_EQ(bound.to_string(), "@" + std::string(ep.path()));
    expect_echo(bound, "hello over an abstract name");
  });
}

TEST(UnixStream, ManyConnectionsAtOnceEachGetsItsOwnBytes) {
  temp_dir dir;
  const int connections = spindle::test::scaled(200, 50);
  constexpr std::size_t messages = 4;
  constexpr std::size_t size = 20000;  // more than a socket buffer takes at once
  std::atomic<int> exact{0};
  with_echo_server(dir.endpoint("many.sock"), [&](const unix_endpoint& ep) {
    spindle::task_group clients;
    for (int c = 0; c < connections; ++c) {
      clients.spawn([&, c] {
        auto s = unix_stream::connect(ep);
        bool all_exact = true;
        for (std::size_t m = 0; m < messages; ++m) {
          const auto sent = spindle::test::pattern_message(c, m, size);
          std::vector<std::byte> got(size);
          auto writer = spindle::spawn([&] { s.write_all(sent); });
          s.read_exact(got);
          writer.join();
          all_exact = all_exact && got == sent;
        }
        if (all_exact) ++exact;
      });
    }
    clients.join();
  });
  EXPECT_EQ(exact.load(), connections);
}

TEST(UnixStream, EndOfStreamAfterThePeerShutsDownOrCloses) {
  spindle::runtime rt(spindle::test::two_workers());
  rt.block_on([] {
    auto a_b = unix_stream::pair();  // not a structured binding: clang 14 cannot capture one
    auto& a = a_b.first;
    auto& b = a_b.second;
    a.write_all("last");
    a.shutdown_write();
    std::array<std::byte, 4> four{};
    b.read_exact(four);
    EXPECT_EQ(as_string(four), "last");
    EXPECT_EQ(b.read_some(four), 0u);
    expect_errc([&] { b.read_exact(four); }, std::errc::connection_aborted);
    std::error_code ec;
    EXPECT_EQ(b.read_exact(four, ec), 0u);
    EXPECT_EQ(ec, std::errc::connection_aborted);
    b.write_all("back");  // the other direction is still open
    a.read_exact(four);
    EXPECT_EQ(as_string(four), "back");
    b.close();
    EXPECT_EQ(a.read_some(four), 0u);
    EXPECT_EQ(error_code_of([&] {
                for (;;) a.write_all("x");  // the kernel may take a little first
              }),
              std::errc::broken_pipe);
  });
}

TEST(UnixStream, CloseFromAnotherFiberWakesABlockedRead) {
  spindle::runtime rt(spindle::test::two_workers());
  rt.block_on([] {
    auto a_b = unix_stream::pair();  // not a structured binding: clang 14 cannot capture one
    auto& b = a_b.second;
    std::atomic<bool> reading{false};
    auto reader = spindle::spawn([&b = b, &reading] {
      std::array<std::byte, 16> buf{};
      reading = true;
      return error_code_of([&] { b.read_some(buf); });
    });
    while (!reading) spindle::this_fiber::yield();
    spindle::this_fiber::sleep_for(20ms);  // most likely parked; either way it must fail
    b.close();
    EXPECT_EQ(reader.join(), std::errc::operation_canceled);
    std::array<std::byte, 1> one{};
    expect_errc([&] { b.read_some(one); }, std::errc::operation_canceled);
    expect_errc([&] { b.write_all("x"); }, std::errc::operation_canceled);
    expect_errc([&] { b.shutdown_write(); }, std::errc::operation_canceled);
  });
}

TEST(UnixStream, ReadTimeoutGivesTimedOutAndTheStreamStaysUsable) {
  spindle::runtime rt(spindle::test::two_workers());
  rt.block_on([] {
    auto a_b = unix_stream::pair();  // not a structured binding: clang 14 cannot capture one
    auto& a = a_b.first;
    auto& b = a_b.second;
    b.set_read_timeout(30ms);
    std::array<std::byte, 2> buf{};
    expect_errc([&] { b.read_some(buf); }, std::errc::timed_out);
    a.write_all("ok");
    b.read_exact(buf);
    EXPECT_EQ(as_string(buf), "ok");
  });
}

TEST(UnixStream, CancelledReadThrowsCancelledAndTheStreamStaysUsable) {
  spindle::runtime rt(spindle::test::two_workers());
  rt.block_on([] {
    auto a_b = unix_stream::pair();  // not a structured binding: clang 14 cannot capture one
    auto& a = a_b.first;
    auto& b = a_b.second;
    std::array<std::byte, 2> buf{};
    // A scope that runs out cancels the read inside it ...
    EXPECT_FALSE(spindle::with_timeout(30ms, [&] { b.read_some(buf); }));
    // ... as does cancelling the fiber that reads.
    EXPECT_TRUE(spindle::test::cancelled_while_blocked([&b = b] {
      std::array<std::byte, 2> inner{};
      b.read_some(inner);
    }));
    a.write_all("ok");
    b.read_exact(buf);
    EXPECT_EQ(as_string(buf), "ok");
  });
}

TEST(UnixListener, CancelledAcceptThrowsCancelledAndTheListenerStaysUsable) {
  temp_dir dir;
  spindle::runtime rt(spindle::test::two_workers());
  rt.block_on([&] {
    auto lst = unix_listener::bind(dir.endpoint("cancel.sock"));
    EXPECT_TRUE(spindle::test::cancelled_while_blocked([&lst] { lst.accept(); }));
    EXPECT_FALSE(spindle::with_timeout(20ms, [&] { lst.accept(); }));
    auto c = unix_stream::connect(lst.local_endpoint());
    auto s = lst.accept();
    c.write_all("hi");
    std::array<std::byte, 2> buf{};
    s.read_exact(buf);
    EXPECT_EQ(as_string(buf), "hi");
  });
}

TEST(UnixListener, CloseWakesABlockedAcceptAndDoesNotUnlink) {
  temp_dir dir;
  const unix_endpoint ep = dir.endpoint("close.sock");
  spindle::runtime rt(spindle::test::two_workers());
  rt.block_on([&] {
    auto lst = unix_listener::bind(ep);
    auto acceptor = spindle::spawn([&lst] { return error_code_of([&lst] { lst.accept(); }); });
    spindle::this_fiber::sleep_for(20ms);
    lst.close();
    EXPECT_EQ(acceptor.join(), std::errc::operation_canceled);
    std::error_code ec;
    EXPECT_FALSE(lst.accept(ec).is_open());
    EXPECT_EQ(ec, std::errc::operation_canceled);
  });
  EXPECT_TRUE(fs::exists(ep.path()));
  // The stale socket file: nobody listens, so connecting is refused, and a
  // new bind finds the path taken.
  expect_errc([&] { unix_stream::connect(ep); }, std::errc::connection_refused);
  expect_errc([&] { unix_listener::bind(ep); }, std::errc::address_in_use);
}

TEST(UnixListener, BindOnAnExistingPathIsAddressInUse) {
  temp_dir dir;
  const unix_endpoint ep = dir.endpoint("taken");
  { std::ofstream(std::string(ep.path())) << "a file"; }
  expect_errc([&] { unix_listener::bind(ep); }, std::errc::address_in_use);
  expect_errc([&] { unix_datagram_socket::bind(ep); }, std::errc::address_in_use);
  const unix_endpoint abstract = unique_abstract("taken");
  auto first = unix_listener::bind(abstract);
  expect_errc([&] { unix_listener::bind(abstract); }, std::errc::address_in_use);
}

TEST(UnixStream, ConnectErrorsAreExact) {
  temp_dir dir;
  expect_errc([&] { unix_stream::connect(dir.endpoint("nobody")); },
              std::errc::no_such_file_or_directory);
  std::error_code ec;
  EXPECT_FALSE(unix_stream::connect(unique_abstract("nobody"), ec).is_open());
  EXPECT_EQ(ec, std::errc::connection_refused);
  unix_stream never_open;
  std::array<std::byte, 1> one{};
  expect_errc([&] { never_open.read_some(one); }, std::errc::bad_file_descriptor);
  try {
    never_open.read_some(one);
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find("spindle::net::unix_stream::read_some"), std::string::npos)
        << e.what();
  }
}

TEST(UnixStream, TryCallsNeverWait) {
  auto a_b = unix_stream::pair();  // not a structured binding: clang 14 cannot capture one
  auto& a = a_b.first;
  auto& b = a_b.second;
  std::array<std::byte, 4> buf{};
  std::error_code ec;
  EXPECT_EQ(b.try_read_some(buf, ec), 0u);
  EXPECT_EQ(ec, std::errc::operation_would_block);
  EXPECT_EQ(a.try_write_some(std::as_bytes(std::span("abcd", 4)), ec), 4u);
  EXPECT_FALSE(ec);
  EXPECT_EQ(b.try_read_some(buf, ec), 4u);
  EXPECT_FALSE(ec);
  EXPECT_EQ(as_string(buf), "abcd");
  EXPECT_TRUE(a.local_endpoint().is_unnamed());
  EXPECT_TRUE(b.remote_endpoint().is_unnamed());
}

TEST(UnixStream, BufferedReaderReadsLines) {
  spindle::runtime rt(spindle::test::two_workers());
  rt.block_on([] {
    auto a_b = unix_stream::pair();  // not a structured binding: clang 14 cannot capture one
    auto& a = a_b.first;
    auto& b = a_b.second;
    a.write_all("one\r\ntwo\nthree");
    a.shutdown_write();
    spindle::net::buffered_reader in(b);
    EXPECT_EQ(in.read_line(), "one");
    EXPECT_EQ(in.read_line(), "two");
    EXPECT_EQ(in.read_line(), "three");
    EXPECT_EQ(in.read_line(), std::nullopt);
  });
}

TEST(UnixStream, WorksOnPlainThreadsWithoutARuntime) {
  temp_dir dir;
  const unix_endpoint ep = dir.endpoint("plain.sock");
  auto lst = unix_listener::bind(ep);
  constexpr std::size_t size = 1 << 20;
  const auto sent = spindle::test::pattern_message(1, 2, size);
  std::vector<std::byte> got(size);
  std::thread server([&] {
    auto s = lst.accept();
    s.read_exact(got);
    s.write_all("done");
  });
  auto c = unix_stream::connect(ep, 10s);
  c.write_all(sent);
  std::array<std::byte, 4> done{};
  c.read_exact(done);
  server.join();
  EXPECT_EQ(as_string(done), "done");
  EXPECT_TRUE(got == sent);
}

TEST(UnixDatagram, ExactPayloadsAndSendersOverPathsAndAbstractNames) {
  temp_dir dir;
  spindle::runtime rt(spindle::test::two_workers());
  rt.block_on([&] {
    for (const auto& [server_ep, client_ep] :
         {std::pair{dir.endpoint("server.dgram"), dir.endpoint("client.dgram")},
          std::pair{unique_abstract("server.dgram"), unique_abstract("client.dgram")}}) {
      auto server = unix_datagram_socket::bind(server_ep);
      auto client = unix_datagram_socket::bind(client_ep);
      EXPECT_EQ(server.local_endpoint(), server_ep);
      auto echo = spindle::spawn([&server] {
        std::array<std::byte, 64> buf{};
        for (int i = 0; i < 2; ++i) {
          const auto [n, from] = server.recv_from(buf);
          server.send_to(std::span<const std::byte>(buf.data(), n), from);
        }
      });
      std::array<std::byte, 64> buf{};
      EXPECT_EQ(client.send_to("first datagram", server_ep), 14u);
      EXPECT_EQ(client.send_to("2nd", server_ep), 3u);
      auto [n1, from1] = client.recv_from(buf);
      EXPECT_EQ(as_string(std::span(buf.data(), n1)), "first datagram");
      EXPECT_EQ(from1, server_ep);
      auto [n2, from2] = client.recv_from(buf);
      EXPECT_EQ(as_string(std::span(buf.data(), n2)), "2nd");
      EXPECT_EQ(from2, server_ep);
      echo.join();
    }
  });
}

TEST(UnixDatagram, UnboundSenderConnectedPeersPairsAndTimeouts) {
  const unix_endpoint ep = unique_abstract("dgram-misc");
  auto server = unix_datagram_socket::bind(ep);
  auto anonymous = unix_datagram_socket::unbound();
  std::array<std::byte, 8> buf{};
  anonymous.send_to("anon", ep);
  const auto [n, from] = server.recv_from(buf);
  EXPECT_EQ(as_string(std::span(buf.data(), n)), "anon");
  EXPECT_TRUE(from.is_unnamed());

  auto client = unix_datagram_socket::bind(unique_abstract("dgram-client"));
  client.connect(ep);
  EXPECT_EQ(client.send("viaconn"), 7u);
  EXPECT_EQ(server.recv(buf), 7u);
  EXPECT_EQ(as_string(std::span(buf.data(), 7)), "viaconn");
  server.send_to("reply", client.local_endpoint());
  EXPECT_EQ(client.recv(buf), 5u);
  EXPECT_EQ(as_string(std::span(buf.data(), 5)), "reply");

  auto x_y = unix_datagram_socket::pair();  // not a structured binding: clang 14 cannot capture one

  auto& x = x_y.first;

  auto& y = x_y.second;
  x.send("pair");
  EXPECT_EQ(y.recv(buf), 4u);
  EXPECT_EQ(as_string(std::span(buf.data(), 4)), "pair");

  y.set_timeout(20ms);
  expect_errc([&] { y.recv(buf); }, std::errc::timed_out);
  expect_errc([&] { client.connect(unique_abstract("dgram-nobody")); },
              std::errc::connection_refused);
  y.close();
  expect_errc([&] { y.recv(buf); }, std::errc::operation_canceled);
}

TEST(UnixDatagram, CloseFromAnotherFiberWakesABlockedReceive) {
  spindle::runtime rt(spindle::test::two_workers());
  rt.block_on([] {
    auto x_y =
        unix_datagram_socket::pair();  // not a structured binding: clang 14 cannot capture one
    auto& y = x_y.second;
    auto receiver = spindle::spawn([&y = y] {
      std::array<std::byte, 8> buf{};
      return error_code_of([&] { y.recv_from(buf); });
    });
    spindle::this_fiber::sleep_for(20ms);
    y.close();
    EXPECT_EQ(receiver.join(), std::errc::operation_canceled);
  });
}

// A fiber whose socket always has data still lets the fibers ready on its
// worker run: the socket call that would be its 129th in one run slice
// yields first (runtime/sched/coop_budget.hpp). One worker; 1,000 bytes wait and
// are read one at a time, every one of them.
TEST(IoBudget, AFiberWhoseSocketIsAlwaysReadyLetsTheOthersRun) {
  spindle::runtime rt(spindle::options{.workers = 1});
  // With io_uring every read parks while the ring has it, so the other fiber
  // runs at the first read; with epoll a ready socket is read at once, and
  // only the budget lets the other run.
  const bool reads_park = rt.io() == spindle::io_backend::io_uring;
  rt.block_on([reads_park] {
    auto ends = spindle::net::unix_stream::pair();
    const std::string sent(1000, 'x');
    ends.first.write_all(sent);
    int reads = 0;
    int reads_when_other_ran = -1;
    auto other = spindle::spawn([&] { reads_when_other_ran = reads; });
    std::string got;
    char c;
    while (got.size() < sent.size()) {
      ASSERT_EQ(ends.second.read_some(std::as_writable_bytes(std::span(&c, 1))), 1u);
      got += c;
      ++reads;
    }
    other.join();
    EXPECT_EQ(got, sent);
    if (!reads_park) {
      EXPECT_GT(reads_when_other_ran, 0) << "the reader ran first";
    }
    EXPECT_GE(reads_when_other_ran, 0) << "the other fiber never ran";
    EXPECT_LE(reads_when_other_ran, 128) << "the reader kept its worker past its budget";
  });
}
