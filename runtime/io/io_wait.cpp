// io_wait: spindle::io::wait_readable / wait_writable.
#include <cerrno>
#include <spindle/io.hpp>

#include "io/call_deadline.hpp"
#include "io/errors.hpp"
#include "io/poll_wait.hpp"
#include "io/reactor.hpp"
#include "sched/context.hpp"

namespace spindle::io {

namespace {

using detail::io_dir;
using detail::io_result;

bool wait_ready(int fd, io_dir dir, detail::clock::duration timeout, const char* what) {
  if (fd < 0) detail::throw_errno(EBADF, what);
  detail::call_deadline deadline(timeout);
  // How a foreign descriptor is waited on is decided here, and nowhere else
  // (a socket's wait: socket_fd::wait): a fiber parks in its runtime's
  // reactor, a plain thread blocks in poll(2).
  const io_result r = detail::current_fiber()
                          ? detail::current_reactor_or_throw(what)->wait_fd(fd, dir, deadline.get())
                          : detail::poll_wait(fd, dir, deadline.get());
  // closed: a spindle socket owning fd was closed during the wait.
  if (r == io_result::closed) detail::throw_errno(ECANCELED, what);
  return r == io_result::ready;
}

}  // namespace

bool wait_readable_for(int fd, detail::clock::duration timeout) {
  return wait_ready(fd, io_dir::read, timeout, "spindle::io::wait_readable");
}

bool wait_writable_for(int fd, detail::clock::duration timeout) {
  return wait_ready(fd, io_dir::write, timeout, "spindle::io::wait_writable");
}

void wait_readable(int fd) {
  wait_ready(fd, io_dir::read, detail::no_timeout, "spindle::io::wait_readable");
}

void wait_writable(int fd) {
  wait_ready(fd, io_dir::write, detail::no_timeout, "spindle::io::wait_writable");
}

}  // namespace spindle::io
