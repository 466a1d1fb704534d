// spindle::net::unix_listener: a listening Unix-domain stream socket whose
// accept() blocks only the calling fiber.
//
//   auto lst = unix_listener::bind(unix_endpoint("/run/myapp.sock"));
//   net::serve(lst, [](unix_stream s) { ... });
//
// The socket file. bind() creates the path and fails with
// std::errc::address_in_use when anything exists there already (a socket
// left by an earlier run included): remove a stale one first if that is
// what you want. The listener never unlinks its path, on close() or in the
// destructor: the path is the caller's, to remove (std::filesystem::remove)
// when it is done -- removing it from under a listener another process has
// just bound would be worse. Abstract names (unix_endpoint::abstract, Linux)
// leave no file and vanish with the socket.
//
// accept() behaves as tcp_listener's: non-blocking, close-on-exec streams,
// a back-off instead of a failure when descriptors run out, close() from any
// fiber or thread wakes a blocked accept() with std::errc::operation_canceled
// (as every later call), a cancelled fiber's accept() throws
// spindle::cancelled and leaves the listener usable. Move-only; the
// destructor closes.
#pragma once

#include <spindle/detail/socket_fd.hpp>
#include <spindle/net/unix_endpoint.hpp>
#include <spindle/net/unix_stream.hpp>
#include <system_error>
#include <utility>

namespace spindle::net {

class unix_listener {
 public:
  // The length of the queue of connections not yet accepted; the kernel
  // caps it (net.core.somaxconn on Linux).
  static constexpr int default_backlog = 4096;

  // A listener that is not open.
  unix_listener() noexcept = default;

  // Binds to `ep` and listens. Throws std::system_error: address_in_use
  // when the path exists (or the abstract name is taken).
  static unix_listener bind(const unix_endpoint& ep, int backlog = default_backlog);

  // The next connection, waiting as long as there is none.
  unix_stream accept();
  // The same without an exception for failures: what accept() throws as
  // std::system_error (operation_canceled after close()) goes to `ec`, and
  // the stream returned is not open.
  unix_stream accept(std::error_code& ec);

  // The bound address.
  unix_endpoint local_endpoint() const;

  // Wakes a fiber or thread waiting in accept() and closes; does not unlink
  // the path. Idempotent.
  void close() noexcept { sock_.close(); }

  bool is_open() const noexcept { return sock_.get() >= 0; }
  int native_handle() const noexcept { return sock_.get(); }

 private:
  explicit unix_listener(detail::socket_fd sock) noexcept : sock_(std::move(sock)) {}

  detail::socket_fd sock_;
};

}  // namespace spindle::net
