// socket_fd: the owned, non-blocking descriptor inside every spindle socket,
// and the one place where a socket call waits for readiness.
//
// Registration with a reactor is lazy: the descriptor is attached to the
// reactor of the runtime whose fiber first has to wait on it (after an EAGAIN),
// and stays attached until close(). A socket that never waits never costs an
// epoll_ctl/kevent call. Outside any runtime a wait is a plain poll(2).
//
// Invariants:
//  * handle_ is null, or points to the io_handle attached for fd_ in
//    *reactor_; it is published (release) after reactor_ is written, and both
//    change only under attach_lock_, so close() and a first wait in two fibers
//    cannot both attach or leave a registration behind.
//  * close() detaches before it closes: every fiber waiting on the socket
//    wakes (io_result::closed) while the descriptor number cannot yet have
//    been reused by another socket.
//
// Concurrency: one reading and one writing fiber may use the socket at the
// same time, and any fiber or thread may close() it while they wait. Moving
// or destroying it while another fiber is inside a call is a bug, as for any
// object.
//
// Lifetime: once attached, the socket shares ownership of that runtime's
// reactor, so it may outlive the runtime: closing it later still detaches
// cleanly (it can no longer wait, as no fiber of that runtime is left).
#pragma once

#include <atomic>
#include <memory>
#include <spindle/detail/spinlock.hpp>
#include <spindle/detail/waiter.hpp>

namespace spindle::detail {

class reactor;
class io_handle;
enum class io_dir : int;  // defined by runtime/reactor.hpp

class socket_fd {
 public:
  socket_fd() noexcept = default;
  // Takes ownership of a non-blocking descriptor.
  explicit socket_fd(int fd) noexcept : fd_(fd) {}
  socket_fd(socket_fd&& other) noexcept;
  socket_fd& operator=(socket_fd&& other) noexcept;
  socket_fd(const socket_fd&) = delete;
  socket_fd& operator=(const socket_fd&) = delete;
  ~socket_fd() { close(); }

  // The descriptor, or -1 once closed.
  int get() const noexcept { return fd_.load(std::memory_order_relaxed); }

  // Detaches (waking every waiter, whose call then throws
  // std::errc::operation_canceled) and closes. Idempotent; any thread.
  void close() noexcept;

  // Waits until the descriptor is readable / writable (or has an error or a
  // hang-up the next system call will report); false once `deadline` (null:
  // none) has passed. Throws std::system_error: operation_canceled when the
  // socket is closed meanwhile, bad_file_descriptor when it already was.
  // `what` prefixes the error message.
  bool wait_readable(const clock::time_point* deadline, const char* what);
  bool wait_writable(const clock::time_point* deadline, const char* what);

 private:
  bool wait(io_dir dir, const clock::time_point* deadline, const char* what);
  io_handle* attach_to_current(const char* what);

  std::atomic<int> fd_{-1};
  std::atomic<io_handle*> handle_{nullptr};
  std::shared_ptr<reactor> reactor_;  // written only under attach_lock_, before handle_
  spinlock attach_lock_;
};

}  // namespace spindle::detail
