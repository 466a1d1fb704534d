// descriptor_stream: the byte-stream calls every spindle stream shares --
// net::tcp_stream, net::unix_stream and net::fd_stream are each one of these
// plus how it is opened (connect, accept, socketpair, adopt) and what only it
// has (addresses, TCP_NODELAY). The IO is written once, here and in
// runtime/net/descriptor_stream.cpp, over socket_fd and the one retry loop
// (runtime/net/socket_call.hpp).
//
// Every call tries the system call first and waits for readiness only when it
// would block. Errors throw std::system_error carrying the errno value as a
// std::generic_category() code (`e.code() == std::errc::connection_reset`);
// end of stream is not an error: read_some returns 0. Error messages name
// the public type and call ("spindle::net::unix_stream::read_some").
//
// A move-only owner of its descriptor: the destructor closes it. One fiber
// may read while another writes, and close() may be called from any fiber or
// thread while they are inside calls: it wakes every call waiting on the
// stream, which then throws std::errc::operation_canceled, as does every
// call made after it (a call busy in the kernel at that moment may still
// return what it moved). The descriptor number is released only when the
// last call in progress leaves, so no call can ever reach another descriptor
// given the same number. A stream that never was open (default constructed,
// moved from) throws std::errc::bad_file_descriptor. Moving or destroying a
// stream while another fiber is inside a call on it is a bug (join that
// fiber first). A stream may outlive the runtime its calls waited in
// (socket_fd.hpp). Calls from a plain thread outside any runtime block that
// thread (poll(2)).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <spindle/detail/deadline.hpp>
#include <spindle/detail/socket_fd.hpp>
#include <string_view>
#include <system_error>
#include <utility>

namespace spindle::detail {

// How a stream moves bytes; fixed when it is made (fd_stream::adopt looks).
enum class stream_kind : std::uint8_t {
  // A SOCK_STREAM socket: recv / send(MSG_NOSIGNAL). A recv() that stops
  // short found the receive queue empty, so the next read waits first.
  stream_socket,
  // Any other socket (datagram, seqpacket): read / send(MSG_NOSIGNAL).
  other_socket,
  // A pipe or FIFO: read / write with SIGPIPE held back. A short read found
  // the pipe empty, as for a stream socket.
  pipe,
  // Anything else that can be polled (tty, eventfd, character device):
  // read / write. A short read proves nothing (a tty hands out a line at a
  // time), so every read calls read() first.
  other,
};

// "spindle::net::<type>::<call>" for each call of a stream type, built at
// compile time (runtime/net/stream_names.hpp).
struct stream_names;

// One call's deadline (runtime/io/call_deadline.hpp).
class call_deadline;

class descriptor_stream {
 public:
  // Reads what is available, waiting until at least one byte is; returns the
  // count, or 0 at end of stream (or for an empty buffer).
  std::size_t read_some(std::span<std::byte> buf);
  // Fills `buf` completely; end of stream first throws std::system_error
  // with std::errc::connection_aborted.
  void read_exact(std::span<std::byte> buf);

  // Writes what the descriptor takes, waiting until it takes at least one byte.
  std::size_t write_some(std::span<const std::byte> data);
  // Writes everything (partial writes and EINTR are retried; a closed peer
  // or a pipe without a reader throws broken_pipe (or connection_reset), it
  // never raises SIGPIPE).
  void write_all(std::span<const std::byte> data);
  void write_all(std::string_view text);

  // The same calls without exceptions for failures of the connection, as
  // Asio's overloads: what the forms above throw as std::system_error is
  // stored in `ec` instead (cleared on success; end of stream in read_exact
  // is connection_aborted), and the bytes moved before it are returned.
  // Other exceptions (std::bad_alloc, spindle::cancelled, a fiber unwound by
  // ~runtime()) still propagate. A client that resets its connection is
  // routine for a server.
  std::size_t read_some(std::span<std::byte> buf, std::error_code& ec);
  std::size_t read_exact(std::span<std::byte> buf, std::error_code& ec);
  std::size_t write_some(std::span<const std::byte> data, std::error_code& ec);
  std::size_t write_all(std::span<const std::byte> data, std::error_code& ec);

  // One read / write that never waits: what the descriptor has (takes) right
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
    read_timeout_ = write_timeout_ = to_clock_duration(d);
  }
  void clear_timeout() noexcept { read_timeout_ = write_timeout_ = no_timeout; }
  // The same for the reads alone (read_some, read_exact) or the writes alone
  // (write_some, write_all), so that a server can cut a client that sends
  // nothing without cutting a long reply to a client that reads slowly, or
  // the other way round. Each call counts only its own timeout, from its own
  // first wait. A `d` beyond steady_clock's range: that direction waits
  // without limit again.
  template <class Rep, class Period>
  void set_read_timeout(const std::chrono::duration<Rep, Period>& d) {
    read_timeout_ = to_clock_duration(d);
  }
  template <class Rep, class Period>
  void set_write_timeout(const std::chrono::duration<Rep, Period>& d) {
    write_timeout_ = to_clock_duration(d);
  }

  // Wakes every fiber or thread waiting on the stream and closes it (the
  // descriptor itself once no call is in progress). Idempotent; any thread.
  void close() noexcept { sock_.close(); }

  bool is_open() const noexcept { return sock_.get() >= 0; }
  // The descriptor (-1 once closed), for options and foreign calls; unlike
  // the stream's own calls, these are not protected against a concurrent
  // close(). Reading from it directly is allowed, but read it until EAGAIN
  // before the next read_some: after a short read, read_some may wait for
  // new data before it reads (which saves a system call per message), so
  // bytes left behind by a foreign read would wait for the next arrival.
  int native_handle() const noexcept { return sock_.get(); }

 protected:
  // A stream that is not open; `names` has static storage duration.
  descriptor_stream(const stream_names& names, stream_kind kind) noexcept
      : names_(&names), kind_(kind) {}
  descriptor_stream(socket_fd sock, const stream_names& names, stream_kind kind) noexcept
      : sock_(std::move(sock)), names_(&names), kind_(kind) {}

  // Sends FIN (shutdown(SHUT_WR)): the peer reads end of stream; this side
  // can still read. Public in the socket streams only.
  void shutdown_write();

  // Touched by the derived types' own calls (addresses, options) under a use.
  socket_fd sock_;

 private:
  void read_exact_counting(std::span<std::byte> buf, std::size_t& done);
  void write_all_counting(std::span<const std::byte> data, std::size_t& done);
  std::size_t read_once(const socket_fd::use& use, std::span<std::byte> buf,
                        call_deadline& deadline, const char* what);
  std::size_t write_once(const socket_fd::use& use, std::span<const std::byte> data,
                         call_deadline& deadline, const char* what);

  const stream_names* names_;
  // The timeouts of reads and of writes; no_timeout: none. Written by the
  // setters, read by the calls (not synchronised, as documented above).
  clock::duration read_timeout_ = no_timeout;
  clock::duration write_timeout_ = no_timeout;
  stream_kind kind_;
  // The last read found the receive queue empty: the next read waits for
  // readiness before it reads (runtime/net/descriptor_stream.cpp,
  // read_once). Never set for stream_kind::other_socket and ::other.
  // Touched only by the one fiber reading.
  bool read_drained_ = false;
};

}  // namespace spindle::detail
