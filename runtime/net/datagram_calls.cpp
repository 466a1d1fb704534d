// datagram_calls: sendto/recvfrom through the one retry loop.
#include "net/datagram_calls.hpp"

#include <sys/socket.h>

#include "io/call_deadline.hpp"
#include "net/socket_call.hpp"

namespace spindle::detail {

std::size_t send_datagram(socket_fd& sock, clock::duration timeout, std::span<const std::byte> data,
                          const sockaddr* to, socklen_t to_len, const char* what) {
  const socket_fd::use use(sock, what);  // see socket_fd.hpp on close
  call_deadline deadline(timeout);
  return retry(sock, io_dir::write, deadline, what, [&] {
    return ::sendto(use.fd(), data.data(), data.size(), send_flags, to, to ? to_len : 0);
  });
}

std::size_t recv_datagram(socket_fd& sock, clock::duration timeout, std::span<std::byte> buf,
                          socket_address* from, const char* what) {
  const socket_fd::use use(sock, what);
  call_deadline deadline(timeout);
  return retry(sock, io_dir::read, deadline, what, [&] {
    if (from == nullptr) return ::recvfrom(use.fd(), buf.data(), buf.size(), 0, nullptr, nullptr);
    from->len = sizeof from->storage;
    return ::recvfrom(use.fd(), buf.data(), buf.size(), 0, from->get(), &from->len);
  });
}

}  // namespace spindle::detail
