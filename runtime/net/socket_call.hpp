// socket_call: the one loop every socket call runs, in the shape of Tokio's
// Registration::async_io: try the system call; when it is interrupted
// (EINTR), try again; when it would block (EAGAIN), wait for readiness and
// try again; once the call's deadline has passed, throw std::errc::timed_out.
// tcp_stream's reads, writes and connect, tcp_listener::accept and
// udp_socket's send_to/recv_from are each one `op` passed to retry().
//
// `op` makes the system call and returns what it returns: a count (>= 0) or
// -1 with errno set. All of it is inline, so a call that succeeds at once
// costs what it did when each call wrote this loop itself: the system call,
// two compares and the cooperative budget's thread-local lookup and few loads
// (sched/coop_budget.hpp); no clock read (call_deadline is lazy), no atomic
// read-modify-write.
#pragma once

#include <sys/types.h>

#include <cerrno>
#include <cstddef>
#include <spindle/detail/socket_fd.hpp>

#include "io/call_deadline.hpp"
#include "io/errors.hpp"
#include "sched/context.hpp"
#include "sched/coop_budget.hpp"

namespace spindle::detail {

// One attempt that never waits: calls `op` until it is not interrupted.
// Returns its result (>= 0), or -1 when it would block; throws
// std::system_error (prefixed `what`) for any other error. The try_* calls
// of tcp_stream are this alone.
template <class Op>
ssize_t try_once(const char* what, Op&& op) {
  for (;;) {
    const ssize_t n = op();
    if (n >= 0) return n;
    const int err = last_error();  // op may have suspended: see io/errors.hpp
    if (err == EAGAIN || err == EWOULDBLOCK) return -1;
    if (err != EINTR) throw_errno(err, what);
  }
}

// Waits until `sock` is ready in direction `dir`; throws std::errc::timed_out
// once `deadline` has passed, and what socket_fd::wait throws.
inline void wait_or_time_out(socket_fd& sock, io_dir dir, clock::time_point deadline,
                             const char* what, wait_kind kind = wait_kind::none) {
  if (!sock.wait(dir, deadline, what, kind)) throw_errno(ETIMEDOUT, what);
}

// Tries `op` until it does not block, waiting for readiness in direction
// `dir` whenever it would; returns its result (>= 0). Call it inside a
// socket_fd::use.
template <class Op>
std::size_t retry(socket_fd& sock, io_dir dir, call_deadline& deadline, const char* what, Op&& op,
                  wait_kind kind = wait_kind::none) {
  // A fiber whose socket is always ready lets the others run.
  if (worker* w = current_worker(); w && w->current) spend_coop_budget(*w);
  for (;;) {
    const ssize_t n = try_once(what, op);
    if (n >= 0) return static_cast<std::size_t>(n);
    wait_or_time_out(sock, dir, deadline.get(), what, kind);
  }
}

}  // namespace spindle::detail
