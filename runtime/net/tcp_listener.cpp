// tcp_listener: bind and listen; accept is accept_loop's.
#include <sys/socket.h>

#include <cerrno>
#include <spindle/net/tcp_listener.hpp>

#include "net/accept_loop.hpp"
#include "net/socket_ops.hpp"

namespace spindle::net {

namespace {

using detail::throw_errno;

constexpr const char* accept_what = "spindle::net::tcp_listener::accept";

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
  return tcp_stream::adopt(detail::accept_with_back_off(sock_, accept_what));
}

tcp_stream tcp_listener::accept(std::error_code& ec) {
  tcp_stream s;
  detail::into_error_code(ec, [&] { s = accept(); });
  return s;
}

endpoint tcp_listener::local_endpoint() const {
  constexpr const char* what = "spindle::net::tcp_listener::local_endpoint";
  const detail::socket_fd::use use(sock_, what);
  return detail::local_endpoint_of<endpoint>(use.fd(), what);
}

}  // namespace spindle::net
