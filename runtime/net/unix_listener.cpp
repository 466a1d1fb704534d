// unix_listener: bind and listen; accept is accept_loop's.
#include <sys/socket.h>

#include <spindle/net/unix_listener.hpp>
#include <string>

#include "net/accept_loop.hpp"
#include "net/socket_ops.hpp"

namespace spindle::net {

unix_listener unix_listener::bind(const unix_endpoint& ep, int backlog) {
  std::string what = "spindle::net::unix_listener::bind ";
  what.append(ep.to_string());
  detail::socket_fd sock(detail::open_socket(AF_UNIX, SOCK_STREAM, what.c_str()));
  if (::bind(sock.get(), ep.data(), ep.size()) < 0) detail::throw_errno(detail::last_error(), what);
  if (::listen(sock.get(), backlog) < 0) detail::throw_errno(detail::last_error(), what);
  return unix_listener(std::move(sock));
}

unix_stream unix_listener::accept() {
  return unix_stream::adopt(
      detail::accept_with_back_off(sock_, "spindle::net::unix_listener::accept"));
}

unix_stream unix_listener::accept(std::error_code& ec) {
  unix_stream s;
  detail::into_error_code(ec, [&] { s = accept(); });
  return s;
}

unix_endpoint unix_listener::local_endpoint() const {
  constexpr const char* what = "spindle::net::unix_listener::local_endpoint";
  const detail::socket_fd::use use(sock_, what);
  return detail::local_endpoint_of<unix_endpoint>(use.fd(), what);
}

}  // namespace spindle::net
