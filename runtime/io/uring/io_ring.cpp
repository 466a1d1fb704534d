// io_ring on liburing; see io_ring.hpp.
#include "io/uring/io_ring.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

#include "fiber/fiber_switch.hpp"
#include "sched/context.hpp"
#include "sched/worker.hpp"

// Last: <linux/fs.h>, which it includes, defines BLOCK_SIZE, a name the
// moodycamel queue (through sched/worker.hpp) uses.
#include <liburing.h>

namespace spindle::detail {

// One operation of a fiber, on its stack for the length of io_ring::call.
//
// `owed` counts what the owner still owes the fiber once the door's waiter
// was claimed by someone else (a deadline, a cancellation, shutdown): the
// completion (1), plus a cancel request in transit from another thread (1).
// Whoever brings it to 0 -- the reaper or the request's taker, both under
// the ring's lock -- unparks the fiber, which parked once to wait for it; it
// reads `res` after that. Before the door's claim, the reaper wakes the
// fiber through the waiter (try_claim + unpark), as every primitive does.
struct ring_op {
  waiter w;                                // the door's; binds to the calling fiber
  int res = 0;                             // the completion's result, written by the reaper
  std::atomic<std::uint32_t> owed{1};
  fiber* self = nullptr;                   // the fiber to unpark once `owed` is 0
  ring_op* next_cancel = nullptr;          // in io_ring::cancel_requests_
};

namespace {

// user_data of the ring's own requests; an operation's is its ring_op's
// address (aligned, so never one of these).
constexpr std::uint64_t tag_wake = 1;     // the read of the wake eventfd
constexpr std::uint64_t tag_reactor = 2;  // the poll of the reactor's descriptor
constexpr std::uint64_t tag_cancel = 3;   // an ASYNC_CANCEL (its own completion says nothing)

// Submission queue entries per ring: a batch of this many requests is one
// io_uring_enter; more are submitted as the queue fills. Completions: room
// for every socket of a busy server to complete at once before they are
// reaped (the kernel keeps what overflows, and says so: reap() fetches it).
constexpr unsigned sq_entries = 256;
constexpr unsigned cq_entries = 8192;

bool probe_kernel() noexcept {
  io_uring ring;
  io_uring_params p{};
  if (io_uring_queue_init_params(4, &ring, &p) < 0) return false;  // ENOSYS, EPERM, ENOMEM
  bool ok = (p.features & IORING_FEAT_EXT_ARG) && (p.features & IORING_FEAT_NODROP);
  if (io_uring_probe* probe = io_uring_get_probe_ring(&ring)) {
    for (int op : {IORING_OP_RECV, IORING_OP_SEND, IORING_OP_RECVMSG, IORING_OP_SENDMSG,
                   IORING_OP_READ, IORING_OP_WRITE, IORING_OP_POLL_ADD, IORING_OP_ASYNC_CANCEL})
      ok = ok && io_uring_opcode_supported(probe, op);
    io_uring_free_probe(probe);
  } else {
    ok = false;
  }
  if (ok) {
    // drain() cancels with IORING_ASYNC_CANCEL_ANY (Linux 5.19): with
    // nothing to cancel, a kernel that knows it says 0 (how many it
    // cancelled) or ENOENT, an older one EINVAL.
    io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
    io_uring_cqe* cqe = nullptr;
    ok = io_uring_submit_and_wait(&ring, 1) == 1 && io_uring_peek_cqe(&ring, &cqe) == 0 &&
         (cqe->res >= 0 || cqe->res == -ENOENT);
  }
  io_uring_queue_exit(&ring);
  return ok;
}

}  // namespace

struct io_ring::kernel_ring {
  io_uring ring{};
  ~kernel_ring() { io_uring_queue_exit(&ring); }
};

bool io_ring::supported() noexcept {
  static const bool ok = probe_kernel();
  return ok;
}

std::unique_ptr<io_ring> io_ring::create(worker& owner, int reactor_fd) {
  auto k = std::make_unique<kernel_ring>();
  // Cooperative task running (Linux 5.19): a completion that needs this
  // thread's context (a socket read that had to wait, say) is finished at
  // its next entry into the kernel instead of by an inter-processor
  // interrupt of a busy worker; the kernel flags that it waits
  // (IORING_SQ_TASKRUN, see submit()). A sleeping worker is still woken.
  io_uring_params p{};
  p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
  p.cq_entries = cq_entries;
  if (io_uring_queue_init_params(sq_entries, &k->ring, &p) < 0) {
    p = io_uring_params{};
    p.flags = IORING_SETUP_CQSIZE;
    p.cq_entries = cq_entries;
    if (io_uring_queue_init_params(sq_entries, &k->ring, &p) < 0) {
      k.release();  // nothing to exit: the init failed
      return nullptr;
    }
  }
  // Blocking: an io_uring read of a non-blocking descriptor ends in EAGAIN
  // instead of waiting. wake() never blocks on it (the count cannot fill).
  const int wake_fd = ::eventfd(0, EFD_CLOEXEC);
  if (wake_fd < 0) return nullptr;
  return std::unique_ptr<io_ring>(new io_ring(owner, reactor_fd, std::move(k), wake_fd));
}

io_ring::io_ring(worker& owner, int reactor_fd, std::unique_ptr<kernel_ring> k, int wake_fd) noexcept
    : owner_(owner), reactor_fd_(reactor_fd), wake_fd_(wake_fd), k_(std::move(k)) {}

io_ring::~io_ring() {
  k_.reset();  // the ring first: a read of wake_fd_ may still be pending in it
  ::close(wake_fd_);
}

int io_ring::call(const request& rq, const void* object, clock::time_point deadline) {
  const bool reads = rq.code == op_code::recv || rq.code == op_code::recvmsg ||
                     rq.code == op_code::read_at;
  const wait_reason why{reads ? wait_kind::io_read : wait_kind::io_write, object, rq.fd};
  ring_op op;
  op.self = owner_.current;
  {
    std::lock_guard<spinlock> g(lock_);
    io_uring_sqe* sqe = next_sqe();
    prepare(sqe, rq);
    io_uring_sqe_set_data(sqe, &op);
    inflight_.store(inflight_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  const detail::wake r = op.w.park_withdrawable(why, deadline, [&] { return withdraw(op); });
  if (r == detail::wake::timed_out) return -ETIMEDOUT;
  return op.res;
}

void io_ring::prepare(io_uring_sqe* sqe, const request& rq) noexcept {
  const auto len = static_cast<unsigned>(std::min(rq.len, max_request_bytes));
  switch (rq.code) {
    case op_code::recv:
      io_uring_prep_recv(sqe, rq.fd, rq.buf, len, rq.flags);
      if (rq.poll_first) sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
      break;
    case op_code::send:
      io_uring_prep_send(sqe, rq.fd, rq.buf, len, rq.flags);
      break;
    case op_code::recvmsg:
      io_uring_prep_recvmsg(sqe, rq.fd, static_cast<msghdr*>(rq.buf), static_cast<unsigned>(rq.flags));
      break;
    case op_code::sendmsg:
      io_uring_prep_sendmsg(sqe, rq.fd, static_cast<const msghdr*>(rq.buf),
                            static_cast<unsigned>(rq.flags));
      break;
    case op_code::read_at:
      io_uring_prep_read(sqe, rq.fd, rq.buf, len, rq.offset);
      break;
    case op_code::write_at:
      io_uring_prep_write(sqe, rq.fd, rq.buf, len, rq.offset);
      break;
  }
}

// The door's waiter was claimed by a deadline, a cancellation or shutdown
// while the operation is with the kernel (or queued for it). On the fiber,
// on whichever worker it was woken. Asks for a kernel cancel -- taken at
// once on the owner's thread, else by the owner (or the spare) at its next
// flush or sleep -- and parks until the completion has been reaped and the
// request taken: the kernel may write into the buffer until then. True if
// the operation completed after all.
bool io_ring::withdraw(ring_op& op) noexcept {
  worker& here = *current_worker();
  std::uint32_t owed = op.owed.load(std::memory_order_acquire);
  while (owed != 0 && !op.owed.compare_exchange_weak(owed, owed + 1, std::memory_order_acq_rel,
                                                     std::memory_order_acquire)) {
  }
  if (owed != 0) {  // the completion is still to come: ask for the cancel
    op.next_cancel = cancel_requests_.load(std::memory_order_relaxed);
    while (!cancel_requests_.compare_exchange_weak(op.next_cancel, &op, std::memory_order_release,
                                                   std::memory_order_relaxed)) {
    }
    if (&here == &owner_) {
      std::lock_guard<spinlock> g(lock_);
      take_cancel_requests();
    } else {
      owner_.unpark();  // it takes requests at its next flush or sleep
    }
  }
  // Not cancellable, and not listed for shutdown's cancel (no waiter): only
  // the unpark that brings `owed` to 0 resumes it. If that came already, the
  // park returns at once.
  park_current(here, nullptr, false);
  return op.res >= 0;
}

void io_ring::prepare_cancel(ring_op& op) noexcept {
  io_uring_sqe* sqe = next_sqe();
  io_uring_prep_cancel64(sqe, reinterpret_cast<std::uintptr_t>(&op), 0);
  io_uring_sqe_set_data64(sqe, tag_cancel);
}

void io_ring::take_cancel_requests() noexcept {
  ring_op* op = cancel_requests_.exchange(nullptr, std::memory_order_acquire);
  while (op) {
    ring_op* next = op->next_cancel;
    fiber* self = op->self;
    // Above 1: the completion is still to come; else it came and was reaped.
    if (op->owed.load(std::memory_order_relaxed) > 1) prepare_cancel(*op);
    if (op->owed.fetch_sub(1, std::memory_order_acq_rel) == 1) unpark_fiber(self);  // last touch
    op = next;
  }
}

io_uring_sqe* io_ring::next_sqe() noexcept {
  for (;;) {
    if (io_uring_sqe* sqe = io_uring_get_sqe(&k_->ring)) return sqe;
    submit();  // the queue is full: hand it over
    // The kernel refused (EBUSY): make room; the woken fibers queue here.
    if (io_uring_sq_space_left(&k_->ring) == 0) reap(*current_worker());
  }
}

void io_ring::submit() noexcept {
  io_uring& ring = k_->ring;
  // Completions waiting for this thread to enter the kernel (COOP_TASKRUN)
  // are finished by the same call, or by one of their own.
  if (IO_URING_READ_ONCE(*ring.sq.kflags) & IORING_SQ_TASKRUN) io_uring_submit_and_get_events(&ring);
  while (io_uring_sq_ready(&ring) != 0) {
    const int r = io_uring_submit(&ring);
    if (r >= 0 || r == -EINTR) continue;
    // EBUSY: completions overflowed and must be reaped first; EAGAIN: the
    // kernel is short of memory. Either way, later.
    return;
  }
}

// Takes at most as many completions as the owner's run queue has room for:
// the rest stay in the completion queue, in order, for the next flush. A
// fiber that spilled to the global queue would wait behind every worker's
// ring (echo at 1,000 connections: p99 64 ms instead of 8 ms), as
// reactor::poll's max_events says.
void io_ring::reap(worker& here) noexcept {
  io_uring& ring = k_->ring;
  if (io_uring_cq_has_overflow(&ring)) io_uring_get_events(&ring);  // what the kernel held back
  const std::size_t room = run_queue::capacity - std::min<std::size_t>(here.local.size(), run_queue::capacity);
  const std::size_t limit = std::max<std::size_t>(room, 1);
  unsigned head;
  unsigned seen = 0;
  io_uring_cqe* cqe;
  io_uring_for_each_cqe(&ring, head, cqe) {
    if (seen == limit) break;
    ++seen;
    const std::uint64_t data = cqe->user_data;
    if (data == tag_wake) {
      wake_armed_ = false;
    } else if (data == tag_reactor) {
      reactor_armed_ = false;
      reactor_signalled_.store(true, std::memory_order_relaxed);
    } else if (data != tag_cancel) {
      auto* op = reinterpret_cast<ring_op*>(static_cast<std::uintptr_t>(data));
      inflight_.store(inflight_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
      fiber* self = op->self;
      op->res = cqe->res;
      if (op->w.try_claim(detail::wake::notified)) {
        op->w.unpark();  // last touch
      } else if (op->owed.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        unpark_fiber(self);  // withdrawn, and no request in transit: last touch
      }
    }
  }
  io_uring_cq_advance(&ring, seen);
}

void io_ring::flush(worker& here) noexcept {
  std::lock_guard<spinlock> g(lock_);
  flush_locked(here);
}

void io_ring::try_flush(worker& here) noexcept {
  if (!lock_.try_lock()) return;
  flush_locked(here);
  lock_.unlock();
}

void io_ring::flush_locked(worker& here) noexcept {
  here.polling = true;  // woken fibers queue in completion order; see worker::polling
  take_cancel_requests();
  submit();
  reap(here);
  here.polling = false;
}

void io_ring::arm_sleep_requests(bool watch_reactor) noexcept {
  if (!wake_armed_) {
    io_uring_sqe* sqe = next_sqe();
    io_uring_prep_read(sqe, wake_fd_, &wake_count_, sizeof wake_count_, 0);
    io_uring_sqe_set_data64(sqe, tag_wake);
    wake_armed_ = true;
  }
  if (watch_reactor && !reactor_armed_) {
    io_uring_sqe* sqe = next_sqe();
    io_uring_prep_poll_add(sqe, reactor_fd_, POLLIN);
    io_uring_sqe_set_data64(sqe, tag_reactor);
    reactor_armed_ = true;
  }
}

void io_ring::sleep(clock::time_point deadline, bool watch_reactor) noexcept {
  // Held while asleep: only the spare's try_flush could want it, and it
  // serves workers that run fibers, not sleeping ones.
  std::lock_guard<spinlock> g(lock_);
  owner_.polling = true;
  take_cancel_requests();
  arm_sleep_requests(watch_reactor);
  io_uring_cqe* cqe = nullptr;
  if (deadline == no_deadline) {
    io_uring_submit_and_wait_timeout(&k_->ring, &cqe, 1, nullptr, nullptr);
  } else {
    const auto left = std::max(deadline - clock::now(), clock::duration::zero());
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
    __kernel_timespec ts{ns / 1'000'000'000, ns % 1'000'000'000};
    io_uring_submit_and_wait_timeout(&k_->ring, &cqe, 1, &ts, nullptr);
  }
  // What the wait could not submit (EBUSY) goes at the next flush.
  reap(owner_);
  owner_.polling = false;
}

void io_ring::wake() noexcept {
  const std::uint64_t one = 1;
  [[maybe_unused]] auto r = ::write(wake_fd_, &one, sizeof one);
}

void io_ring::drain() noexcept {
  std::lock_guard<spinlock> g(lock_);
  take_cancel_requests();
  io_uring_sqe* sqe = next_sqe();
  io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
  io_uring_sqe_set_data64(sqe, tag_cancel);
  submit();
  while (inflight_.load(std::memory_order_relaxed) != 0) {
    io_uring_cqe* cqe = nullptr;
    io_uring_wait_cqe(&k_->ring, &cqe);
    reap(*current_worker());
    take_cancel_requests();
    submit();
  }
}

}  // namespace spindle::detail
