// ring_call: a socket read or write through the calling fiber's io_uring
// ring (io_ring.hpp), in place of retry()'s try-then-wait loop
// (net/socket_call.hpp) when the runtime uses the io_uring backend.
#pragma once

#include <cerrno>
#include <cstddef>
#include <spindle/detail/socket_fd.hpp>

#include "io/call_deadline.hpp"
#include "io/errors.hpp"
#include "io/uring/io_ring.hpp"
#include "sched/context.hpp"
#include "sched/worker.hpp"

namespace spindle::detail {

// The calling fiber's ring: its worker's, while the runtime runs. Null on a
// plain thread, with another backend, on the stall monitor's spare worker,
// and once the runtime stops (a fiber unwinding at shutdown waits in the
// reactor, where waits then end at once).
inline io_ring* current_ring() noexcept {
  worker* w = current_worker();
  if (!w || !w->current || !w->ring || w->stopping.load(std::memory_order_relaxed)) return nullptr;
  return w->ring.get();
}

// Runs one request on `sock` (inside its socket_fd::use, whose descriptor
// `rq.fd` is) through `ring`; returns the count (0: end of stream for a
// stream read, an empty datagram for a datagram one). Throws
// std::system_error as retry() does: timed_out once `deadline` has passed,
// operation_canceled if the socket is (or gets) closed, the call's error
// otherwise (prefixed `what`); std::logic_error as socket_fd::wait.
inline std::size_t ring_transfer(io_ring& ring, socket_fd& sock, const io_ring::request& rq,
                                 call_deadline& deadline, const char* what) {
  if (sock.begin_ring_call()) throw_errno(ECANCELED, what);
  for (;;) {
    const int r = ring.call(rq, &sock, deadline.get());
    if (r > 0) return static_cast<std::size_t>(r);
    // close() ends a call with the kernel by shutting the socket down: the
    // end of stream or EPIPE that follows is the close's.
    if (sock.closed()) throw_errno(ECANCELED, what);
    if (r == 0) return 0;
    if (r != -EINTR && r != -EAGAIN) throw_errno(-r, what);
  }
}

}  // namespace spindle::detail
