// io_ring: one worker's io_uring (the io_uring backend, options::io).
//
// With this backend a fiber's socket read or write is not a system call of
// its own: the fiber puts a request in its worker's submission queue and
// parks; the worker hands every request queued meanwhile to the kernel in one
// io_uring_enter when it runs out of fibers (or at its periodic check, every
// 61 rounds), and finds the completions in the completion queue without a
// system call at all. On a stackful fiber the buffer simply stays on the
// waiting fiber's stack (PhotonLibOS does the same). Readiness (accept,
// connect, io::wait_*) stays with the epoll reactor, which the ring watches
// while its worker sleeps.
//
// Who touches what:
//  * The ring's queues belong to its worker (the *owner*), under `lock_`: the
//    owner prepares, submits and reaps; the stall monitor's spare worker
//    flushes the ring of a worker stuck in one fiber (try_flush), so its
//    fibers' reads and writes go on; the thread that shuts the runtime down
//    drains it. Uncontended otherwise: one lock round trip per request and
//    per flush. (So no IORING_SETUP_SINGLE_ISSUER.)
//  * A fiber's operation (ring_op, on the fiber's stack) is prepared on the
//    owner's thread; the fiber may be woken on any worker and run elsewhere.
//  * wake() and the cancel requests of withdraw() are for any thread.
//
// A parked worker sleeps in its ring (sleep(): one io_uring_enter that
// submits what is queued and waits), until a completion, wake() (an eventfd
// with a read pending in the ring), the nearest timer, or, for the driver,
// the epoll descriptor turning readable (a poll request on it).
//
// An operation cut short (its deadline, a cancellation, shutdown) is
// cancelled in the kernel, and its fiber does not return before the
// operation's completion has been reaped: the kernel never writes into a
// stack frame that is gone. The request to cancel goes to the owner (it alone
// submits); what completed after all (bytes read or written) is returned, not
// dropped. See withdraw() in io_ring.cpp.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <spindle/detail/clock.hpp>
#include <spindle/detail/spinlock.hpp>
#include <spindle/detail/thread_safety.hpp>
#include <spindle/detail/waiter.hpp>
#include <utility>

struct io_uring_sqe;

namespace spindle::detail {

class worker;
struct ring_op;

class io_ring {
 public:
  // Whether the kernel offers what this backend needs (the opcodes below,
  // waits with a timeout argument); probed once per process. False where
  // io_uring is disabled (sysctl kernel.io_uring_disabled, seccomp: ENOSYS,
  // EPERM) and where spindle was built without liburing.
  static bool supported() noexcept;
  // `owner`'s ring, watching `reactor_fd` (the epoll descriptor) while its
  // worker drives the reactor; null if the kernel refuses one (memory).
  static std::unique_ptr<io_ring> create(worker& owner, int reactor_fd);
  ~io_ring();
  io_ring(const io_ring&) = delete;
  io_ring& operator=(const io_ring&) = delete;

  // A request's length is 32 bits in the kernel: a larger buffer is read or
  // written at most this much at a time (a short count, which recv, send and
  // the file calls' loops take as they take any other).
  static constexpr std::size_t max_request_bytes = std::size_t{1} << 30;

  // What a fiber asks of the ring.
  // recvmsg/sendmsg: one datagram, its address in `msg` (datagram sockets).
  enum class op_code : std::uint8_t { recv, send, recvmsg, sendmsg, read_at, write_at };
  struct request {
    op_code code{};
    int fd = -1;
    void* buf = nullptr;  // written for recv and read_at, only read for send and write_at;
                          // for recvmsg and sendmsg, the msghdr (on the caller's stack)
    std::size_t len = 0;  // not for recvmsg and sendmsg (the msghdr's iovec says it)
    int flags = 0;              // recv(2)/send(2) flags
    std::uint64_t offset = 0;   // read_at, write_at
    // recv: the socket is most likely empty (the last read stopped short),
    // so the kernel waits for data before it tries (IORING_RECVSEND_POLL_FIRST)
    // instead of failing one attempt first.
    bool poll_first = false;
  };

  // On the owner, in a fiber: runs `rq` and returns its result, a count
  // (>= 0) or -errno; -ETIMEDOUT if `deadline` (no_deadline: none) passed
  // before anything was done. Parks the fiber meanwhile, waiting (for the
  // dump) to read or write `object` (the socket or file); throws
  // spindle::cancelled (or unwinds at shutdown) as any wait does, unless
  // the operation completed after all.
  int call(const request& rq, const void* object, clock::time_point deadline);

  // Whether flush() has anything to do. Any thread; a hint.
  bool busy() const noexcept {
    return inflight_.load(std::memory_order_relaxed) != 0 ||
           cancel_requests_.load(std::memory_order_relaxed);
  }
  // On `here`'s thread (the owner, or the spare serving it): hands queued
  // requests to the kernel and reaps completions; the fibers they wake go
  // to `here`'s run queue (worker::polling).
  void flush(worker& here) noexcept;
  // The same, unless another thread holds the ring (the spare, for a
  // stalled owner).
  void try_flush(worker& here) noexcept;
  // Owner, parking: flush(), then waits until a completion, wake(),
  // `deadline` (no_deadline: none), or, if `watch_reactor`, the reactor's
  // descriptor turning readable; reaps.
  void sleep(clock::time_point deadline, bool watch_reactor) noexcept;
  // Owner: true once if the reactor's descriptor turned readable (the poll
  // request armed by sleep() completed) since the last call.
  bool take_reactor_signal() noexcept {
    return reactor_signalled_.exchange(false, std::memory_order_relaxed);
  }
  // Any thread: makes a sleep() in progress, or the next one, return.
  void wake() noexcept;

  // After the owner's thread exited (runtime shutdown), on the thread that
  // shuts down: submits what is queued, cancels every operation in the
  // kernel and reaps until none is left, so every fiber waiting on one is
  // woken.
  void drain() noexcept;

 private:
  struct kernel_ring;  // liburing's struct io_uring, kept out of this header
  io_ring(worker& owner, int reactor_fd, std::unique_ptr<kernel_ring> k, int wake_fd) noexcept;

  bool withdraw(ring_op& op) noexcept;  // the fiber, on any worker: see io_ring.cpp
  void flush_locked(worker& here) noexcept SPINDLE_REQUIRES(lock_);
  static void prepare(io_uring_sqe* sqe, const request& rq) noexcept;
  void prepare_cancel(ring_op& op) noexcept SPINDLE_REQUIRES(lock_);
  void take_cancel_requests() noexcept SPINDLE_REQUIRES(lock_);
  // Submits (and reaps) to make room when the queue is full.
  io_uring_sqe* next_sqe() noexcept SPINDLE_REQUIRES(lock_);
  void submit() noexcept SPINDLE_REQUIRES(lock_);
  void reap(worker& here) noexcept SPINDLE_REQUIRES(lock_);
  void arm_sleep_requests(bool watch_reactor) noexcept SPINDLE_REQUIRES(lock_);

  worker& owner_;
  const int reactor_fd_;
  const int wake_fd_;
  std::unique_ptr<kernel_ring> k_;  // its queues: under lock_
  spinlock lock_;
  // Operations queued or submitted, not reaped yet: changed under lock_,
  // read by busy() without it.
  std::atomic<std::size_t> inflight_{0};
  bool wake_armed_ SPINDLE_GUARDED_BY(lock_) = false;     // a read of wake_fd_ is pending
  bool reactor_armed_ SPINDLE_GUARDED_BY(lock_) = false;  // a poll of reactor_fd_ is pending
  std::atomic<bool> reactor_signalled_{false};            // that poll completed
  std::uint64_t wake_count_ = 0;  // the pending read's buffer (the kernel writes it)
  // Operations whose fibers asked for a kernel cancel (a Treiber stack;
  // whoever holds lock_ takes the whole stack at once).
  std::atomic<ring_op*> cancel_requests_{nullptr};
};

}  // namespace spindle::detail
