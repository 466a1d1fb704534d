// spindle::net::tcp_listener: a listening TCP socket whose accept() blocks
// only the calling fiber.
//
//   auto lst = tcp_listener::bind(endpoint::parse("127.0.0.1:0"));  // port 0: any free port
//   std::uint16_t port = lst.local_endpoint().port();
//   for (;;) spindle::spawn(serve, lst.accept());
//
// bind() sets SO_REUSEADDR (a restarted server rebinds while old connections
// linger in TIME_WAIT). accept() returns non-blocking, close-on-exec streams.
// When the process or system runs out of descriptors (EMFILE, ENFILE) accept
// does not spin and does not fail: it sleeps 5 ms, doubling up to 1 s, and
// tries again, while every other fiber keeps serving the connections already
// open; it accepts again as soon as descriptors are freed.
//
// close() from any fiber or thread is the way to stop an accept loop: an
// accept() blocked at that moment, and every accept() called after it, throws
// std::errc::operation_canceled, however the two interleave (see
// tcp_stream.hpp on closing during calls). Move-only; the destructor closes.
// Errors are std::system_error with the errno value as a
// std::generic_category() code.
#pragma once

#include <spindle/detail/socket_fd.hpp>
#include <spindle/net/endpoint.hpp>
#include <spindle/net/tcp_stream.hpp>
#include <system_error>
#include <utility>

namespace spindle::net {

class tcp_listener {
 public:
  // The length of the queue of connections not yet accepted; the kernel
  // caps it (net.core.somaxconn on Linux).
  static constexpr int default_backlog = 4096;

  // A listener that is not open.
  tcp_listener() noexcept = default;

  // Binds to `ep` (port 0: any free port) and listens.
  static tcp_listener bind(const endpoint& ep, int backlog = default_backlog);

  // The next connection, waiting as long as there is none.
  tcp_stream accept();
  // The same without an exception for failures: what accept() throws as
  // std::system_error (operation_canceled after close()) goes to `ec`, and
  // the stream returned is not open.
  tcp_stream accept(std::error_code& ec);

  // The bound address, with the actual port when bound to port 0.
  endpoint local_endpoint() const;

  // Wakes a fiber or thread waiting in accept() and closes. Idempotent.
  void close() noexcept { sock_.close(); }

  bool is_open() const noexcept { return sock_.get() >= 0; }
  int native_handle() const noexcept { return sock_.get(); }

 private:
  explicit tcp_listener(detail::socket_fd sock) noexcept : sock_(std::move(sock)) {}

  detail::socket_fd sock_;
};

}  // namespace spindle::net
