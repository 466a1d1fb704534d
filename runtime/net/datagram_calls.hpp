// datagram_calls: one datagram out or in, for every datagram socket
// (udp_socket, unix_datagram_socket): each is one retry() (socket_call.hpp)
// under the socket's timeout, inside a use of the socket (socket_fd.hpp).
#pragma once

#include <cstddef>
#include <span>
#include <spindle/detail/clock.hpp>
#include <spindle/detail/socket_fd.hpp>

#include "net/socket_ops.hpp"

namespace spindle::detail {

// Sends `data` as one datagram to `to` (nullptr: the connected peer);
// returns data.size(). Throws std::system_error prefixed `what`.
std::size_t send_datagram(socket_fd& sock, clock::duration timeout, std::span<const std::byte> data,
                          const sockaddr* to, socklen_t to_len, const char* what);

// Receives one datagram into `buf` (what does not fit is dropped); returns
// its size (at most buf.size()). The sender's address goes to `*from` unless
// it is nullptr. Throws std::system_error prefixed `what`.
std::size_t recv_datagram(socket_fd& sock, clock::duration timeout, std::span<std::byte> buf,
                          socket_address* from, const char* what);

}  // namespace spindle::detail
