// tcp_listener: bind, and accept with a back-off when descriptors run out.
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <spindle/net/tcp_listener.hpp>
#include <spindle/runtime.hpp>
#include <thread>

#include "socket_ops.hpp"

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
// so close() can cut it short; a plain thread just sleeps.
void back_off(detail::socket_fd& sock, clock::time_point until) {
  if (!detail::current_runtime()) {
    std::this_thread::sleep_until(until);
    return;
  }
  while (sock.wait_readable(&until, accept_what)) {
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
  for (;;) {
    const int listen_fd = sock_.get();
    if (listen_fd < 0) throw_errno(EBADF, accept_what);
    const int fd = detail::accept_socket(listen_fd);
    if (fd >= 0) return tcp_stream::adopt(fd);
    const int err = detail::last_error();
    if (err == EINTR || is_per_connection_error(err)) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      sock_.wait_readable(nullptr, accept_what);
    } else if (is_resource_error(err)) {
      back_off(sock_, clock::now() + back_off_for);
      back_off_for = std::min(back_off_for * 2, max_back_off);
    } else {
      throw_errno(err, accept_what);
    }
  }
}

endpoint tcp_listener::local_endpoint() const {
  return detail::local_endpoint_of(sock_.get(), "spindle::net::tcp_listener::local_endpoint");
}

}  // namespace spindle::net
