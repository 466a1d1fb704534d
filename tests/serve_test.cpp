// spindle::net::serve: one fiber per connection, stops accepting on close(),
// returns only once every connection has ended; handler errors end only
// their connection (system_error quietly, anything else reported).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <span>
#include <spindle/net.hpp>
#include <spindle/runtime.hpp>
#include <spindle/this_fiber.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

using namespace std::chrono_literals;
namespace net = spindle::net;

namespace {

net::tcp_listener listen_any() {
  return net::tcp_listener::bind(net::endpoint::parse("127.0.0.1:0"));
}

std::string echo_once(const net::endpoint& ep, const std::string& text) {
  auto c = net::tcp_stream::connect(ep);
  c.set_timeout(30s);
  c.write_all(text);
  std::string got(text.size(), '\0');
  c.read_exact(std::as_writable_bytes(std::span(got)));
  return got;
}

TEST(Serve, EchoesForManyClientsAndReturnsAfterClose) {
  spindle::runtime rt(spindle::test::two_workers());
  rt.block_on([] {
    auto lst = listen_any();
    const net::endpoint ep = lst.local_endpoint();
    std::atomic<int> connections{0};
    auto server = spindle::spawn([&] {
      net::serve(lst, [&connections](net::tcp_stream s) {
        ++connections;
        std::byte buf[256];
        while (std::size_t n = s.read_some(buf)) s.write_all(std::span<const std::byte>(buf, n));
      });
    });
    std::vector<spindle::task<bool>> clients;
    for (int i = 0; i < 20; ++i) {
      clients.push_back(spindle::spawn([ep, i] {
        const std::string text = "client " + std::to_string(i);
        return echo_once(ep, text) == text;
      }));
    }
    for (auto& c : clients) EXPECT_TRUE(c.join());
    lst.close();
    server.join();
    EXPECT_EQ(connections.load(), 20);
  });
}

TEST(Serve, WaitsForOpenConnectionsAfterClose) {
  spindle::runtime rt(spindle::test::two_workers());
  rt.block_on([] {
    auto lst = listen_any();
    std::atomic<bool> returned{false};
    auto server = spindle::spawn([&] {
      net::serve(lst, [](net::tcp_stream s) {
        std::byte b[1];
        s.read_exact(b);
        s.write_all(std::span<const std::byte>(b, 1));  // tells the client it is being served
        while (s.read_some(b) != 0) {
        }
      });
      returned = true;
    });
    auto client = net::tcp_stream::connect(lst.local_endpoint());
    client.write_all("x");
    std::byte echo[1];
    client.read_exact(echo);  // accepted and served (not only queued in the backlog)
    lst.close();
    for (int i = 0; i < 20; ++i) spindle::this_fiber::sleep_for(1ms);
    EXPECT_FALSE(returned.load());  // the connection is still open
    client.close();
    server.join();
    EXPECT_TRUE(returned.load());
  });
}

TEST(Serve, HandlerErrorsEndOnlyTheirConnection) {
  spindle::runtime rt(spindle::test::two_workers());
  testing::internal::CaptureStderr();
  rt.block_on([] {
    auto lst = listen_any();
    const net::endpoint ep = lst.local_endpoint();
    auto server = spindle::spawn([&] {
      net::serve(lst, [](net::tcp_stream s) {
        std::byte b[1];
        s.read_exact(b);
        if (b[0] == std::byte{'r'})
          throw std::system_error(std::make_error_code(std::errc::connection_reset));
        if (b[0] == std::byte{'x'}) throw std::runtime_error("handler bug");
        s.write_all("ok");
      });
    });
    for (char kind : {'r', 'x', 'g'}) {
      auto c = net::tcp_stream::connect(ep);
      c.write_all(std::string(1, kind));
      std::byte reply[2];
      if (kind == 'g') {
        c.read_exact(reply);
        EXPECT_EQ(reply[0], std::byte{'o'});
      } else {
        EXPECT_EQ(c.read_some(reply), 0u) << kind;  // an error closed the connection
      }
    }
    lst.close();
    server.join();
  });
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("handler bug"), std::string::npos) << err;
  EXPECT_EQ(err.find("connection_reset"), std::string::npos) << err;
  EXPECT_EQ(err.find("Connection reset"), std::string::npos) << err;
}

TEST(Serve, ClosedFromAPlainThread) {
  spindle::runtime rt(spindle::test::two_workers());
  auto lst = listen_any();
  auto server = rt.spawn([&] { net::serve(lst, [](net::tcp_stream) {}); });
  std::this_thread::sleep_for(5ms);
  lst.close();
  server.join();  // returns: close() stops the accept loop
}

}  // namespace
