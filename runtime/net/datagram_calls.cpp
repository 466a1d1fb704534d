// datagram_calls: sendto/recvfrom through the one retry loop.
#include "net/datagram_calls.hpp"

#include <sys/socket.h>
#include <sys/uio.h>

#include "io/call_deadline.hpp"
#include "io/uring/ring_call.hpp"
#include "net/socket_call.hpp"

namespace spindle::detail {

// With the io_uring backend a datagram goes through the fiber's ring as a
// sendmsg/recvmsg whose msghdr (and address) live on this frame until the
// completion (io/uring/ring_call.hpp).
std::size_t send_datagram(socket_fd& sock, clock::duration timeout, std::span<const std::byte> data,
                          const sockaddr* to, socklen_t to_len, const char* what) {
  const socket_fd::use use(sock, what);  // see socket_fd.hpp on close
  call_deadline deadline(timeout);
  if (io_ring* ring = current_ring()) {
    iovec iov{const_cast<std::byte*>(data.data()), data.size()};  // only read
    msghdr msg{};
    msg.msg_name = const_cast<sockaddr*>(to);
    msg.msg_namelen = to ? to_len : 0;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    return ring_transfer(
        *ring, sock,
        {.code = io_ring::op_code::sendmsg, .fd = use.fd(), .buf = &msg, .flags = send_flags},
        deadline, what);
  }
  return retry(sock, io_dir::write, deadline, what, [&] {
    return ::sendto(use.fd(), data.data(), data.size(), send_flags, to, to ? to_len : 0);
  });
}

std::size_t recv_datagram(socket_fd& sock, clock::duration timeout, std::span<std::byte> buf,
                          socket_address* from, const char* what) {
  const socket_fd::use use(sock, what);
  call_deadline deadline(timeout);
  if (io_ring* ring = current_ring()) {
    iovec iov{buf.data(), buf.size()};
    msghdr msg{};
    if (from) {
      msg.msg_name = from->get();
      msg.msg_namelen = sizeof from->storage;
    }
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    const std::size_t n = ring_transfer(
        *ring, sock, {.code = io_ring::op_code::recvmsg, .fd = use.fd(), .buf = &msg}, deadline, what);
    if (from) from->len = msg.msg_namelen;
    return n;
  }
  return retry(sock, io_dir::read, deadline, what, [&] {
    if (from == nullptr) return ::recvfrom(use.fd(), buf.data(), buf.size(), 0, nullptr, nullptr);
    from->len = sizeof from->storage;
    return ::recvfrom(use.fd(), buf.data(), buf.size(), 0, from->get(), &from->len);
  });
}

}  // namespace spindle::detail
