// unix_stream: connect, socketpair and addresses; the reads and writes are
// descriptor_stream's.
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <spindle/detail/fiber.hpp>
#include <spindle/net/unix_stream.hpp>
#include <spindle/this_fiber.hpp>
#include <string>
#include <thread>
#include <utility>

#include "io/call_deadline.hpp"
#include "net/socket_ops.hpp"
#include "net/stream_names.hpp"

namespace spindle::net {

using detail::throw_errno;

namespace {

constexpr detail::stream_names names = detail::stream_names::of("spindle::net::unix_stream");

// Sleeps until `until`: the fiber parks (a cancellation ends the sleep with
// spindle::cancelled), a plain thread sleeps.
void pause_until(detail::clock::time_point until) {
  if (detail::current_fiber()) {
    this_fiber::sleep_until(until);
  } else {
    std::this_thread::sleep_until(until);
  }
}

}  // namespace

unix_stream::unix_stream() noexcept
    : descriptor_stream(names, detail::stream_kind::stream_socket) {}

unix_stream::unix_stream(detail::socket_fd sock) noexcept
    : descriptor_stream(std::move(sock), names, detail::stream_kind::stream_socket) {}

unix_stream unix_stream::adopt(int fd) noexcept {
  return unix_stream(detail::socket_fd(fd));
}

unix_stream unix_stream::connect(const unix_endpoint& ep) {
  return connect_within(ep, detail::no_timeout);
}

// A Unix-domain connect never goes on in the background: it is done (or
// refused) at once, or the listener's backlog is full (EAGAIN). The socket
// must not wait in the reactor before it is connected: an unconnected
// stream socket reports a hang-up, which the reactor would keep for good
// (reactor.hpp). So a full backlog is met with pauses, not readiness waits.
unix_stream unix_stream::connect_within(const unix_endpoint& ep, detail::clock::duration timeout) {
  std::string what = "spindle::net::unix_stream::connect ";
  what.append(ep.to_string());
  detail::socket_fd sock(detail::open_socket(AF_UNIX, SOCK_STREAM, what.c_str()));
  detail::call_deadline deadline(timeout);
  detail::clock::duration back_off = std::chrono::milliseconds(1);
  for (;;) {
    if (::connect(sock.get(), ep.data(), ep.size()) == 0) return unix_stream(std::move(sock));
    const int err = detail::last_error();
    if (err == EINTR) continue;
    if (err != EAGAIN) throw_errno(err, what);
    const detail::clock::time_point now = detail::clock::now();
    if (now >= deadline.get()) throw_errno(ETIMEDOUT, what);
    pause_until(std::min(deadline.get(), now + back_off));
    back_off = std::min<detail::clock::duration>(back_off * 2, std::chrono::milliseconds(100));
  }
}

unix_stream unix_stream::connect(const unix_endpoint& ep, std::error_code& ec) {
  unix_stream s;
  detail::into_error_code(ec, [&] { s = connect(ep); });
  return s;
}

std::pair<unix_stream, unix_stream> unix_stream::pair() {
  int fds[2];
  detail::open_socket_pair(AF_UNIX, SOCK_STREAM, fds, "spindle::net::unix_stream::pair");
  return {adopt(fds[0]), adopt(fds[1])};
}

unix_endpoint unix_stream::local_endpoint() const {
  constexpr const char* what = "spindle::net::unix_stream::local_endpoint";
  const detail::socket_fd::use use(sock_, what);
  return detail::local_endpoint_of<unix_endpoint>(use.fd(), what);
}

unix_endpoint unix_stream::remote_endpoint() const {
  constexpr const char* what = "spindle::net::unix_stream::remote_endpoint";
  const detail::socket_fd::use use(sock_, what);
  return detail::peer_endpoint_of<unix_endpoint>(use.fd(), what);
}

}  // namespace spindle::net
