// socket_fd: the owned, non-blocking descriptor inside every spindle socket
// (and net::fd_stream, whose descriptor may be a pipe or a tty: nothing here
// is particular to sockets), and the one place where a socket call waits
// for readiness.
//
// Closing while calls are in progress. The descriptor number must not be
// released while any call still uses it: the kernel hands a freed number to
// the next socket opened anywhere in the process, and a call that read the
// number before the close would then read from or write to that other
// connection (a leak between clients). So, as Go's internal/poll fdMutex
// does, every call on the socket holds a reference (socket_fd::use) for as
// long as it uses the number, and close() only marks the socket closed,
// wakes every waiter and detaches from the reactor; the last reference to
// go -- close()'s own, or the last call's -- closes the number. Every call
// made after close() (and every wait cut short by it) throws
// std::errc::operation_canceled; a socket that never was open (default
// constructed, moved from) throws std::errc::bad_file_descriptor.
//
// How a call waits is decided here, in wait(), and nowhere else: a fiber
// parks in its runtime's reactor, a plain thread blocks in poll(2). (The
// loop around the wait -- try, EAGAIN, wait, try again -- is written once
// in the library, as retry(), for every socket call.)
//
// With the io_uring backend a stream socket's reads and writes are with the
// kernel while they wait, not in the reactor: close() then also shuts the
// socket down (shutdown(2), both directions), which ends them (a read sees
// end of stream, a write EPIPE) so the calls can return and throw
// operation_canceled. The peer sees the end of the stream at once, as it
// would once the last call left.
//
// Registration with a reactor is lazy: the descriptor is attached to the
// reactor of the runtime whose fiber first has to wait on it (after an EAGAIN),
// and stays attached until close(). A socket that never waits never costs an
// epoll_ctl/kevent call. Outside any runtime a wait is a plain poll(2), in
// slices of close_check_interval: poll cannot see a close on another thread
// (the number stays open while the call is in progress), so the waiting
// thread looks at the closed bit between slices.
//
// Invariants:
//  * state_ packs the closed bit and the count of references (calls in
//    progress, and close() while it runs). Once closed is set the count only
//    goes down, so exactly one release sees it reach zero: that one closes
//    fd_ and recycles the reactor handle.
//  * handle_ is null, or points to the io_handle attached for fd_ in
//    *reactor_; it is published (release) after reactor_ is written, and both
//    change only under attach_lock_, which also orders a first wait's attach
//    against close(): the attach sees the closed bit and fails, or close()
//    sees the handle and detaches it. handle_ stays set (a shut handle, whose
//    waits return at once) until the last reference goes, so a call still
//    holding it can never find it recycled for another descriptor.
//  * close() detaches before the number is closed: the deregistration names
//    this socket's descriptor, not one opened since.
//
// Concurrency: one reading and one writing fiber may use the socket at the
// same time, and any fiber or thread may close() it while they are inside
// calls. Moving or destroying it while another fiber or thread is inside a
// call is a bug, as for any object (the destructor closes; the call would
// then use freed memory).
//
// Lifetime: once attached, the socket shares ownership of that runtime's
// reactor, so it may outlive the runtime: closing it later still detaches
// cleanly (it can no longer wait, as no fiber of that runtime is left).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <spindle/detail/clock.hpp>
#include <spindle/detail/io_dir.hpp>
#include <spindle/detail/spinlock.hpp>
#include <spindle/detail/waiter.hpp>

namespace spindle::detail {

class reactor;
class io_handle;

class socket_fd {
 public:
  // How long a plain thread waiting in poll(2) may take to notice a close()
  // made on another thread (see above).
  static constexpr std::chrono::milliseconds close_check_interval{20};

  socket_fd() noexcept = default;
  // Takes ownership of a non-blocking descriptor.
  explicit socket_fd(int fd) noexcept : fd_(fd) {}
  // Moving a socket a call is inside of is a bug (see above).
  socket_fd(socket_fd&& other) noexcept;
  socket_fd& operator=(socket_fd&& other) noexcept;
  socket_fd(const socket_fd&) = delete;
  socket_fd& operator=(const socket_fd&) = delete;
  ~socket_fd() { close(); }

  // The descriptor, or -1 once closed (or never open). For options and
  // foreign calls; socket calls use it through a `use`.
  int get() const noexcept { return closed() ? -1 : fd_.load(std::memory_order_relaxed); }
  bool closed() const noexcept { return state_.load(std::memory_order_acquire) & closed_bit; }

  // Marks the socket closed, wakes every waiter (whose call then throws
  // std::errc::operation_canceled) and detaches from the reactor; the
  // descriptor is closed now, or by the last call in progress when it
  // leaves. Idempotent; any thread.
  void close() noexcept;

  // One call on the socket: holds the descriptor open while it exists.
  // Costs one atomic read-modify-write on entry and one on exit (a CAS loop
  // on entry, as it must not count a call on a closed socket), the price
  // Go's fdMutex pays too: some 10-20 ns uncontended, against ~1 us for the
  // recv() or send() it guards. Throws std::system_error: operation_canceled if the socket is
  // closed, bad_file_descriptor if it never was open. `what` prefixes it.
  class use {
   public:
    use(const socket_fd& sock, const char* what);
    ~use() { sock_.release(); }
    use(const use&) = delete;
    use& operator=(const use&) = delete;

    int fd() const noexcept { return fd_; }

   private:
    const socket_fd& sock_;
    int fd_;
  };

  // Waits until the descriptor is ready in direction `dir` (or has an error
  // or a hang-up the next system call will report); false once `deadline`
  // (no_deadline: none) has passed. Throws std::system_error
  // operation_canceled when the socket is closed meanwhile (or was). Call it
  // inside a `use` (or on a socket no other fiber can see yet). `what`
  // prefixes the error message.
  // `kind`: what a waiting fiber reports in the dump (reactor::wait).
  bool wait(io_dir dir, clock::time_point deadline, const char* what,
            wait_kind kind = wait_kind::none);

  // Before a read or write through an io_uring ring (io/uring/ring_call.hpp):
  // notes that such calls are made, so that close() shuts the socket down
  // (shutdown(2), both directions) to end a call still with the kernel, as a
  // detach ends a readiness wait; true if the socket is closed already (the
  // call must not start). A seq_cst store and load, against close()'s
  // seq_cst read-modify-write and load: one of the two sees the other.
  // Throws std::logic_error, as a wait does, if the socket is attached to the
  // reactor of a runtime that is gone.
  bool begin_ring_call();

  // Sleeps until `until`, whatever the descriptor's readiness; a close()
  // meanwhile cuts it short with operation_canceled, as it does a wait.
  // For a back-off: tcp_listener::accept out of descriptors, when the
  // pending connection keeps the listener readable but cannot be accepted.
  void pause_until(clock::time_point until, const char* what);

 private:
  static constexpr std::uint32_t closed_bit = 1;
  static constexpr std::uint32_t one_ref = 2;

  io_handle* attach_to_current(const char* what);
  // Drops one reference; the last one after close() closes the descriptor.
  void release() const noexcept;
  void close_descriptor() const noexcept;

  std::atomic<int> fd_{-1};  // written only by the constructors and operator=
  // closed_bit | references * one_ref. Mutable, as handle_ (cleared by the
  // last reference): a const call (local_endpoint) holds a reference too.
  mutable std::atomic<std::uint32_t> state_{0};
  mutable std::atomic<io_handle*> handle_{nullptr};
  std::shared_ptr<reactor> reactor_;  // written only under attach_lock_, before handle_
  std::atomic<bool> ring_calls_{false};  // begin_ring_call() was called: see there
  spinlock attach_lock_;
};

}  // namespace spindle::detail
