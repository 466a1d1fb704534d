// spindle::net::unix_endpoint: the address of a Unix-domain socket -- a
// filesystem path or, on Linux, an abstract name (one that lives in the
// network namespace, not the filesystem, and vanishes with its last socket).
//
//   net::unix_endpoint p("/run/myapp.sock");
//   auto a = net::unix_endpoint::abstract("myapp");   // Linux only
//   a.to_string();                                    // "@myapp"
//
// A path must fit sun_path with its terminating NUL: at most max_path bytes
// (107 on Linux, 103 on macOS); a longer one, an empty one or one holding a
// NUL throws std::invalid_argument naming the path and the limit (bind
// relative to a shorter working directory, or use an abstract name). An
// endpoint is a regular value: copyable, comparable with ==, printable with <<.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <cstddef>
#include <iosfwd>
#include <string>
#include <string_view>

namespace spindle::net {

class unix_endpoint {
 public:
  // The longest path or abstract name, in bytes.
  static constexpr std::size_t max_path = sizeof(sockaddr_un::sun_path) - 1;

  // The unnamed address: what an unbound socket (a socketpair end, a
  // datagram socket that never bound) reports.
  unix_endpoint() noexcept;

  // A filesystem path; throws std::invalid_argument (see above).
  explicit unix_endpoint(std::string_view path);

  // An abstract name (Linux; "@name" in to_string()); throws
  // std::invalid_argument past max_path bytes, or on other systems.
  static unix_endpoint abstract(std::string_view name);

  // Copies an AF_UNIX socket address (getsockname, recvfrom; a length of 0
  // is the unnamed address); throws std::invalid_argument for any other
  // family or a length out of range.
  static unix_endpoint from_sockaddr(const sockaddr* addr, socklen_t len);

  // The path, or the abstract name without its '@'; empty when unnamed.
  std::string_view path() const noexcept;
  bool is_abstract() const noexcept;
  bool is_unnamed() const noexcept { return len_ <= offsetof(sockaddr_un, sun_path); }

  // The path, "@name" for an abstract name, "" when unnamed.
  std::string to_string() const;

  // The socket address for bind/connect/sendto.
  const sockaddr* data() const noexcept { return reinterpret_cast<const sockaddr*>(&addr_); }
  socklen_t size() const noexcept { return len_; }

  friend bool operator==(const unix_endpoint& a, const unix_endpoint& b) noexcept;
  friend std::ostream& operator<<(std::ostream& os, const unix_endpoint& ep);

 private:
  // addr_.sun_path holds the path and its NUL, or a NUL and the abstract
  // name; len_ counts the family and exactly those bytes.
  sockaddr_un addr_;
  socklen_t len_;
};

}  // namespace spindle::net
