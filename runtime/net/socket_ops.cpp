// socket_ops: portable socket creation and acceptance.
#include "net/socket_ops.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace spindle::detail {

#ifndef SOCK_NONBLOCK
namespace {

// The platform lacks SOCK_NONBLOCK/accept4 (macOS): set the flags after the
// fact. Not atomic with respect to a concurrent fork+exec, which is the best
// such a platform allows.
bool make_nonblocking_cloexec(int fd) noexcept {
  const int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return false;
  const int fdfl = fcntl(fd, F_GETFD);
  if (fdfl < 0 || fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC) < 0) return false;
#ifdef SO_NOSIGPIPE
  const int on = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &on, sizeof on) < 0) return false;
#endif
  return true;
}

}  // namespace
#endif

int open_socket(int family, int type, const char* what) {
#ifdef SOCK_NONBLOCK
  const int fd = ::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw_errno(errno, what);
#else
  const int fd = ::socket(family, type, 0);
  if (fd < 0) throw_errno(errno, what);
  if (!make_nonblocking_cloexec(fd)) {
    const int err = errno;
    ::close(fd);
    throw_errno(err, what);
  }
#endif
  return fd;
}

int accept_socket(int listen_fd) noexcept {
#ifdef SOCK_NONBLOCK
  return ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
  const int fd = ::accept(listen_fd, nullptr, nullptr);
  if (fd >= 0 && !make_nonblocking_cloexec(fd)) {
    const int err = errno;
    ::close(fd);
    errno = err;
    return -1;
  }
  return fd;
#endif
}

void set_int_option(int fd, int level, int name, int value, const char* what) {
  if (::setsockopt(fd, level, name, &value, sizeof value) < 0) throw_errno(errno, what);
}

net::endpoint local_endpoint_of(int fd, const char* what) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) < 0) throw_errno(errno, what);
  return net::endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss), len);
}

net::endpoint peer_endpoint_of(int fd, const char* what) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) < 0) throw_errno(errno, what);
  return net::endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss), len);
}

}  // namespace spindle::detail
