// endpoint: parsing, formatting and comparison of socket addresses.
#include <arpa/inet.h>

#include <charconv>
#include <cstdio>
#include <cstring>
#include <ostream>
#include <spindle/net/endpoint.hpp>
#include <stdexcept>

namespace spindle::net {

namespace {

// Messages are built with append(): GCC 12 reports a false -Wrestrict in
// chains of std::string operator+ at -O3 (GCC PR 105329).
// The text is quoted with control characters escaped (\xHH): what() is a C
// string, which a NUL byte in the text would cut short.
[[noreturn]] void bad_text(std::string_view text, const char* why) {
  std::string msg = "spindle::net::endpoint::parse: \"";
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      char escaped[5];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", u);
      msg.append(escaped);
    } else {
      msg.push_back(c);
    }
  }
  msg.append("\": ").append(why).append(" (expected \"a.b.c.d:port\" or \"[ipv6]:port\")");
  throw std::invalid_argument(msg);
}

// Decimal digits only, 0..65535: from_chars alone would accept a sign.
std::uint16_t parse_port(std::string_view text, std::string_view port) {
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != port.npos) {
    bad_text(text, "the port is not a number from 0 to 65535");
  }
  unsigned value = 0;
  std::from_chars(port.data(), port.data() + port.size(), value);
  if (value > 65535) bad_text(text, "the port is not a number from 0 to 65535");
  return static_cast<std::uint16_t>(value);
}

}  // namespace

endpoint::endpoint() noexcept {
  std::memset(&addr_, 0, sizeof addr_);
  addr_.v4.sin_family = AF_INET;
#ifdef SIN6_LEN
  addr_.v4.sin_len = sizeof(sockaddr_in);
#endif
}

endpoint endpoint::parse(std::string_view text) {
  endpoint ep;
  // inet_pton needs a terminated string; an address is at most
  // INET6_ADDRSTRLEN characters, anything longer is bad anyway.
  char host[INET6_ADDRSTRLEN + 1];
  std::string_view host_part;
  std::string_view port_part;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find("]:");
    if (close == text.npos) bad_text(text, "missing \"]:\" after the IPv6 address");
    host_part = text.substr(1, close - 1);
    port_part = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == text.npos) bad_text(text, "missing \":port\"");
    host_part = text.substr(0, colon);
    port_part = text.substr(colon + 1);
  }
  if (host_part.size() >= sizeof host) bad_text(text, "the address is too long");
  // inet_pton reads up to the first NUL: what follows one would be ignored.
  if (host_part.find('\0') != host_part.npos) bad_text(text, "the address contains a NUL byte");
  std::memcpy(host, host_part.data(), host_part.size());
  host[host_part.size()] = '\0';
  const std::uint16_t port = parse_port(text, port_part);

  if (text.front() == '[') {
    if (inet_pton(AF_INET6, host, &ep.addr_.v6.sin6_addr) != 1) {
      bad_text(text, "not a numeric IPv6 address");
    }
    ep.addr_.v6.sin6_family = AF_INET6;
    ep.addr_.v6.sin6_port = htons(port);
#ifdef SIN6_LEN  // the BSDs and macOS carry the length in the address itself
    ep.addr_.v6.sin6_len = sizeof(sockaddr_in6);
#endif
  } else {
    if (inet_pton(AF_INET, host, &ep.addr_.v4.sin_addr) != 1) {
      bad_text(text, "not a numeric IPv4 address");
    }
    ep.addr_.v4.sin_port = htons(port);
  }
  return ep;
}

endpoint endpoint::from_sockaddr(const sockaddr* addr, socklen_t len) {
  endpoint ep;
  if (addr && addr->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    std::memcpy(&ep.addr_.v4, addr, sizeof(sockaddr_in));
  } else if (addr && addr->sa_family == AF_INET6 &&
             len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    std::memcpy(&ep.addr_.v6, addr, sizeof(sockaddr_in6));
  } else {
    throw std::invalid_argument(
        "spindle::net::endpoint::from_sockaddr: not an IPv4 or IPv6 socket address");
  }
  return ep;
}

std::uint16_t endpoint::port() const noexcept {
  return ntohs(is_v6() ? addr_.v6.sin6_port : addr_.v4.sin_port);
}

socklen_t endpoint::size() const noexcept {
  return is_v6() ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

std::string endpoint::to_string() const {
  char host[INET6_ADDRSTRLEN];
  if (is_v6()) {
    inet_ntop(AF_INET6, &addr_.v6.sin6_addr, host, sizeof host);
    char text[INET6_ADDRSTRLEN + 8];
    std::snprintf(text, sizeof text, "[%s]:%u", host, static_cast<unsigned>(port()));
    return text;
  }
  inet_ntop(AF_INET, &addr_.v4.sin_addr, host, sizeof host);
  char text[INET6_ADDRSTRLEN + 8];
  std::snprintf(text, sizeof text, "%s:%u", host, static_cast<unsigned>(port()));
  return text;
}

bool operator==(const endpoint& a, const endpoint& b) noexcept {
  if (a.family() != b.family() || a.port() != b.port()) return false;
  if (a.is_v6()) {
    return std::memcmp(&a.addr_.v6.sin6_addr, &b.addr_.v6.sin6_addr, sizeof(in6_addr)) == 0 &&
           a.addr_.v6.sin6_scope_id == b.addr_.v6.sin6_scope_id;
  }
  return a.addr_.v4.sin_addr.s_addr == b.addr_.v4.sin_addr.s_addr;
}

std::ostream& operator<<(std::ostream& os, const endpoint& ep) {
  return os << ep.to_string();
}

}  // namespace spindle::net
