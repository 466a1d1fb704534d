// spindle::net::unix_datagram_socket: a Unix-domain datagram socket
// (AF_UNIX, SOCK_DGRAM) whose calls block only the calling fiber.
//
//   auto server = unix_datagram_socket::bind(unix_endpoint::abstract("myapp"));
//   auto client = unix_datagram_socket::bind(unix_endpoint::abstract("myapp-client"));
//   client.send_to("ping", server.local_endpoint());
//   auto [n, from] = server.recv_from(buf);            // from: "@myapp-client"
//
// One datagram per call, as udp_socket: send_to sends all of `data` as one
// datagram (or throws, e.g. std::errc::message_size), recv_from receives one
// datagram, of which only the first buf.size() bytes are kept when it is
// longer. Unix datagrams are reliable and ordered; a sender whose peer's
// queue is full waits (or times out), it does not drop. A socket that is not
// bound can send, but its datagrams come from the unnamed address, to which
// nobody can answer. connect() fixes the peer for send() and recv() (and
// then only that peer's datagrams arrive). Like unix_listener, a socket bound
// to a path never unlinks it; bind fails with std::errc::address_in_use when
// the path exists. set_timeout, close (also while calls are in progress:
// they, and every call after the close, throw std::errc::operation_canceled)
// and the error convention are those of tcp_stream. Move-only; the
// destructor closes.
#pragma once

#include <chrono>
#include <cstddef>
#include <span>
#include <spindle/detail/deadline.hpp>
#include <spindle/detail/socket_fd.hpp>
#include <spindle/net/unix_endpoint.hpp>
#include <string_view>
#include <utility>

namespace spindle::net {

// What unix_datagram_socket::recv_from received: the datagram's size (at
// most the buffer's) and its sender (unnamed when the sender is not bound).
struct unix_recv_result {
  std::size_t size;
  unix_endpoint from;
};

class unix_datagram_socket {
 public:
  // A socket that is not open.
  unix_datagram_socket() noexcept = default;

  // A socket bound to `ep`; std::errc::address_in_use when the path exists.
  static unix_datagram_socket bind(const unix_endpoint& ep);
  // A socket bound to nothing, for sending: its datagrams come from the
  // unnamed address, which no one can answer.
  static unix_datagram_socket unbound();
  // Two unnamed sockets connected to each other (socketpair).
  static std::pair<unix_datagram_socket, unix_datagram_socket> pair();

  // Fixes the peer: send() goes there and only its datagrams are received.
  // Throws std::system_error (e.g. connection_refused: nothing bound there).
  void connect(const unix_endpoint& peer);

  // Sends `data` as one datagram to `to`; returns data.size().
  std::size_t send_to(std::span<const std::byte> data, const unix_endpoint& to);
  std::size_t send_to(std::string_view text, const unix_endpoint& to);
  // Sends one datagram to the connected peer; returns data.size().
  std::size_t send(std::span<const std::byte> data);
  std::size_t send(std::string_view text);

  // Receives one datagram, waiting until one arrives.
  unix_recv_result recv_from(std::span<std::byte> buf);
  // The same without the sender; returns the datagram's size.
  std::size_t recv(std::span<std::byte> buf);

  // As tcp_stream::set_timeout: later sends and receives wait at most `d`.
  template <class Rep, class Period>
  void set_timeout(const std::chrono::duration<Rep, Period>& d) {
    timeout_ = detail::to_clock_duration(d);
  }
  void clear_timeout() noexcept { timeout_ = detail::no_timeout; }

  // The bound address (unnamed when not bound).
  unix_endpoint local_endpoint() const;

  // Wakes every fiber waiting on the socket and closes it; does not unlink
  // the path. Idempotent.
  void close() noexcept { sock_.close(); }

  bool is_open() const noexcept { return sock_.get() >= 0; }
  int native_handle() const noexcept { return sock_.get(); }

 private:
  explicit unix_datagram_socket(detail::socket_fd sock) noexcept : sock_(std::move(sock)) {}

  detail::socket_fd sock_;
  detail::clock::duration timeout_ = detail::no_timeout;
};

}  // namespace spindle::net
