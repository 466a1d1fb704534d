// udp_socket: datagrams, each call one retry() (socket_call.hpp).
#include <sys/socket.h>

#include <cerrno>
#include <spindle/net/udp_socket.hpp>

#include "io/call_deadline.hpp"
#include "net/socket_call.hpp"
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
  constexpr const char* what = "spindle::net::udp_socket::send_to";
  const detail::socket_fd::use use(sock_, what);  // see socket_fd.hpp on close
  detail::call_deadline deadline(timeout_);
  return detail::retry(sock_, detail::io_dir::write, deadline, what, [&] {
    return ::sendto(use.fd(), data.data(), data.size(), detail::send_flags, to.data(), to.size());
  });
}

std::size_t udp_socket::send_to(std::string_view text, const endpoint& to) {
  return send_to(std::as_bytes(std::span<const char>(text.data(), text.size())), to);
}

recv_result udp_socket::recv_from(std::span<std::byte> buf) {
  constexpr const char* what = "spindle::net::udp_socket::recv_from";
  const detail::socket_fd::use use(sock_, what);
  detail::call_deadline deadline(timeout_);
  sockaddr_storage from{};
  socklen_t len = 0;
  const std::size_t n = detail::retry(sock_, detail::io_dir::read, deadline, what, [&] {
    len = sizeof from;
    return ::recvfrom(use.fd(), buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from),
                      &len);
  });
  return {n, endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&from), len)};
}

endpoint udp_socket::local_endpoint() const {
  constexpr const char* what = "spindle::net::udp_socket::local_endpoint";
  const detail::socket_fd::use use(sock_, what);
  return detail::local_endpoint_of(use.fd(), what);
}

}  // namespace spindle::net
