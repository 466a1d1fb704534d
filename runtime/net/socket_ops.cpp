// socket_ops: portable socket creation and acceptance, socket addresses.
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

socket_address local_address_of(int fd, const char* what) {
  socket_address a;
  if (::getsockname(fd, a.get(), &a.len) < 0) throw_errno(errno, what);
  return a;
}

socket_address peer_address_of(int fd, const char* what) {
  socket_address a;
  if (::getpeername(fd, a.get(), &a.len) < 0) throw_errno(errno, what);
  return a;
}

void open_socket_pair(int family, int type, int (&fds)[2], const char* what) {
#ifdef SOCK_NONBLOCK
  if (::socketpair(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) < 0) {
    throw_errno(errno, what);
  }
#else
  if (::socketpair(family, type, 0, fds) < 0) throw_errno(errno, what);
  if (!make_nonblocking_cloexec(fds[0]) || !make_nonblocking_cloexec(fds[1])) {
    const int err = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    throw_errno(err, what);
  }
#endif
}

}  // namespace spindle::detail
