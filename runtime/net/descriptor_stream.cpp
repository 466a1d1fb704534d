// descriptor_stream: read and write with the try-then-wait pattern, for every
// stream type (tcp_stream, unix_stream, fd_stream).
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <spindle/detail/descriptor_stream.hpp>
#include <utility>

#include "io/call_deadline.hpp"
#include "io/uring/ring_call.hpp"
#include "net/socket_call.hpp"
#include "net/socket_ops.hpp"
#include "net/stream_names.hpp"

namespace spindle::detail {

namespace {

// Whether a read that returned `n` for `asked` bytes leaves the receive
// queue empty, so that the next read waits before it reads (see read_once):
// it would have blocked, or it stopped short. Not after end of stream
// (n == 0): that is reported again at once.
constexpr bool drained_after(ssize_t n, std::size_t asked) noexcept {
  return n < 0 || (n > 0 && static_cast<std::size_t>(n) < asked);
}

// Whether a short read of this kind proves the queue empty (stream_kind).
constexpr bool short_read_drains(stream_kind k) noexcept {
  return k == stream_kind::stream_socket || k == stream_kind::pipe;
}

// write(2) to a pipe whose reader has gone raises SIGPIPE, which kills the
// process by default, and write(2) has no MSG_NOSIGNAL. So the signal is held
// back on this thread for the call, and a SIGPIPE the write raised (it is
// sent to the writing thread) is taken off the pending set before the mask is
// restored; the write reports EPIPE (std::errc::broken_pipe). A caller that
// blocks SIGPIPE itself keeps what it had. Cost: two pthread_sigmask calls
// (~0.1 us each) around every write to a pipe; sockets use MSG_NOSIGNAL and
// other descriptors raise no SIGPIPE, so they pay nothing. No suspension
// happens between the mask and its restoration.
ssize_t write_holding_sigpipe(int fd, const void* data, std::size_t size) noexcept {
  sigset_t sigpipe_only;
  sigemptyset(&sigpipe_only);
  sigaddset(&sigpipe_only, SIGPIPE);
  sigset_t before;
  pthread_sigmask(SIG_BLOCK, &sigpipe_only, &before);
  const ssize_t n = ::write(fd, data, size);
  const int err = errno;
  if (n < 0 && err == EPIPE && !sigismember(&before, SIGPIPE)) {
    const timespec no_wait{};
    while (sigtimedwait(&sigpipe_only, nullptr, &no_wait) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &before, nullptr);
  errno = err;
  return n;
}

// One read system call as the kind wants it; the result of read(2).
ssize_t read_call(stream_kind kind, int fd, std::span<std::byte> buf) noexcept {
  if (kind == stream_kind::stream_socket) return ::recv(fd, buf.data(), buf.size(), 0);
  return ::read(fd, buf.data(), buf.size());
}

// One write system call as the kind wants it; the result of write(2).
ssize_t write_call(stream_kind kind, int fd, std::span<const std::byte> data) noexcept {
  switch (kind) {
    case stream_kind::stream_socket:
    case stream_kind::other_socket:
      return ::send(fd, data.data(), data.size(), send_flags);
    case stream_kind::pipe:
      return write_holding_sigpipe(fd, data.data(), data.size());
    case stream_kind::other:
      break;
  }
  return ::write(fd, data.data(), data.size());
}

}  // namespace

// One read that waits as long as it would block. 0 = end of stream.
//
// `read_drained_` saves the read that would only say EAGAIN (~1 us, reference
// machine; the echo and http workloads pay it once per request otherwise). It
// is set when a read returned less than asked from a descriptor where that
// proves the queue empty (short_read_drains): a non-blocking TCP or Unix
// recv on Linux stops short only when the receive queue is empty (TCP
// segments that arrived meanwhile sit in the socket backlog and are queued on
// release_sock, with a wake-up of their own), and a pipe read only when the
// pipe is. Anything arriving later -- data, FIN, RST, a writer's close --
// wakes the descriptor, which is an edge for the reactor (or readable for
// poll(2) outside a runtime), so the next read may wait first. A stale edge
// only makes that wait return at once and the EAGAIN is paid after all. What
// arrived *with* the data the short read took is the one case left: a FIN
// (or an error) in the same edge stops the read short and leaves no edge to
// come, so the reactor keeps hang-ups reported for good (reactor.hpp). Tokio
// clears readiness on a short read, but never its READ_CLOSED, likewise. The
// kind is one predictable branch per call, no atomic and no system call.
//
// `use` holds the descriptor open (socket_fd.hpp): a close() meanwhile wakes
// the wait and the next one throws operation_canceled, but the number is
// never another descriptor's.
std::size_t descriptor_stream::read_once(const socket_fd::use& use, std::span<std::byte> buf,
                                         call_deadline& deadline, const char* what) {
  if (buf.empty()) return 0;
  if (kind_ == stream_kind::stream_socket) {
    if (io_ring* ring = current_ring()) {
      // A short read proves the queue empty, as below: the kernel then waits
      // for data before it tries the next read.
      const std::size_t n = ring_transfer(*ring, sock_,
                                          {.code = io_ring::op_code::recv,
                                           .fd = use.fd(),
                                           .buf = buf.data(),
                                           .len = buf.size(),
                                           .poll_first = std::exchange(read_drained_, false)},
                                          deadline, what);
      read_drained_ = drained_after(static_cast<ssize_t>(n), buf.size());
      return n;
    }
  }
  if (std::exchange(read_drained_, false)) {
    wait_or_time_out(sock_, io_dir::read, deadline.get(), what);
  }
  const std::size_t n =
      retry(sock_, io_dir::read, deadline, what, [&] { return read_call(kind_, use.fd(), buf); });
  read_drained_ = short_read_drains(kind_) && drained_after(static_cast<ssize_t>(n), buf.size());
  return n;
}

// One write that waits as long as the descriptor takes nothing.
std::size_t descriptor_stream::write_once(const socket_fd::use& use,
                                          std::span<const std::byte> data, call_deadline& deadline,
                                          const char* what) {
  if (data.empty()) return 0;
  if (kind_ == stream_kind::stream_socket) {
    if (io_ring* ring = current_ring()) {
      // The buffer is only read: the request's pointer is not const for recv's sake.
      return ring_transfer(*ring, sock_,
                           {.code = io_ring::op_code::send,
                            .fd = use.fd(),
                            .buf = const_cast<std::byte*>(data.data()),
                            .len = data.size(),
                            .flags = send_flags},
                           deadline, what);
    }
  }
  return retry(sock_, io_dir::write, deadline, what,
               [&] { return write_call(kind_, use.fd(), data); });
}

std::size_t descriptor_stream::read_some(std::span<std::byte> buf) {
  const socket_fd::use use(sock_, names_->read_some);
  call_deadline deadline(read_timeout_);
  return read_once(use, buf, deadline, names_->read_some);
}

void descriptor_stream::read_exact(std::span<std::byte> buf) {
  std::size_t done = 0;
  read_exact_counting(buf, done);
}

// `done` counts the bytes read so far, for the error_code form.
void descriptor_stream::read_exact_counting(std::span<std::byte> buf, std::size_t& done) {
  const char* what = names_->read_exact;
  const socket_fd::use use(sock_, what);
  call_deadline deadline(read_timeout_);
  while (done < buf.size()) {
    const std::size_t n = read_once(use, buf.subspan(done), deadline, what);
    if (n == 0) throw_errno(ECONNABORTED, what);
    done += n;
  }
}

std::size_t descriptor_stream::write_some(std::span<const std::byte> data) {
  const socket_fd::use use(sock_, names_->write_some);
  call_deadline deadline(write_timeout_);
  return write_once(use, data, deadline, names_->write_some);
}

void descriptor_stream::write_all(std::span<const std::byte> data) {
  std::size_t done = 0;
  write_all_counting(data, done);
}

void descriptor_stream::write_all(std::string_view text) {
  write_all(std::as_bytes(std::span<const char>(text.data(), text.size())));
}

// `done` counts the bytes written so far, for the error_code form.
void descriptor_stream::write_all_counting(std::span<const std::byte> data, std::size_t& done) {
  const char* what = names_->write_all;
  const socket_fd::use use(sock_, what);
  call_deadline deadline(write_timeout_);
  while (done < data.size()) done += write_once(use, data.subspan(done), deadline, what);
}

std::size_t descriptor_stream::read_some(std::span<std::byte> buf, std::error_code& ec) {
  std::size_t n = 0;
  into_error_code(ec, [&] { n = read_some(buf); });
  return n;
}

std::size_t descriptor_stream::read_exact(std::span<std::byte> buf, std::error_code& ec) {
  std::size_t done = 0;
  into_error_code(ec, [&] { read_exact_counting(buf, done); });
  return done;
}

std::size_t descriptor_stream::write_some(std::span<const std::byte> data, std::error_code& ec) {
  std::size_t n = 0;
  into_error_code(ec, [&] { n = write_some(data); });
  return n;
}

std::size_t descriptor_stream::write_all(std::span<const std::byte> data, std::error_code& ec) {
  std::size_t done = 0;
  into_error_code(ec, [&] { write_all_counting(data, done); });
  return done;
}

std::size_t descriptor_stream::try_read_some(std::span<std::byte> buf, std::error_code& ec) {
  const char* what = names_->try_read_some;
  std::size_t n = 0;
  into_error_code(ec, [&] {
    const socket_fd::use use(sock_, what);
    if (buf.empty()) return;
    const ssize_t r = try_once(what, [&] { return read_call(kind_, use.fd(), buf); });
    read_drained_ = short_read_drains(kind_) && drained_after(r, buf.size());  // as read_once
    if (r < 0) {
      ec = std::make_error_code(std::errc::operation_would_block);
      return;
    }
    n = static_cast<std::size_t>(r);
  });
  return n;
}

std::size_t descriptor_stream::try_write_some(std::span<const std::byte> data,
                                              std::error_code& ec) {
  const char* what = names_->try_write_some;
  std::size_t n = 0;
  into_error_code(ec, [&] {
    const socket_fd::use use(sock_, what);
    if (data.empty()) return;
    const ssize_t r = try_once(what, [&] { return write_call(kind_, use.fd(), data); });
    if (r < 0) {
      ec = std::make_error_code(std::errc::operation_would_block);
      return;
    }
    n = static_cast<std::size_t>(r);
  });
  return n;
}

void descriptor_stream::shutdown_write() {
  const socket_fd::use use(sock_, names_->shutdown_write);
  if (::shutdown(use.fd(), SHUT_WR) < 0) throw_errno(last_error(), names_->shutdown_write);
}

}  // namespace spindle::detail
