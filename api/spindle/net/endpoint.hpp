// spindle::net::endpoint: an IPv4 or IPv6 address and a port, the value every
// socket call takes or returns.
//
//   auto a = endpoint::parse("127.0.0.1:8080");
//   auto b = endpoint::parse("[::1]:80");
//   a.port();            // 8080
//   b.to_string();       // "[::1]:80"
//
// parse() accepts numeric addresses only (names go through
// tcp_stream::connect(host, port)); bad text throws std::invalid_argument whose
// message quotes the text. An endpoint is a regular value: copyable,
// comparable with ==, printable with <<.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>

namespace spindle::net {

class endpoint {
 public:
  // 0.0.0.0:0
  endpoint() noexcept;

  // "a.b.c.d:port" or "[ipv6]:port"; throws std::invalid_argument naming the text.
  static endpoint parse(std::string_view text);

  // Copies an AF_INET or AF_INET6 socket address; throws std::invalid_argument
  // for any other family or a too short length.
  static endpoint from_sockaddr(const sockaddr* addr, socklen_t len);

  std::uint16_t port() const noexcept;
  bool is_v6() const noexcept { return addr_.any.sa_family == AF_INET6; }
  int family() const noexcept { return addr_.any.sa_family; }

  // "a.b.c.d:port" or "[ipv6]:port": parse(to_string()) == *this.
  std::string to_string() const;

  // The socket address for bind/connect/sendto.
  const sockaddr* data() const noexcept { return &addr_.any; }
  socklen_t size() const noexcept;

  friend bool operator==(const endpoint& a, const endpoint& b) noexcept;
  friend std::ostream& operator<<(std::ostream& os, const endpoint& ep);

 private:
  union storage {
    sockaddr any;
    sockaddr_in v4;
    sockaddr_in6 v6;
  } addr_;
};

}  // namespace spindle::net
