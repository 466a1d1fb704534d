// poll_wait: poll(2) with a steady_clock deadline.
#include "poll_wait.hpp"

#include <poll.h>

#include <cerrno>
#include <chrono>

#include "socket_ops.hpp"

namespace spindle::detail {

io_result poll_wait(int fd, io_dir d, const clock::time_point* deadline) {
  pollfd p{};
  p.fd = fd;
  p.events = d == io_dir::read ? POLLIN : POLLOUT;
  for (;;) {
    int timeout = -1;  // none
    if (deadline) {
      const auto left = *deadline - clock::now();
      if (left <= clock::duration::zero()) return io_result::timed_out;
      // The loop re-checks anyway, as poll's clock need not be steady_clock.
      timeout = timeout_ms(left);
    }
    const int n = ::poll(&p, 1, timeout);
    if (n > 0) {
      if (p.revents & POLLNVAL) throw_errno(EBADF, "spindle: poll");
      return io_result::ready;
    }
    if (n < 0 && errno != EINTR) throw_errno(errno, "spindle: poll");
  }
}

}  // namespace spindle::detail
