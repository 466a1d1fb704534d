// unix_datagram_socket: datagrams, each call one of datagram_calls.hpp.
#include <sys/socket.h>

#include <spindle/net/unix_datagram_socket.hpp>
#include <string>

#include "net/datagram_calls.hpp"
#include "net/socket_ops.hpp"

namespace spindle::net {

namespace {

std::span<const std::byte> bytes_of(std::string_view text) noexcept {
  return std::as_bytes(std::span<const char>(text.data(), text.size()));
}

}  // namespace

unix_datagram_socket unix_datagram_socket::bind(const unix_endpoint& ep) {
  std::string what = "spindle::net::unix_datagram_socket::bind ";
  what.append(ep.to_string());
  detail::socket_fd sock(detail::open_socket(AF_UNIX, SOCK_DGRAM, what.c_str()));
  if (::bind(sock.get(), ep.data(), ep.size()) < 0) detail::throw_errno(detail::last_error(), what);
  return unix_datagram_socket(std::move(sock));
}

unix_datagram_socket unix_datagram_socket::unbound() {
  return unix_datagram_socket(detail::socket_fd(
      detail::open_socket(AF_UNIX, SOCK_DGRAM, "spindle::net::unix_datagram_socket::unbound")));
}

std::pair<unix_datagram_socket, unix_datagram_socket> unix_datagram_socket::pair() {
  int fds[2];
  detail::open_socket_pair(AF_UNIX, SOCK_DGRAM, fds, "spindle::net::unix_datagram_socket::pair");
  return {unix_datagram_socket(detail::socket_fd(fds[0])),
          unix_datagram_socket(detail::socket_fd(fds[1]))};
}

// A Unix datagram connect is done at once (it only records the peer).
void unix_datagram_socket::connect(const unix_endpoint& peer) {
  std::string what = "spindle::net::unix_datagram_socket::connect ";
  what.append(peer.to_string());
  const detail::socket_fd::use use(sock_, what.c_str());
  while (::connect(use.fd(), peer.data(), peer.size()) < 0) {
    const int err = detail::last_error();
    if (err != EINTR) detail::throw_errno(err, what);
  }
}

std::size_t unix_datagram_socket::send_to(std::span<const std::byte> data,
                                          const unix_endpoint& to) {
  return detail::send_datagram(sock_, timeout_, data, to.data(), to.size(),
                               "spindle::net::unix_datagram_socket::send_to");
}

std::size_t unix_datagram_socket::send_to(std::string_view text, const unix_endpoint& to) {
  return send_to(bytes_of(text), to);
}

std::size_t unix_datagram_socket::send(std::span<const std::byte> data) {
  return detail::send_datagram(sock_, timeout_, data, nullptr, 0,
                               "spindle::net::unix_datagram_socket::send");
}

std::size_t unix_datagram_socket::send(std::string_view text) {
  return send(bytes_of(text));
}

unix_recv_result unix_datagram_socket::recv_from(std::span<std::byte> buf) {
  detail::socket_address from;
  const std::size_t n = detail::recv_datagram(sock_, timeout_, buf, &from,
                                              "spindle::net::unix_datagram_socket::recv_from");
  return {n, from.as<unix_endpoint>()};
}

std::size_t unix_datagram_socket::recv(std::span<std::byte> buf) {
  return detail::recv_datagram(sock_, timeout_, buf, nullptr,
                               "spindle::net::unix_datagram_socket::recv");
}

unix_endpoint unix_datagram_socket::local_endpoint() const {
  constexpr const char* what = "spindle::net::unix_datagram_socket::local_endpoint";
  const detail::socket_fd::use use(sock_, what);
  return detail::local_endpoint_of<unix_endpoint>(use.fd(), what);
}

}  // namespace spindle::net
