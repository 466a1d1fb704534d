// unix_endpoint: filesystem paths and abstract names as AF_UNIX addresses.
#include <cstring>
#include <ostream>
#include <spindle/net/unix_endpoint.hpp>
#include <stdexcept>
#include <string>

namespace spindle::net {

namespace {

constexpr socklen_t path_offset = offsetof(sockaddr_un, sun_path);

// Built with append() (see endpoint.cpp on GCC PR 105329).
[[noreturn]] void bad_name(const char* call, std::string_view name, const char* why) {
  std::string msg = "spindle::net::unix_endpoint";
  msg.append(call).append(": \"").append(name).append("\": ").append(why);
  throw std::invalid_argument(msg);
}

[[noreturn]] void too_long(const char* call, std::string_view name) {
  std::string why = "longer than sun_path allows (";
  why.append(std::to_string(name.size()))
      .append(" bytes, at most ")
      .append(std::to_string(unix_endpoint::max_path))
      .append(")");
  bad_name(call, name, why.c_str());
}

}  // namespace

unix_endpoint::unix_endpoint() noexcept : len_(path_offset) {
  std::memset(&addr_, 0, sizeof addr_);
  addr_.sun_family = AF_UNIX;
}

unix_endpoint::unix_endpoint(std::string_view path) : unix_endpoint() {
  if (path.empty()) bad_name("", path, "an empty path");
  if (path.find('\0') != path.npos) bad_name("", path, "a path holding a NUL byte");
  if (path.size() > max_path) too_long("", path);
  std::memcpy(addr_.sun_path, path.data(), path.size());
  len_ = static_cast<socklen_t>(path_offset + path.size() + 1);  // with the NUL
}

unix_endpoint unix_endpoint::abstract(std::string_view name) {
#ifdef __linux__
  if (name.size() > max_path) too_long("::abstract", name);
  unix_endpoint ep;
  std::memcpy(ep.addr_.sun_path + 1, name.data(), name.size());
  ep.len_ = static_cast<socklen_t>(path_offset + 1 + name.size());
  return ep;
#else
  bad_name("::abstract", name, "abstract socket names exist on Linux only");
#endif
}

unix_endpoint unix_endpoint::from_sockaddr(const sockaddr* addr, socklen_t len) {
  // Linux reports an unnamed sender (recvfrom) with a length of 0, and no family.
  if (addr != nullptr && len == 0) return unix_endpoint();
  if (addr == nullptr || len < sizeof(sa_family_t) || addr->sa_family != AF_UNIX ||
      len > sizeof(sockaddr_un)) {
    throw std::invalid_argument(
        "spindle::net::unix_endpoint::from_sockaddr: not an AF_UNIX socket address");
  }
  unix_endpoint ep;
  if (len <= path_offset) return ep;  // unnamed
  const auto* un = reinterpret_cast<const sockaddr_un*>(addr);
  const std::size_t bytes = len - path_offset;
  if (un->sun_path[0] == '\0') {  // abstract: every byte after the NUL counts
    std::memcpy(ep.addr_.sun_path, un->sun_path, bytes);
    ep.len_ = len;
    return ep;
  }
  // A path: the kernel may or may not count its NUL; stop at the first one.
  const std::size_t n = strnlen(un->sun_path, bytes);
  if (n > max_path) {
    throw std::invalid_argument(
        "spindle::net::unix_endpoint::from_sockaddr: a path without room for its NUL");
  }
  std::memcpy(ep.addr_.sun_path, un->sun_path, n);
  ep.len_ = static_cast<socklen_t>(path_offset + n + 1);
  return ep;
}

bool unix_endpoint::is_abstract() const noexcept {
  return !is_unnamed() && addr_.sun_path[0] == '\0';
}

std::string_view unix_endpoint::path() const noexcept {
  if (is_unnamed()) return {};
  if (is_abstract()) return {addr_.sun_path + 1, len_ - path_offset - 1};
  return {addr_.sun_path, len_ - path_offset - 1};  // without the NUL
}

std::string unix_endpoint::to_string() const {
  std::string s = is_abstract() ? "@" : "";
  s.append(path());
  return s;
}

bool operator==(const unix_endpoint& a, const unix_endpoint& b) noexcept {
  return a.len_ == b.len_ && std::memcmp(a.addr_.sun_path, b.addr_.sun_path,
                                         a.len_ - offsetof(sockaddr_un, sun_path)) == 0;
}

std::ostream& operator<<(std::ostream& os, const unix_endpoint& ep) {
  return os << ep.to_string();
}

}  // namespace spindle::net
