// tcp_stream: connect (by address or by name), TCP options and addresses;
// the reads and writes are descriptor_stream's.
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
#include "net/stream_names.hpp"

namespace spindle::net {

using detail::io_dir;
using detail::throw_errno;

namespace {

constexpr detail::stream_names names = detail::stream_names::of("spindle::net::tcp_stream");

}  // namespace

tcp_stream::tcp_stream() noexcept : descriptor_stream(names, detail::stream_kind::stream_socket) {}

tcp_stream::tcp_stream(detail::socket_fd sock) noexcept
    : descriptor_stream(std::move(sock), names, detail::stream_kind::stream_socket) {}

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

tcp_stream tcp_stream::connect(const endpoint& ep, std::error_code& ec) {
  tcp_stream s;
  detail::into_error_code(ec, [&] { s = connect(ep); });
  return s;
}

void tcp_stream::set_no_delay(bool on) {
  constexpr const char* what = "spindle::net::tcp_stream::set_no_delay";
  const detail::socket_fd::use use(sock_, what);
  detail::set_int_option(use.fd(), IPPROTO_TCP, TCP_NODELAY, on ? 1 : 0, what);
}

endpoint tcp_stream::local_endpoint() const {
  constexpr const char* what = "spindle::net::tcp_stream::local_endpoint";
  const detail::socket_fd::use use(sock_, what);
  return detail::local_endpoint_of<endpoint>(use.fd(), what);
}

endpoint tcp_stream::remote_endpoint() const {
  constexpr const char* what = "spindle::net::tcp_stream::remote_endpoint";
  const detail::socket_fd::use use(sock_, what);
  return detail::peer_endpoint_of<endpoint>(use.fd(), what);
}

}  // namespace spindle::net
