// poll_wait: poll(2) with a steady_clock deadline.
#include "io/poll_wait.hpp"

#include <poll.h>

#include <cerrno>
#include <chrono>
#include <spindle/detail/socket_fd.hpp>

#include "io/errors.hpp"

namespace spindle::detail {
namespace {

pollfd entry_for(int fd, io_dir d) noexcept {
  pollfd p{};
  p.fd = fd;
  p.events = d == io_dir::read ? POLLIN : POLLOUT;
  return p;
}

}  // namespace

io_result poll_wait(int fd, io_dir d, clock::time_point deadline, const socket_fd* sock) {
  constexpr int slice_ms = static_cast<int>(socket_fd::close_check_interval.count());
  pollfd p = entry_for(fd, d);
  for (;;) {
    if (sock && sock->closed()) return io_result::closed;
    int timeout = -1;  // none
    if (deadline != no_deadline) {
      const auto left = deadline - clock::now();
      if (left <= clock::duration::zero()) return io_result::timed_out;
      // The loop re-checks anyway, as poll's clock need not be steady_clock.
      timeout = timeout_ms(left);
    }
    if (sock && (timeout < 0 || timeout > slice_ms)) timeout = slice_ms;
    const int n = ::poll(&p, 1, timeout);
    if (n > 0) {
      if (p.revents & POLLNVAL) throw_errno(EBADF, "spindle: poll");
      return io_result::ready;
    }
    if (n < 0 && errno != EINTR) throw_errno(errno, "spindle: poll");
  }
}

bool ready_now(int fd, io_dir d) noexcept {
  pollfd p = entry_for(fd, d);
  int n;
  do {
    n = ::poll(&p, 1, 0);
  } while (n < 0 && errno == EINTR);
  return n > 0;
}

}  // namespace spindle::detail
