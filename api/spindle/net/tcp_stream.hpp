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
// may read while another writes, and close() may be called from any fiber or
// thread while they are inside calls: it wakes every call waiting on the
// stream, which then throws std::errc::operation_canceled, as does every
// call made after it (a call busy in the kernel at that moment may still
// return what it moved). The descriptor number is released only when the
// last call in progress leaves, so no call can ever reach another connection
// given the same number. A stream that never was open (default constructed,
// moved from) throws std::errc::bad_file_descriptor. Moving or destroying a
// stream while another fiber is inside a call on it is a bug (join that
// fiber first). See socket_fd.hpp.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <spindle/detail/deadline.hpp>
#include <spindle/detail/socket_fd.hpp>
#include <spindle/net/endpoint.hpp>
#include <string_view>
#include <system_error>
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
  // The same within `timeout` for the whole of it (the lookup and every
  // attempt): std::errc::timed_out once it has passed (see net::resolve for
  // what happens to a lookup that takes too long).
  template <class Rep, class Period>
  static tcp_stream connect(std::string_view host, std::uint16_t port,
                            const std::chrono::duration<Rep, Period>& timeout) {
    return connect_until(host, port, detail::deadline_after(timeout));
  }

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

  // The same calls without exceptions for failures of the connection, as
  // Asio's overloads: what the forms above throw as std::system_error is
  // stored in `ec` instead (cleared on success; end of stream in read_exact
  // is connection_aborted), and the bytes moved before it are returned.
  // Other exceptions (std::bad_alloc, a fiber unwound by ~runtime()) still
  // propagate. A client that resets its connection is routine for a server.
  static tcp_stream connect(const endpoint& ep, std::error_code& ec);
  std::size_t read_some(std::span<std::byte> buf, std::error_code& ec);
  std::size_t read_exact(std::span<std::byte> buf, std::error_code& ec);
  std::size_t write_some(std::span<const std::byte> data, std::error_code& ec);
  std::size_t write_all(std::span<const std::byte> data, std::error_code& ec);

  // One recv() / send() that never waits: what the socket has (takes) right
  // now. When that is nothing, returns 0 with ec ==
  // std::errc::operation_would_block; from try_read_some, 0 without an error
  // is the end of stream. A server can answer what the socket takes now and
  // hand the rest to a writer fiber. Errors go to `ec` as above.
  std::size_t try_read_some(std::span<std::byte> buf, std::error_code& ec);
  std::size_t try_write_some(std::span<const std::byte> data, std::error_code& ec);

  // Every later read_some, read_exact, write_some and write_all waits at most
  // `d` in all (counted from its first wait), then throws std::errc::timed_out;
  // bytes moved before that stay moved. Not synchronised with calls already
  // in progress. clear_timeout() (or a `d` beyond steady_clock's range) waits
  // without limit again; a `d` <= 0 times out at the first wait; a NaN `d`
  // throws std::invalid_argument. set_timeout(d) is set_read_timeout(d) and
  // set_write_timeout(d); clear_timeout() clears both.
  template <class Rep, class Period>
  void set_timeout(const std::chrono::duration<Rep, Period>& d) {
    read_timeout_ = write_timeout_ = detail::to_clock_duration(d);
  }
  void clear_timeout() noexcept { read_timeout_ = write_timeout_ = detail::no_timeout; }
  // The same for the reads alone (read_some, read_exact) or the writes alone
  // (write_some, write_all), so that a server can cut a client that sends
  // nothing without cutting a long reply to a client that reads slowly, or
  // the other way round. Each call counts only its own timeout, from its own
  // first wait. A `d` beyond steady_clock's range: that direction waits
  // without limit again.
  template <class Rep, class Period>
  void set_read_timeout(const std::chrono::duration<Rep, Period>& d) {
    read_timeout_ = detail::to_clock_duration(d);
  }
  template <class Rep, class Period>
  void set_write_timeout(const std::chrono::duration<Rep, Period>& d) {
    write_timeout_ = detail::to_clock_duration(d);
  }

  // Disables (true) or enables Nagle's algorithm (TCP_NODELAY).
  void set_no_delay(bool on);

  // Sends FIN: the peer reads end of stream; this side can still read.
  void shutdown_write();
  // Wakes every fiber or thread waiting on the stream and closes it (the
  // descriptor itself once no call is in progress). Idempotent; any thread.
  void close() noexcept { sock_.close(); }

  bool is_open() const noexcept { return sock_.get() >= 0; }
  // The descriptor (-1 once closed), for options and foreign calls; unlike
  // the stream's own calls, these are not protected against a concurrent
  // close(). Reading from it directly
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
  static tcp_stream connect_until(std::string_view host, std::uint16_t port,
                                  detail::clock::time_point deadline);
  void read_exact_counting(std::span<std::byte> buf, std::size_t& done);
  void write_all_counting(std::span<const std::byte> data, std::size_t& done);

  detail::socket_fd sock_;
  // The timeouts of reads and of writes; detail::no_timeout: none. Written by
  // the setters, read by the calls (not synchronised, as documented above).
  detail::clock::duration read_timeout_ = detail::no_timeout;
  detail::clock::duration write_timeout_ = detail::no_timeout;
  // The last recv() found the receive queue empty: the next read waits for
  // readiness before it calls recv() (runtime/net/tcp_stream.cpp, read_once).
  // Touched only by the one fiber reading.
  bool read_drained_ = false;
};

}  // namespace spindle::net
