// tcp_listener: bind, and accept with a back-off when descriptors run out.
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <spindle/net/tcp_listener.hpp>
#include <spindle/runtime.hpp>
#include <thread>

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

// Waits until `until` without spinning; a close() meanwhile throws
// operation_canceled. In a fiber this is a wait for readability that ignores
// the readiness it sees (the pending connection is what cannot be accepted),
// so close() can cut it short; a plain thread sleeps in slices and looks at
// the closed bit in between, as its readiness waits do (socket_fd.hpp).
void back_off(detail::socket_fd& sock, clock::time_point until) {
  if (!detail::current_runtime()) {
    for (;;) {
      if (sock.closed()) throw_errno(ECANCELED, accept_what);
      const clock::time_point now = clock::now();
      if (now >= until) return;
      std::this_thread::sleep_for(
          std::min<clock::duration>(until - now, detail::socket_fd::close_check_interval));
    }
  }
  while (sock.wait_readable(until, accept_what)) {
  }
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
  // wait below throws operation_canceled; the number is never another's.
  const detail::socket_fd::use use(sock_, accept_what);
  for (;;) {
    const int fd = detail::accept_socket(use.fd());
    if (fd >= 0) return tcp_stream::adopt(fd);
    const int err = detail::last_error();
    if (err == EINTR || is_per_connection_error(err)) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      sock_.wait_readable(detail::no_deadline, accept_what);
    } else if (is_resource_error(err)) {
      back_off(sock_, clock::now() + back_off_for);
      back_off_for = std::min(back_off_for * 2, max_back_off);
    } else {
      throw_errno(err, accept_what);
    }
  }
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
