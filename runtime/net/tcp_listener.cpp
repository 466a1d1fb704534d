// tcp_listener: bind, and accept with a back-off when descriptors run out.
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <spindle/net/tcp_listener.hpp>

#include "io/call_deadline.hpp"
#include "net/socket_call.hpp"
#include "net/socket_ops.hpp"

namespace spindle::net {

namespace {

using detail::clock;
using detail::throw_errno;

constexpr const char* accept_what = "spindle::net::tcp_listener::accept";

// Errors of one pending connection (it was reset or its route vanished
// before accept got to it), not of the listener: the next one may be fine.
bool is_per_connection_error(int err) noexcept {
  switch (err) {
    case ECONNABORTED:
    case EPROTO:
    case ENETDOWN:
    case ENETUNREACH:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
#ifdef __linux__  // accept(2) on Linux passes these through from the new socket
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
#endif
      return true;
    default:
      return false;
  }
}

// Out of descriptors or kernel memory: only time (other connections
// closing) helps.
bool is_resource_error(int err) noexcept {
  return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

}  // namespace

tcp_listener tcp_listener::bind(const endpoint& ep, int backlog) {
  const std::string what = "spindle::net::tcp_listener::bind " + ep.to_string();
  detail::socket_fd sock(detail::open_socket(ep.family(), SOCK_STREAM, what.c_str()));
  detail::set_int_option(sock.get(), SOL_SOCKET, SO_REUSEADDR, 1, what.c_str());
  if (::bind(sock.get(), ep.data(), ep.size()) < 0) throw_errno(detail::last_error(), what);
  if (::listen(sock.get(), backlog) < 0) throw_errno(detail::last_error(), what);
  return tcp_listener(std::move(sock));
}

tcp_stream tcp_listener::accept() {
  constexpr clock::duration first_back_off = std::chrono::milliseconds(5);
  constexpr clock::duration max_back_off = std::chrono::seconds(1);
  clock::duration back_off_for = first_back_off;
  // Holds the listening descriptor open (socket_fd.hpp): after a close() the
  // wait throws operation_canceled; the number is never another's.
  const detail::socket_fd::use use(sock_, accept_what);
  detail::call_deadline no_limit(detail::no_timeout);
  // One accept, as retry() sees it: the errors of one pending connection are
  // passed over, and out of descriptors it backs off (a close() cuts that
  // short too) and tries again; what is left is EAGAIN (wait) or a failure.
  const std::size_t accepted = detail::retry(
      sock_, detail::io_dir::read, no_limit, accept_what,
      [&]() -> ssize_t {
        for (;;) {
          const int fd = detail::accept_socket(use.fd());
          if (fd >= 0) return fd;
          const int err = detail::last_error();
          if (is_per_connection_error(err)) continue;
          if (!is_resource_error(err)) return -1;  // errno is still err
          sock_.pause_until(clock::now() + back_off_for, accept_what);
          back_off_for = std::min(back_off_for * 2, max_back_off);
        }
      },
      detail::wait_kind::io_accept);
  return tcp_stream::adopt(static_cast<int>(accepted));
}

tcp_stream tcp_listener::accept(std::error_code& ec) {
  tcp_stream s;
  detail::into_error_code(ec, [&] { s = accept(); });
  return s;
}

endpoint tcp_listener::local_endpoint() const {
  constexpr const char* what = "spindle::net::tcp_listener::local_endpoint";
  const detail::socket_fd::use use(sock_, what);
  return detail::local_endpoint_of(use.fd(), what);
}

}  // namespace spindle::net
