// socket_fd: references of calls in progress, close, lazy reactor
// registration, readiness waits. See socket_fd.hpp for the protocol.
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <mutex>
#include <spindle/detail/socket_fd.hpp>
#include <thread>
#include <utility>

#include "io/errors.hpp"
#include "io/poll_wait.hpp"
#include "io/reactor.hpp"
#include "sched/context.hpp"

namespace spindle::detail {

socket_fd::socket_fd(socket_fd&& other) noexcept
    : fd_(other.fd_.exchange(-1, std::memory_order_relaxed)),
      state_(other.state_.exchange(0, std::memory_order_relaxed)),
      handle_(other.handle_.exchange(nullptr, std::memory_order_relaxed)),
      reactor_(std::move(other.reactor_)),
      ring_calls_(other.ring_calls_.exchange(false, std::memory_order_relaxed)) {}

socket_fd& socket_fd::operator=(socket_fd&& other) noexcept {
  if (this != &other) {
    close();
    fd_.store(other.fd_.exchange(-1, std::memory_order_relaxed), std::memory_order_relaxed);
    state_.store(other.state_.exchange(0, std::memory_order_relaxed), std::memory_order_relaxed);
    handle_.store(other.handle_.exchange(nullptr, std::memory_order_relaxed),
                  std::memory_order_relaxed);
    reactor_ = std::move(other.reactor_);
    ring_calls_.store(other.ring_calls_.exchange(false, std::memory_order_relaxed),
                      std::memory_order_relaxed);
  }
  return *this;
}

socket_fd::use::use(const socket_fd& sock, const char* what) : sock_(sock) {
  fd_ = sock.fd_.load(std::memory_order_relaxed);
  if (fd_ < 0) throw_errno(EBADF, what);  // never open: no reference to take
  std::uint32_t s = sock.state_.load(std::memory_order_relaxed);
  do {
    if (s & closed_bit) throw_errno(ECANCELED, what);
  } while (!sock.state_.compare_exchange_weak(s, s + one_ref, std::memory_order_acquire,
                                              std::memory_order_relaxed));
}

void socket_fd::release() const noexcept {
  // acq_rel: every call's use of the descriptor happens before the close.
  if (state_.fetch_sub(one_ref, std::memory_order_acq_rel) == (closed_bit | one_ref)) {
    close_descriptor();
  }
}

void socket_fd::close_descriptor() const noexcept {
  ::close(fd_.load(std::memory_order_relaxed));
  if (io_handle* h = handle_.exchange(nullptr, std::memory_order_relaxed)) reactor_->release(h);
}

void socket_fd::close() noexcept {
  if (fd_.load(std::memory_order_relaxed) < 0) return;  // never open
  // Closed, with a reference of its own: the descriptor stays open until the
  // detach below is done, even if the last call leaves meanwhile.
  std::uint32_t s = state_.load(std::memory_order_relaxed);
  do {
    if (s & closed_bit) return;  // closed already (or being closed by another thread)
  } while (!state_.compare_exchange_weak(s, (s | closed_bit) + one_ref, std::memory_order_seq_cst,
                                         std::memory_order_relaxed));
  // Calls in progress may be with the kernel in an io_uring ring, where
  // nothing but the socket's own end finishes them (begin_ring_call).
  if (s >= one_ref && ring_calls_.load(std::memory_order_seq_cst))
    ::shutdown(fd_.load(std::memory_order_relaxed), SHUT_RDWR);
  io_handle* h;
  {
    // A first wait attaching right now either sees the closed bit (and
    // fails) or has published its handle by the time this lock is ours.
    std::lock_guard guard(attach_lock_);
    h = handle_.load(std::memory_order_relaxed);
  }
  if (h) reactor_->detach(h);  // waiters wake with io_result::closed
  release();
}

bool socket_fd::begin_ring_call() {
  if (handle_.load(std::memory_order_acquire)) reactor_->check_not_orphaned();
  ring_calls_.store(true, std::memory_order_seq_cst);
  return state_.load(std::memory_order_seq_cst) & closed_bit;
}

bool socket_fd::wait(io_dir dir, clock::time_point deadline, const char* what, wait_kind kind) {
  io_result r;
  if (current_fiber()) {
    io_handle* h = handle_.load(std::memory_order_acquire);
    if (!h) h = attach_to_current(what);
    r = reactor_->wait(*h, dir, deadline, kind);
  } else {
    r = poll_wait(fd_.load(std::memory_order_relaxed), dir, deadline, this);
  }
  switch (r) {
    case io_result::ready:
      return true;
    case io_result::timed_out:
      return false;
    case io_result::closed:
      break;
  }
  throw_errno(ECANCELED, what);
}

void socket_fd::pause_until(clock::time_point until, const char* what) {
  if (current_fiber()) {
    // A wait for readability that ignores the readiness it sees, so that
    // close() can cut it short. Edge-triggered, so it does not spin: each
    // round waits for a new event.
    while (wait(io_dir::read, until, what)) {
    }
    return;
  }
  // poll(2) is level-triggered and would not sleep at all on a descriptor
  // that is ready: sleep in slices and look at the closed bit in between,
  // as a plain thread's waits do.
  for (;;) {
    if (closed()) throw_errno(ECANCELED, what);
    const clock::time_point now = clock::now();
    if (now >= until) return;
    std::this_thread::sleep_for(std::min<clock::duration>(until - now, close_check_interval));
  }
}

io_handle* socket_fd::attach_to_current(const char* what) {
  const std::shared_ptr<reactor>& r = current_reactor_or_throw(what);
  std::lock_guard guard(attach_lock_);
  if (io_handle* h = handle_.load(std::memory_order_relaxed)) return h;
  if (closed()) throw_errno(ECANCELED, what);
  io_handle* h = r->attach(fd_.load(std::memory_order_relaxed));
  reactor_ = r;
  handle_.store(h, std::memory_order_release);
  return h;
}

}  // namespace spindle::detail
