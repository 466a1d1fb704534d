// accept_loop: accept with a back-off when descriptors run out.
#include "net/accept_loop.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>

#include "io/call_deadline.hpp"
#include "net/socket_call.hpp"
#include "net/socket_ops.hpp"

namespace spindle::detail {

namespace {

// Errors of one pending connection (it was reset or its route vanished
// before accept got to it), not of the listener: the next one may be fine.
bool is_per_connection_error(int err) noexcept {
  switch (err) {
    case ECONNABORTED:
    case EPROTO:
    case ENETDOWN:
    case ENETUNREACH:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
#ifdef __linux__  // accept(2) on Linux passes these through from the new socket
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
#endif
      return true;
    default:
      return false;
  }
}

// Out of descriptors or kernel memory: only time (other connections
// closing) helps.
bool is_resource_error(int err) noexcept {
  return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

}  // namespace

int accept_with_back_off(socket_fd& lst, const char* what) {
  constexpr clock::duration first_back_off = std::chrono::milliseconds(5);
  constexpr clock::duration max_back_off = std::chrono::seconds(1);
  clock::duration back_off_for = first_back_off;
  // Holds the listening descriptor open (socket_fd.hpp): after a close() the
  // wait throws operation_canceled; the number is never another's.
  const socket_fd::use use(lst, what);
  call_deadline no_limit(no_timeout);
  // One accept, as retry() sees it: the errors of one pending connection are
  // passed over, and out of descriptors it backs off (a close() cuts that
  // short too) and tries again; what is left is EAGAIN (wait) or a failure.
  const std::size_t accepted = retry(
      lst, io_dir::read, no_limit, what,
      [&]() -> ssize_t {
        for (;;) {
          const int fd = accept_socket(use.fd());
          if (fd >= 0) return fd;
          const int err = last_error();
          if (is_per_connection_error(err)) continue;
          if (!is_resource_error(err)) return -1;  // errno is still err
          lst.pause_until(clock::now() + back_off_for, what);
          back_off_for = std::min(back_off_for * 2, max_back_off);
        }
      },
      wait_kind::io_accept);
  return static_cast<int>(accepted);
}

}  // namespace spindle::detail
