// spindle::net::tcp_stream: a connected TCP socket whose calls block only the
// calling fiber (a plain thread outside any runtime simply blocks).
//
//   auto s = tcp_stream::connect(endpoint::parse("127.0.0.1:8080"));
//   s.write_all("ping");
//   std::array<std::byte, 4> buf;
//   s.read_exact(buf);
//
// The reads, writes, error_code and try_ forms, timeouts and close() are
// those of every spindle stream (detail/descriptor_stream.hpp): errors are
// std::system_error with the errno value as a std::generic_category() code,
// end of stream is not an error (read_some returns 0), close() from any
// fiber or thread wakes every call on the stream with
// std::errc::operation_canceled. A stream may outlive its runtime.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <spindle/detail/deadline.hpp>
#include <spindle/detail/descriptor_stream.hpp>
#include <spindle/detail/socket_fd.hpp>
#include <spindle/net/endpoint.hpp>
#include <string_view>
#include <system_error>
#include <utility>

namespace spindle::net {

class tcp_stream : public detail::descriptor_stream {
 public:
  // A stream that is not open.
  tcp_stream() noexcept;

  // Takes ownership of a connected, non-blocking stream socket.
  static tcp_stream adopt(int fd) noexcept;

  // Connects to `ep`. Throws std::system_error (e.g. connection_refused).
  static tcp_stream connect(const endpoint& ep);
  // The same, giving up with std::errc::timed_out after `timeout`.
  template <class Rep, class Period>
  static tcp_stream connect(const endpoint& ep, const std::chrono::duration<Rep, Period>& timeout) {
    return connect_within(ep, detail::to_clock_duration(timeout));
  }
  // Resolves `host` (net::resolve, on the blocking pool) and tries every
  // address in turn; throws the last address's error if none connects.
  static tcp_stream connect(std::string_view host, std::uint16_t port);
  // The same within `timeout` for the whole of it (the lookup and every
  // attempt): std::errc::timed_out once it has passed (see net::resolve for
  // what happens to a lookup that takes too long).
  template <class Rep, class Period>
  static tcp_stream connect(std::string_view host, std::uint16_t port,
                            const std::chrono::duration<Rep, Period>& timeout) {
    return connect_until(host, port, detail::deadline_after(timeout));
  }

  // connect(ep) without an exception for failures: the std::system_error
  // goes to `ec` (cleared on success) and the stream returned is not open.
  static tcp_stream connect(const endpoint& ep, std::error_code& ec);

  // Disables (true) or enables Nagle's algorithm (TCP_NODELAY).
  void set_no_delay(bool on);

  // Sends FIN: the peer reads end of stream; this side can still read.
  using descriptor_stream::shutdown_write;

  endpoint local_endpoint() const;
  endpoint remote_endpoint() const;

 private:
  explicit tcp_stream(detail::socket_fd sock) noexcept;
  static tcp_stream connect_within(const endpoint& ep, detail::clock::duration timeout);
  static tcp_stream connect_until(std::string_view host, std::uint16_t port,
                                  detail::clock::time_point deadline);
};

}  // namespace spindle::net
