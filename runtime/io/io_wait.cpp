// io_wait: spindle::io::wait_readable / wait_writable.
#include <cerrno>
#include <spindle/io.hpp>

#include "io/call_deadline.hpp"
#include "io/poll_wait.hpp"
#include "io/reactor.hpp"
#include "io/errors.hpp"
#include "sched/runtime_core.hpp"

namespace spindle::io {

namespace {

using detail::io_dir;
using detail::io_result;

bool wait_ready(int fd, io_dir dir, detail::clock::duration timeout, const char* what) {
  if (fd < 0) detail::throw_errno(EBADF, what);
  detail::call_deadline deadline(timeout);
  io_result r;
  if (detail::current_runtime()) {
    r = detail::current_reactor_or_throw(what)->wait_fd(fd, dir, deadline.get());
  } else {
    r = detail::poll_wait(fd, dir, deadline.get());
  }
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
