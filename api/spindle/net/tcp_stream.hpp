// spindle::net::tcp_stream: a connected TCP socket whose calls block only the
// calling fiber (a plain thread outside any runtime simply blocks).
//
//   auto s = tcp_stream::connect(endpoint::parse("127.0.0.1:8080"));
//   s.write_all("ping");
//   std::array<std::byte, 4> buf;
//   s.read_exact(buf);
//
// Every call tries the system call first and waits for readiness only when it
// would block. Errors throw std::system_error carrying the errno value as a
// std::generic_category() code (`e.code() == std::errc::connection_reset`);
// end of stream is not an error: read_some returns 0.
//
// A move-only owner of its descriptor: the destructor closes it. One fiber
// may read while another writes; close() from any fiber or thread wakes a
// fiber blocked on the stream, whose call then throws
// std::errc::operation_canceled (later calls: std::errc::bad_file_descriptor).
// An attached stream must be closed before its runtime is destroyed (see
// socket_fd.hpp).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <spindle/detail/deadline.hpp>
#include <spindle/net/endpoint.hpp>
#include <spindle/net/socket_fd.hpp>
#include <string_view>
#include <utility>

namespace spindle::net {

class tcp_stream {
 public:
  // A stream that is not open.
  tcp_stream() noexcept = default;

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

  // Reads what is available, waiting until at least one byte is; returns the
  // count, or 0 at end of stream (or for an empty buffer).
  std::size_t read_some(std::span<std::byte> buf);
  // Fills `buf` completely; end of stream first throws std::system_error
  // with std::errc::connection_aborted.
  void read_exact(std::span<std::byte> buf);

  // Writes what the socket takes, waiting until it takes at least one byte.
  std::size_t write_some(std::span<const std::byte> data);
  // Writes everything (partial writes and EINTR are retried; a closed peer
  // throws, it never raises SIGPIPE).
  void write_all(std::span<const std::byte> data);
  void write_all(std::string_view text);

  // Every later read_some, read_exact, write_some and write_all waits at most
  // `d` in all (counted from its first wait), then throws std::errc::timed_out;
  // bytes moved before that stay moved. Not synchronised with calls already
  // in progress. clear_timeout() (or a `d` beyond steady_clock's range) waits
  // without limit again; a `d` <= 0 times out at the first wait; a NaN `d`
  // throws std::invalid_argument.
  template <class Rep, class Period>
  void set_timeout(const std::chrono::duration<Rep, Period>& d) {
    timeout_ = detail::to_clock_duration(d);
  }
  void clear_timeout() noexcept { timeout_ = detail::clock::duration::max(); }

  // Disables (true) or enables Nagle's algorithm (TCP_NODELAY).
  void set_no_delay(bool on);

  // Sends FIN: the peer reads end of stream; this side can still read.
  void shutdown_write();
  // Wakes every fiber waiting on the stream and closes it. Idempotent.
  void close() noexcept { sock_.close(); }

  bool is_open() const noexcept { return sock_.get() >= 0; }
  // The descriptor, for options and foreign calls. Reading from it directly
  // is allowed, but read it until EAGAIN before the next read_some: after a
  // short read, read_some waits for new data before calling recv() (which
  // saves a system call per message), so bytes left behind by a foreign read
  // would wait for the next arrival.
  int native_handle() const noexcept { return sock_.get(); }
  endpoint local_endpoint() const;
  endpoint remote_endpoint() const;

 private:
  explicit tcp_stream(detail::socket_fd sock) noexcept : sock_(std::move(sock)) {}
  static tcp_stream connect_within(const endpoint& ep, detail::clock::duration timeout);

  detail::socket_fd sock_;
  detail::clock::duration timeout_ = detail::clock::duration::max();  // max: none
  // The last recv() found the receive queue empty: the next read waits for
  // readiness before it calls recv() (runtime/tcp_stream.cpp, read_once).
  // Touched only by the one fiber reading.
  bool read_drained_ = false;
};

}  // namespace spindle::net
