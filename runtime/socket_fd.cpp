// socket_fd: lazy reactor registration, readiness waits, close.
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <spindle/net/socket_fd.hpp>
#include <utility>

#include "poll_wait.hpp"
#include "reactor.hpp"
#include "runtime_core.hpp"
#include "socket_ops.hpp"

namespace spindle::detail {

socket_fd::socket_fd(socket_fd&& other) noexcept
    : fd_(other.fd_.exchange(-1, std::memory_order_relaxed)),
      handle_(other.handle_.exchange(nullptr, std::memory_order_relaxed)),
      reactor_(std::move(other.reactor_)) {}

socket_fd& socket_fd::operator=(socket_fd&& other) noexcept {
  if (this != &other) {
    close();
    fd_.store(other.fd_.exchange(-1, std::memory_order_relaxed), std::memory_order_relaxed);
    handle_.store(other.handle_.exchange(nullptr, std::memory_order_relaxed),
                  std::memory_order_relaxed);
    reactor_ = std::move(other.reactor_);
  }
  return *this;
}

void socket_fd::close() noexcept {
  int fd;
  io_handle* h;
  {
    std::lock_guard guard(attach_lock_);
    fd = fd_.exchange(-1, std::memory_order_relaxed);
    h = handle_.exchange(nullptr, std::memory_order_relaxed);
  }
  // reactor_ stays as it was: a waiter that loaded handle_ before the
  // exchange may still read it, and nothing attaches again once fd_ is -1.
  if (h) reactor_->detach(h);
  if (fd >= 0) ::close(fd);
}

bool socket_fd::wait_readable(const clock::time_point* deadline, const char* what) {
  return wait(io_dir::read, deadline, what);
}

bool socket_fd::wait_writable(const clock::time_point* deadline, const char* what) {
  return wait(io_dir::write, deadline, what);
}

bool socket_fd::wait(io_dir dir, const clock::time_point* deadline, const char* what) {
  io_handle* h = handle_.load(std::memory_order_acquire);
  if (!h) {
    if (!current_runtime()) {
      const int fd = get();
      if (fd < 0) throw_errno(EBADF, what);
      return poll_wait(fd, dir, deadline) == io_result::ready;
    }
    h = attach_to_current(what);
  }
  switch (reactor_->wait(*h, dir, deadline)) {
    case io_result::ready:
      return true;
    case io_result::timed_out:
      return false;
    case io_result::closed:
      break;
  }
  throw_errno(ECANCELED, what);
}

io_handle* socket_fd::attach_to_current(const char* what) {
  const std::shared_ptr<reactor>& r = current_reactor_or_throw(what);
  std::lock_guard guard(attach_lock_);
  if (io_handle* h = handle_.load(std::memory_order_relaxed)) return h;
  const int fd = fd_.load(std::memory_order_relaxed);
  if (fd < 0) throw_errno(EBADF, what);
  io_handle* h = r->attach(fd);
  reactor_ = r;
  handle_.store(h, std::memory_order_release);
  return h;
}

}  // namespace spindle::detail
