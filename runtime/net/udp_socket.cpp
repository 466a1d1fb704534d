// udp_socket: datagrams, each call one of datagram_calls.hpp.
#include <sys/socket.h>

#include <cerrno>
#include <spindle/net/udp_socket.hpp>

#include "net/datagram_calls.hpp"
#include "net/socket_ops.hpp"

namespace spindle::net {

using detail::throw_errno;

udp_socket udp_socket::bind(const endpoint& ep) {
  const std::string what = "spindle::net::udp_socket::bind " + ep.to_string();
  detail::socket_fd sock(detail::open_socket(ep.family(), SOCK_DGRAM, what.c_str()));
  if (::bind(sock.get(), ep.data(), ep.size()) < 0) throw_errno(detail::last_error(), what);
  return udp_socket(std::move(sock));
}

std::size_t udp_socket::send_to(std::span<const std::byte> data, const endpoint& to) {
  return detail::send_datagram(sock_, timeout_, data, to.data(), to.size(),
                               "spindle::net::udp_socket::send_to");
}

std::size_t udp_socket::send_to(std::string_view text, const endpoint& to) {
  return send_to(std::as_bytes(std::span<const char>(text.data(), text.size())), to);
}

recv_result udp_socket::recv_from(std::span<std::byte> buf) {
  detail::socket_address from;
  const std::size_t n =
      detail::recv_datagram(sock_, timeout_, buf, &from, "spindle::net::udp_socket::recv_from");
  return {n, from.as<endpoint>()};
}

endpoint udp_socket::local_endpoint() const {
  constexpr const char* what = "spindle::net::udp_socket::local_endpoint";
  const detail::socket_fd::use use(sock_, what);
  return detail::local_endpoint_of<endpoint>(use.fd(), what);
}

}  // namespace spindle::net
