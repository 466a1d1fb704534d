// tcp_stream: connect, read and write with the try-then-wait pattern.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <exception>
#include <spindle/net/resolve.hpp>
#include <spindle/net/tcp_stream.hpp>
#include <string>
#include <utility>

#include "io/call_deadline.hpp"
#include "net/socket_call.hpp"
#include "net/socket_ops.hpp"

namespace spindle::net {

namespace {

using detail::io_dir;
using detail::throw_errno;

constexpr const char* read_what = "spindle::net::tcp_stream::read_some";
constexpr const char* write_what = "spindle::net::tcp_stream::write_all";

// Whether a recv() that returned `n` for `asked` bytes leaves the receive
// queue empty, so that the next read waits before it calls recv() (see
// read_once): it would have blocked, or it stopped short. Not after end of
// stream (n == 0): that is reported again at once.
constexpr bool drained_after(ssize_t n, std::size_t asked) noexcept {
  return n < 0 || (n > 0 && static_cast<std::size_t>(n) < asked);
}

// One recv() that waits as long as it would block. 0 = end of stream.
//
// `drained` saves the recv() that would only say EAGAIN (~1 us, reference machine; the
// echo and http workloads pay it once per request otherwise). It is set when a
// recv() returned less than asked: the receive queue was empty then (a
// non-blocking TCP recv on Linux stops short only when it is; segments that
// arrived meanwhile sit in the socket backlog and are queued on release_sock,
// with a wake-up of their own). Anything arriving later -- data, FIN, RST --
// wakes the socket, which is an edge for the reactor (or readable for poll(2)
// outside a runtime), so the next read may wait first. A stale edge only
// makes that wait return at once and the EAGAIN is paid after all. What
// arrived *with* the data the short read took is the one case left: a FIN
// (or an error) in the same edge stops the read short and leaves no edge to
// come, so the reactor keeps hang-ups reported for good (reactor.hpp). Tokio
// clears readiness on a short read, but never its READ_CLOSED, likewise.
//
// `use` holds the descriptor open (socket_fd.hpp): a close() meanwhile wakes
// the wait and the next one throws operation_canceled, but the number is
// never another socket's.
std::size_t read_once(detail::socket_fd& sock, const detail::socket_fd::use& use,
                      std::span<std::byte> buf, detail::call_deadline& deadline, bool& drained,
                      const char* what) {
  if (buf.empty()) return 0;
  if (std::exchange(drained, false)) {
    detail::wait_or_time_out(sock, io_dir::read, deadline.get(), what);
  }
  const std::size_t n = detail::retry(sock, io_dir::read, deadline, what,
                                      [&] { return ::recv(use.fd(), buf.data(), buf.size(), 0); });
  drained = drained_after(static_cast<ssize_t>(n), buf.size());
  return n;
}

// One send() that waits as long as the socket takes nothing.
std::size_t write_once(detail::socket_fd& sock, const detail::socket_fd::use& use,
                       std::span<const std::byte> data, detail::call_deadline& deadline,
                       const char* what) {
  if (data.empty()) return 0;
  return detail::retry(sock, io_dir::write, deadline, what, [&] {
    return ::send(use.fd(), data.data(), data.size(), detail::send_flags);
  });
}

}  // namespace

tcp_stream tcp_stream::adopt(int fd) noexcept {
  return tcp_stream(detail::socket_fd(fd));
}

tcp_stream tcp_stream::connect(const endpoint& ep) {
  return connect_within(ep, detail::no_timeout);
}

namespace {

// "what address", built with append() (see endpoint.cpp on GCC PR 105329).
std::string describe(const char* what, const endpoint& ep) {
  std::string s = what;
  s.append(" ").append(ep.to_string());
  return s;
}

}  // namespace

tcp_stream tcp_stream::connect_within(const endpoint& ep, detail::clock::duration timeout) {
  constexpr const char* what = "spindle::net::tcp_stream::connect";
  detail::socket_fd sock(detail::open_socket(ep.family(), SOCK_STREAM, what));
  if (::connect(sock.get(), ep.data(), ep.size()) == 0) return tcp_stream(std::move(sock));
  // EINTR: the connection attempt goes on asynchronously, as EINPROGRESS.
  if (const int err = detail::last_error(); err != EINPROGRESS && err != EINTR) {
    throw_errno(err, describe(what, ep));
  }
  // The attempt goes on in the kernel; the socket turns writable when it is
  // over, and its outcome is what retry() tries, "would block" as long as
  // it is still in progress (after a spurious wake-up).
  const std::string where = describe(what, ep);
  detail::call_deadline deadline(timeout);
  detail::wait_or_time_out(sock, io_dir::write, deadline.get(), where.c_str(),
                           detail::wait_kind::io_connect);
  detail::retry(
      sock, io_dir::write, deadline, where.c_str(),
      [&]() -> ssize_t {
        int err = 0;
        socklen_t len = sizeof err;
        if (::getsockopt(sock.get(), SOL_SOCKET, SO_ERROR, &err, &len) < 0) return -1;
        if (err != 0) {
          errno = err;
          return -1;
        }
        // No error is also what an attempt still in progress reports: only a
        // peer address proves the connection.
        sockaddr_storage peer{};
        len = sizeof peer;
        if (::getpeername(sock.get(), reinterpret_cast<sockaddr*>(&peer), &len) == 0) return 0;
        if (errno == ENOTCONN) errno = EAGAIN;
        return -1;
      },
      detail::wait_kind::io_connect);
  return tcp_stream(std::move(sock));
}

tcp_stream tcp_stream::connect(std::string_view host, std::uint16_t port) {
  return connect_until(host, port, detail::no_deadline);
}

// One deadline for the lookup and every attempt.
tcp_stream tcp_stream::connect_until(std::string_view host, std::uint16_t port,
                                     detail::clock::time_point deadline) {
  std::exception_ptr last;
  for (const endpoint& ep : detail::resolve_until(host, port, deadline)) {
    try {
      if (deadline == detail::no_deadline) return connect(ep);
      // Saturating: a deadline already past leaves a zero timeout (timed_out at once).
      const detail::clock::time_point now = detail::clock::now();
      return connect_within(ep, deadline > now ? deadline - now : detail::clock::duration::zero());
    } catch (const std::system_error&) {
      last = std::current_exception();
    }
  }
  std::rethrow_exception(last);  // resolve() returns at least one endpoint
}

std::size_t tcp_stream::read_some(std::span<std::byte> buf) {
  const detail::socket_fd::use use(sock_, read_what);
  detail::call_deadline deadline(read_timeout_);
  return read_once(sock_, use, buf, deadline, read_drained_, read_what);
}

void tcp_stream::read_exact(std::span<std::byte> buf) {
  std::size_t done = 0;
  read_exact_counting(buf, done);
}

// `done` counts the bytes read so far, for the error_code form.
void tcp_stream::read_exact_counting(std::span<std::byte> buf, std::size_t& done) {
  constexpr const char* what = "spindle::net::tcp_stream::read_exact";
  const detail::socket_fd::use use(sock_, what);
  detail::call_deadline deadline(read_timeout_);
  while (done < buf.size()) {
    const std::size_t n = read_once(sock_, use, buf.subspan(done), deadline, read_drained_, what);
    if (n == 0) throw_errno(ECONNABORTED, what);
    done += n;
  }
}

std::size_t tcp_stream::write_some(std::span<const std::byte> data) {
  constexpr const char* what = "spindle::net::tcp_stream::write_some";
  const detail::socket_fd::use use(sock_, what);
  detail::call_deadline deadline(write_timeout_);
  return write_once(sock_, use, data, deadline, what);
}

void tcp_stream::write_all(std::span<const std::byte> data) {
  std::size_t done = 0;
  write_all_counting(data, done);
}

// `done` counts the bytes written so far, for the error_code form.
void tcp_stream::write_all_counting(std::span<const std::byte> data, std::size_t& done) {
  const detail::socket_fd::use use(sock_, write_what);
  detail::call_deadline deadline(write_timeout_);
  while (done < data.size()) {
    done += write_once(sock_, use, data.subspan(done), deadline, write_what);
  }
}

tcp_stream tcp_stream::connect(const endpoint& ep, std::error_code& ec) {
  tcp_stream s;
  detail::into_error_code(ec, [&] { s = connect(ep); });
  return s;
}

std::size_t tcp_stream::read_some(std::span<std::byte> buf, std::error_code& ec) {
  std::size_t n = 0;
  detail::into_error_code(ec, [&] { n = read_some(buf); });
  return n;
}

std::size_t tcp_stream::read_exact(std::span<std::byte> buf, std::error_code& ec) {
  std::size_t done = 0;
  detail::into_error_code(ec, [&] { read_exact_counting(buf, done); });
  return done;
}

std::size_t tcp_stream::write_some(std::span<const std::byte> data, std::error_code& ec) {
  std::size_t n = 0;
  detail::into_error_code(ec, [&] { n = write_some(data); });
  return n;
}

std::size_t tcp_stream::write_all(std::span<const std::byte> data, std::error_code& ec) {
  std::size_t done = 0;
  detail::into_error_code(ec, [&] { write_all_counting(data, done); });
  return done;
}

std::size_t tcp_stream::try_read_some(std::span<std::byte> buf, std::error_code& ec) {
  constexpr const char* what = "spindle::net::tcp_stream::try_read_some";
  std::size_t n = 0;
  detail::into_error_code(ec, [&] {
    const detail::socket_fd::use use(sock_, what);
    if (buf.empty()) return;
    const ssize_t r =
        detail::try_once(what, [&] { return ::recv(use.fd(), buf.data(), buf.size(), 0); });
    read_drained_ = drained_after(r, buf.size());  // as read_once
    if (r < 0) {
      ec = std::make_error_code(std::errc::operation_would_block);
      return;
    }
    n = static_cast<std::size_t>(r);
  });
  return n;
}

std::size_t tcp_stream::try_write_some(std::span<const std::byte> data, std::error_code& ec) {
  constexpr const char* what = "spindle::net::tcp_stream::try_write_some";
  std::size_t n = 0;
  detail::into_error_code(ec, [&] {
    const detail::socket_fd::use use(sock_, what);
    if (data.empty()) return;
    const ssize_t r = detail::try_once(
        what, [&] { return ::send(use.fd(), data.data(), data.size(), detail::send_flags); });
    if (r < 0) {
      ec = std::make_error_code(std::errc::operation_would_block);
      return;
    }
    n = static_cast<std::size_t>(r);
  });
  return n;
}

void tcp_stream::write_all(std::string_view text) {
  write_all(std::as_bytes(std::span<const char>(text.data(), text.size())));
}

void tcp_stream::set_no_delay(bool on) {
  constexpr const char* what = "spindle::net::tcp_stream::set_no_delay";
  const detail::socket_fd::use use(sock_, what);
  detail::set_int_option(use.fd(), IPPROTO_TCP, TCP_NODELAY, on ? 1 : 0, what);
}

void tcp_stream::shutdown_write() {
  constexpr const char* what = "spindle::net::tcp_stream::shutdown_write";
  const detail::socket_fd::use use(sock_, what);
  if (::shutdown(use.fd(), SHUT_WR) < 0) throw_errno(detail::last_error(), what);
}

endpoint tcp_stream::local_endpoint() const {
  constexpr const char* what = "spindle::net::tcp_stream::local_endpoint";
  const detail::socket_fd::use use(sock_, what);
  return detail::local_endpoint_of(use.fd(), what);
}

endpoint tcp_stream::remote_endpoint() const {
  constexpr const char* what = "spindle::net::tcp_stream::remote_endpoint";
  const detail::socket_fd::use use(sock_, what);
  return detail::peer_endpoint_of(use.fd(), what);
}

}  // namespace spindle::net
