// The socket calls that do not throw for connection failures (error_code
// overloads) and the ones that never wait (try_read_some, try_write_some):
// exact codes, exact byte counts before a failure, would_block when the
// socket has nothing, and normal reads and writes afterwards.
#include <gtest/gtest.h>

#include <cstring>
#include <span>
#include <spindle/net.hpp>
#include <spindle/runtime.hpp>
#include <spindle/this_fiber.hpp>
#include <string>
#include <system_error>
#include <vector>

#include "test_support.hpp"

using namespace std::chrono_literals;
namespace net = spindle::net;

namespace {

// A connected pair on the loopback.
struct stream_pair {
  net::tcp_stream client, server;
};

stream_pair connected_pair() {
  auto lst = net::tcp_listener::bind(net::endpoint::parse("127.0.0.1:0"));
  stream_pair p;
  p.client = net::tcp_stream::connect(lst.local_endpoint());
  p.server = lst.accept();
  return p;
}

std::span<const std::byte> bytes(std::string_view s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

TEST(NetErrorCode, ConnectRefusedAndAcceptAfterClose) {
  spindle::runtime rt(spindle::test::two_workers());
  rt.block_on([] {
    auto lst = net::tcp_listener::bind(net::endpoint::parse("127.0.0.1:0"));
    const net::endpoint ep = lst.local_endpoint();
    lst.close();  // nobody listens on ep any more
    std::error_code ec;
    net::tcp_stream s = net::tcp_stream::connect(ep, ec);
    EXPECT_EQ(ec, std::errc::connection_refused);
    EXPECT_FALSE(s.is_open());
    net::tcp_stream a = lst.accept(ec);
    EXPECT_EQ(ec, std::errc::operation_canceled);
    EXPECT_FALSE(a.is_open());
  });
}

TEST(NetErrorCode, ReadExactReportsTheBytesBeforeTheEndOfStream) {
  spindle::runtime rt(spindle::test::two_workers());
  rt.block_on([] {
    auto [client, server] = connected_pair();
    client.write_all("abc");
    client.shutdown_write();
    std::byte buf[5];
    std::error_code ec;
    EXPECT_EQ(server.read_exact(buf, ec), 3u);
    EXPECT_EQ(ec, std::errc::connection_aborted);
    EXPECT_EQ(std::memcmp(buf, "abc", 3), 0);
    EXPECT_EQ(server.read_some(buf, ec), 0u);  // end of stream is no error
    EXPECT_FALSE(ec);
  });
}

TEST(NetErrorCode, WriteToAResetPeerReportsTheErrorNotAnException) {
  spindle::runtime rt(spindle::test::two_workers());
  rt.block_on([] {
    auto [client, server] = connected_pair();
    server.write_all("unread");  // unread data makes the close a reset
    client.close();
    std::vector<std::byte> big(1 << 20);
    std::error_code ec;
    std::size_t total = 0;
    for (int i = 0; i < 100 && !ec; ++i) total += server.write_all(big, ec);
    EXPECT_TRUE(ec == std::errc::broken_pipe || ec == std::errc::connection_reset) << ec.message();
    EXPECT_LT(total, 100u * big.size());
  });
}

TEST(NetErrorCode, CallsOnAClosedStreamGiveOperationCanceled) {
  spindle::runtime rt(spindle::test::two_workers());
  rt.block_on([] {
    auto [client, server] = connected_pair();
    server.close();
    std::byte b[4];
    std::error_code ec;
    EXPECT_EQ(server.read_some(b, ec), 0u);
    EXPECT_EQ(ec, std::errc::operation_canceled);
    EXPECT_EQ(server.write_some(bytes("x"), ec), 0u);
    EXPECT_EQ(ec, std::errc::operation_canceled);
    EXPECT_EQ(server.try_read_some(b, ec), 0u);
    EXPECT_EQ(ec, std::errc::operation_canceled);
    EXPECT_EQ(server.try_write_some(bytes("x"), ec), 0u);
    EXPECT_EQ(ec, std::errc::operation_canceled);
  });
}

TEST(NetTry, ReadSomeNeverWaits) {
  spindle::runtime rt(spindle::test::two_workers());
  rt.block_on([] {
    auto [client, server] = connected_pair();
    std::byte buf[16];
    std::error_code ec;
    EXPECT_EQ(server.try_read_some(buf, ec), 0u);
    EXPECT_EQ(ec, std::errc::operation_would_block);
    client.write_all("hello");
    // The bytes arrive; a blocking read_some after the would_block still sees them.
    EXPECT_EQ(server.read_some(buf), 5u);
    client.write_all("again");
    std::size_t n = 0;
    while ((n = server.try_read_some(buf, ec)) == 0 && ec == std::errc::operation_would_block) {
      spindle::this_fiber::yield();
    }
    EXPECT_FALSE(ec);
    EXPECT_EQ(n, 5u);
    EXPECT_EQ(std::memcmp(buf, "again", 5), 0);
    client.shutdown_write();
    while ((n = server.try_read_some(buf, ec)) == 0 && ec == std::errc::operation_would_block) {
      spindle::this_fiber::yield();
    }
    EXPECT_FALSE(ec);
    EXPECT_EQ(n, 0u);  // end of stream
  });
}

TEST(NetTry, WriteSomeTakesWhatFitsThenWouldBlock) {
  spindle::runtime rt(spindle::test::two_workers());
  rt.block_on([] {
    auto [client, server] = connected_pair();
    std::vector<std::byte> chunk(64 * 1024, std::byte{7});
    std::error_code ec;
    std::size_t sent = 0;
    for (;;) {
      const std::size_t n = server.try_write_some(chunk, ec);
      if (ec) break;
      sent += n;
    }
    EXPECT_EQ(ec, std::errc::operation_would_block);
    EXPECT_GT(sent, 0u);
    // The peer drains exactly what was taken; then writing works again.
    std::vector<std::byte> sink(sent);
    client.read_exact(sink);
    for (std::byte b : sink) ASSERT_EQ(b, std::byte{7});
    std::size_t n = 0;
    while ((n = server.try_write_some(bytes("more"), ec)) == 0 &&
           ec == std::errc::operation_would_block) {
      spindle::this_fiber::yield();
    }
    EXPECT_FALSE(ec);
    EXPECT_EQ(n, 4u);
  });
}

}  // namespace
