// fd_stream: adopting a descriptor -- what it is decides how bytes move
// (stream_kind); the reads and writes are descriptor_stream's.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>
#include <spindle/net/fd_stream.hpp>
#include <stdexcept>
#include <string>

#include "io/errors.hpp"
#include "net/stream_names.hpp"

namespace spindle::net {

namespace {

constexpr const char* adopt_what = "spindle::net::fd_stream::adopt";

constexpr detail::stream_names names = detail::stream_names::of("spindle::net::fd_stream");

std::string describe(int fd) {
  std::string s = adopt_what;
  s.append(": descriptor ").append(std::to_string(fd));
  return s;
}

// What `fd` is, as a stream_kind; throws for what cannot be polled.
detail::stream_kind kind_of(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) < 0) detail::throw_errno(errno, describe(fd));
  const char* unpollable = S_ISREG(st.st_mode)   ? "a regular file"
                           : S_ISDIR(st.st_mode) ? "a directory"
                           : S_ISBLK(st.st_mode) ? "a block device"
                                                 : nullptr;
  if (unpollable) {
    throw std::invalid_argument(describe(fd)
                                    .append(" is ")
                                    .append(unpollable)
                                    .append(", which cannot be waited for (epoll refuses it with "
                                            "EPERM); read it with read(2) on "
                                            "the blocking pool instead"));
  }
  if (S_ISFIFO(st.st_mode)) return detail::stream_kind::pipe;
  if (!S_ISSOCK(st.st_mode)) return detail::stream_kind::other;
  int type = 0;
  socklen_t len = sizeof type;
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) {
    detail::throw_errno(errno, describe(fd));
  }
  return type == SOCK_STREAM ? detail::stream_kind::stream_socket
                             : detail::stream_kind::other_socket;
}

}  // namespace

fd_stream::fd_stream() noexcept : descriptor_stream(names, detail::stream_kind::other) {}

fd_stream::fd_stream(detail::socket_fd fd, detail::stream_kind kind) noexcept
    : descriptor_stream(std::move(fd), names, kind) {}

fd_stream fd_stream::adopt(int fd) {
  if (fd < 0) {
    detail::throw_errno(EBADF, describe(fd).append(" is not a descriptor"));
  }
  const detail::stream_kind kind = kind_of(fd);
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ((flags & O_NONBLOCK) == 0 && ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)) {
    detail::throw_errno(errno, describe(fd));
  }
  return fd_stream(detail::socket_fd(fd), kind);
}

}  // namespace spindle::net
