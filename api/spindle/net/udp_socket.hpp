// spindle::net::udp_socket: a UDP socket whose calls block only the calling
// fiber.
//
//   auto u = udp_socket::bind(endpoint::parse("127.0.0.1:0"));
//   u.send_to(bytes, peer);
//   auto [n, from] = u.recv_from(buf);
//
// One datagram per call: send_to sends all of `data` as one datagram (or
// throws, e.g. std::errc::message_size), recv_from receives one datagram, of
// which only the first buf.size() bytes are kept when it is longer.
// set_timeout, close (also while calls are in progress: they, and every call
// after the close, throw std::errc::operation_canceled) and the error
// convention are those of tcp_stream.
#pragma once

#include <chrono>
#include <cstddef>
#include <span>
#include <spindle/detail/deadline.hpp>
#include <spindle/detail/socket_fd.hpp>
#include <spindle/net/endpoint.hpp>
#include <string_view>
#include <utility>

namespace spindle::net {

// What recv_from received: the datagram's size (at most the buffer's) and sender.
struct recv_result {
  std::size_t size;
  endpoint from;
};

class udp_socket {
 public:
  // A socket that is not open.
  udp_socket() noexcept = default;

  // A socket bound to `ep` (port 0: any free port).
  static udp_socket bind(const endpoint& ep);

  // Sends `data` as one datagram to `to`; returns data.size().
  std::size_t send_to(std::span<const std::byte> data, const endpoint& to);
  std::size_t send_to(std::string_view text, const endpoint& to);

  // Receives one datagram, waiting until one arrives.
  recv_result recv_from(std::span<std::byte> buf);

  // As tcp_stream::set_timeout: later send_to/recv_from wait at most `d`.
  template <class Rep, class Period>
  void set_timeout(const std::chrono::duration<Rep, Period>& d) {
    timeout_ = detail::to_clock_duration(d);
  }
  void clear_timeout() noexcept { timeout_ = detail::no_timeout; }

  // The bound address, with the actual port when bound to port 0.
  endpoint local_endpoint() const;

  // Wakes every fiber waiting on the socket and closes it. Idempotent.
  void close() noexcept { sock_.close(); }

  bool is_open() const noexcept { return sock_.get() >= 0; }
  int native_handle() const noexcept { return sock_.get(); }

 private:
  explicit udp_socket(detail::socket_fd sock) noexcept : sock_(std::move(sock)) {}

  detail::socket_fd sock_;
  detail::clock::duration timeout_ = detail::no_timeout;
};

}  // namespace spindle::net
