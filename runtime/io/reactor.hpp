// reactor: readiness notification for descriptors, one per runtime.
//
// One interface, two backends: epoll_reactor (Linux, edge-triggered, each
// descriptor registered once for both directions) and kqueue_reactor (macOS
// and the BSDs, EV_CLEAR, EVFILT_USER for wake-ups). The backend only turns
// kernel events into io_handle::signal() calls; the waiting logic is shared.
//
// How a fiber does IO: it tries the system call first and, only on EAGAIN,
// calls wait(handle, dir). Because registration is edge-triggered, an edge
// that arrives between the EAGAIN and the wait must not be lost: every handle
// keeps a `ready` flag per direction, set by signal() when nobody waits and
// consumed by the next wait(), which then returns at once so the caller
// retries its system call (at worst one extra EAGAIN).
//
// A hang-up (end of stream, reset, error) is final: the kernel reports it
// once, but every later call will see it, so it stays set (`hung_up`) and
// every later wait in that direction returns at once. Readers rely on it
// when they wait *before* reading after a short read (tcp_stream): the data
// and the FIN may arrive in one edge, the short read takes the data, and no
// edge is left to wake the wait for the end of stream (Tokio keeps its
// READ_CLOSED readiness for the same reason).
//
// Who polls: an idle worker blocks in poll() with the nearest timer deadline
// (at most one at a time: the runtime's driver lock), busy workers call
// poll(now) every few scheduling rounds so CPU-bound fibers cannot starve IO,
// and wake() (an eventfd / EVFILT_USER) interrupts a blocked poll.
#pragma once

#include "sync/annotated_mutex.hpp"

#include <spindle/detail/spinlock.hpp>
#include <spindle/detail/waiter.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "io/io_types.hpp"

namespace spindle::detail {

// One registered descriptor. Allocated by the reactor and recycled, never
// freed before the reactor: an event still in flight for a detached handle
// only causes a spurious wake-up, which every caller survives by retrying.
//
// A handle is recycled only once nobody holds it: its owner (a socket,
// from attach() to release()) and every io::wait_* in progress on it each
// hold a reference, so a waiter can never find its handle reborn for
// another descriptor.
class io_handle {
 public:
  int fd = -1;  // written under the reactor's registry_lock_ before the handle is handed out

  // Marks `d` ready and wakes its waiters; `hang_up`: for good (end of
  // stream, reset, error). Called by the backend's poll().
  void signal(io_dir d, bool hang_up) noexcept;
  // Wakes every waiter with io_result::closed; later waits return closed.
  void shut() noexcept;

 private:
  friend class reactor;
  struct direction {
    wait_queue waiters;
    bool ready = false;    // an edge arrived with nobody waiting
    bool hung_up = false;  // a final event arrived
  };
  spinlock lock;
  direction dirs[2] SPINDLE_GUARDED_BY(lock);
  bool closed SPINDLE_GUARDED_BY(lock) = false;
  // The owner's reference and one per io::wait_* in progress; guarded by the
  // reactor's registry_lock_, as next_free (a lock of another object, which
  // an attribute here cannot name).
  std::size_t refs = 0;
  io_handle* next_free = nullptr;
};

class reactor {
 public:
  // The platform's backend.
  static std::unique_ptr<reactor> create();
  virtual ~reactor();

  // Registers a non-blocking fd for both directions, for its owner (a
  // socket), and returns the handle with the owner's reference; a
  // registration made by an io::wait_* in progress is shared. Throws
  // std::system_error.
  io_handle* attach(int fd);
  // Deregisters h and wakes its waiters with io_result::closed; later waits
  // on h return closed at once. h stays valid, and is not reused, until the
  // owner's release(). Does not close the descriptor: call it before.
  void detach(io_handle* h) noexcept;
  // Drops the reference attach() gave: h is recycled once no io::wait_*
  // holds it either.
  void release(io_handle* h) noexcept;

  // Suspends the calling fiber until h is ready in direction d, the deadline
  // (no_deadline: none) passes, or h is detached. Fibers only (else
  // std::logic_error): the callers, socket_fd::wait and io::wait_*, are
  // where a plain thread is sent to poll(2) instead (poll_wait.hpp).
  // `kind`: what the waiting fiber reports in the dump (io_read, io_write,
  // io_accept, io_connect); wait_kind::none: io_read or io_write, by `d`.
  io_result wait(io_handle& h, io_dir d, clock::time_point deadline,
                 wait_kind kind = wait_kind::none);
  // The same for a descriptor the runtime does not own (io::wait_*). The
  // registration is shared by every wait on fd in progress (and with a
  // socket that owns fd, if there is one) and removed when the last leaves.
  // A descriptor epoll cannot watch (EPERM: a regular file or a directory)
  // is always ready, as poll(2) says.
  io_result wait_fd(int fd, io_dir d, clock::time_point deadline);

  // Waits for events until `deadline` (no_deadline: no limit; a past deadline:
  // do not block), signals at most `max_events` (1 to max_poll_events) handles, and
  // returns how many events it handled. Events not taken stay queued in the
  // kernel, in order: a worker asks for no more than its run queue holds, so
  // woken fibers never spill to the global queue, where they would wait
  // behind every ring (echo at 1,000 connections: p99 ~150 ms with spills).
  static constexpr int max_poll_events = 256;
  virtual int poll(clock::time_point deadline, int max_events) = 0;
  // Makes a concurrent or the next poll() return at once. Any thread.
  virtual void wake() noexcept = 0;
  // The backend's own descriptor (epoll, kqueue), readable while events are
  // waiting: an io_uring worker sleeps on it with a poll request.
  virtual int descriptor() const noexcept = 0;

  // Called once the owning runtime has shut down: nobody polls any more, so
  // a fiber (of another runtime) that would wait here gets a std::logic_error
  // instead of a hang. Handles can still be detached.
  void orphan() noexcept { orphaned_.store(true, std::memory_order_relaxed); }
  // Throws std::logic_error once orphan() was called: what a wait here, or a
  // socket call through an io_uring ring of a socket attached here, throws.
  void check_not_orphaned() const;

  // Descriptors attached right now; busy workers poll only when there are any.
  std::size_t attached() const noexcept { return attached_.load(std::memory_order_relaxed); }

 protected:
  // Called under registry_lock_, so that a descriptor's registration and its
  // entry in by_fd_ change together (two first waits on one descriptor must
  // not both add it). add_fd throws std::system_error.
  virtual void add_fd(int fd, io_handle* h) SPINDLE_REQUIRES(registry_lock_) = 0;
  virtual void remove_fd(int fd) noexcept SPINDLE_REQUIRES(registry_lock_) = 0;

  // Called by a backend after its wait returned, before it signals handles:
  // pairs with the release in register_handle(), so that a handle set up on one thread
  // is seen complete by the poller on another. The kernel orders epoll_ctl
  // before the epoll_wait that reports the descriptor, but ThreadSanitizer
  // cannot see that; this makes the edge explicit (one load per poll).
  void acquire_attachments() const noexcept { (void)attached_.load(std::memory_order_acquire); }

 private:
  // wait(), and for io::wait_* (`level`): after queueing, a look at the
  // descriptor's current state, since the registration may be shared and
  // another waiter may have taken the edge that reported it.
  io_result wait_queued(io_handle& h, io_dir d, clock::time_point deadline, bool level,
                        wait_kind kind);

  // All under registry_lock_.
  io_handle* take_handle(int fd) SPINDLE_REQUIRES(registry_lock_);
  void put_handle(io_handle* h) noexcept SPINDLE_REQUIRES(registry_lock_);
  void register_handle(io_handle* h) SPINDLE_REQUIRES(registry_lock_);  // throws std::system_error
  void unregister_handle(io_handle* h) noexcept SPINDLE_REQUIRES(registry_lock_);
  void drop_reference(io_handle* h) noexcept SPINDLE_REQUIRES(registry_lock_);
  io_handle* registered(int fd) const noexcept SPINDLE_REQUIRES(registry_lock_);

  // A std::mutex, not a spinlock: it is held across epoll_ctl/kevent. Taken
  // once when a socket first waits and once or twice when it closes, and
  // around each io::wait_*; the kernel serialises changes to one epoll set
  // anyway.
  annotated_mutex registry_lock_;
  std::vector<std::unique_ptr<io_handle>> all_ SPINDLE_GUARDED_BY(registry_lock_);
  std::vector<io_handle*> by_fd_ SPINDLE_GUARDED_BY(registry_lock_);   // registered handles
  io_handle* free_head_ SPINDLE_GUARDED_BY(registry_lock_) = nullptr;  // FIFO of unused handles
  io_handle* free_tail_ SPINDLE_GUARDED_BY(registry_lock_) = nullptr;
  std::size_t free_count_ SPINDLE_GUARDED_BY(registry_lock_) = 0;
  std::atomic<std::size_t> attached_{0};
  std::atomic<bool> orphaned_{false};
};

}  // namespace spindle::detail
