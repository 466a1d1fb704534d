// spindle::net::unix_stream: a connected Unix-domain stream socket
// (AF_UNIX, SOCK_STREAM) whose calls block only the calling fiber (a plain
// thread outside any runtime simply blocks).
//
//   auto s = unix_stream::connect(unix_endpoint("/run/myapp.sock"));
//   s.write_all("ping");
//   auto [a, b] = unix_stream::pair();   // two connected ends (socketpair)
//
// The reads, writes, error_code and try_ forms, timeouts, shutdown_write and
// close() are tcp_stream's, written once (detail/descriptor_stream.hpp):
// errors are std::system_error with the errno value as a
// std::generic_category() code, end of stream is not an error (read_some
// returns 0), close() from any fiber or thread wakes every call on the
// stream with std::errc::operation_canceled, a cancelled fiber's blocked call
// throws spindle::cancelled and leaves the stream usable. Move-only; the
// destructor closes.
#pragma once

#include <chrono>
#include <spindle/detail/deadline.hpp>
#include <spindle/detail/descriptor_stream.hpp>
#include <spindle/detail/socket_fd.hpp>
#include <spindle/net/unix_endpoint.hpp>
#include <system_error>
#include <utility>

namespace spindle::net {

class unix_stream : public detail::descriptor_stream {
 public:
  // A stream that is not open.
  unix_stream() noexcept;

  // Takes ownership of a connected, non-blocking Unix-domain stream socket.
  static unix_stream adopt(int fd) noexcept;

  // Connects to the listener at `ep`. Throws std::system_error:
  // no_such_file_or_directory (no socket at that path), connection_refused
  // (nobody listens there). While the listener's backlog is full (EAGAIN,
  // which no readiness announces) it tries again after a pause, 1 ms
  // doubling up to 100 ms.
  static unix_stream connect(const unix_endpoint& ep);
  // The same, giving up with std::errc::timed_out after `timeout`.
  template <class Rep, class Period>
  static unix_stream connect(const unix_endpoint& ep,
                             const std::chrono::duration<Rep, Period>& timeout) {
    return connect_within(ep, detail::to_clock_duration(timeout));
  }
  // connect(ep) without an exception for failures: the std::system_error
  // goes to `ec` (cleared on success) and the stream returned is not open.
  static unix_stream connect(const unix_endpoint& ep, std::error_code& ec);

  // Two streams connected to each other (socketpair).
  static std::pair<unix_stream, unix_stream> pair();

  // Sends end of stream: the peer's reads return 0; this side can still read.
  using descriptor_stream::shutdown_write;

  // The addresses of this end and of the peer (unnamed for a connecting end
  // and for both ends of a pair).
  unix_endpoint local_endpoint() const;
  unix_endpoint remote_endpoint() const;

 private:
  explicit unix_stream(detail::socket_fd sock) noexcept;
  static unix_stream connect_within(const unix_endpoint& ep, detail::clock::duration timeout);
};

}  // namespace spindle::net
