// The backend-independent half of the reactor: handles, and how a fiber or a
// thread waits on one. See reactor.hpp for the protocol.
#include "io/reactor.hpp"

#include <cerrno>
#include <mutex>
#include <spindle/detail/fiber.hpp>
#include <spindle/detail/wake_list.hpp>
#include <stdexcept>
#include <system_error>

#include "io/poll_wait.hpp"
#include "sched/context.hpp"

namespace spindle::detail {
namespace {

// How a woken waiter's wait ended, stored in its node as it is claimed
// (wait_node::tag): a signal or a close.
constexpr std::size_t tag_ready = 0;
constexpr std::size_t tag_closed = 1;
constexpr auto mark_ready = [](wait_node& n) noexcept { n.tag = tag_ready; };
constexpr auto mark_closed = [](wait_node& n) noexcept { n.tag = tag_closed; };

// Unused handles wait in a FIFO of at least this many before reuse: an event
// the kernel reported just before a handle's descriptor was deregistered
// then most likely finds it still unused, rather than causing a spurious
// wake-up of its next owner. (Correctness does not depend on it: see
// io_handle on references.)
constexpr std::size_t handle_quarantine = 64;

}  // namespace

void io_handle::signal(io_dir d, bool hang_up) noexcept {
  wake_list woken;  // unparks after the lock is released
  std::lock_guard<spinlock> g(lock);
  direction& dir = dirs[static_cast<int>(d)];
  if (hang_up) dir.hung_up = true;
  // Nobody waits (or every waiter timed out meanwhile): the next wait takes it.
  if (claim_all(dir.waiters, woken, mark_ready) == 0) dir.ready = true;
}

void io_handle::shut() noexcept {
  wake_list woken;  // unparks after the lock is released
  std::lock_guard<spinlock> g(lock);
  closed = true;
  for (direction& dir : dirs) claim_all(dir.waiters, woken, mark_closed);
}

reactor::~reactor() = default;

io_handle* reactor::take_handle(int fd) {
  io_handle* h = nullptr;
  if (free_count_ > handle_quarantine) {
    h = free_head_;
    free_head_ = h->next_free;
    if (!free_head_) free_tail_ = nullptr;
    --free_count_;
  } else {
    all_.push_back(std::make_unique<io_handle>());
    h = all_.back().get();
  }
  std::lock_guard<spinlock> g(h->lock);  // a late event may still signal it
  h->fd = fd;
  h->closed = false;
  for (io_handle::direction& dir : h->dirs) dir.ready = dir.hung_up = false;
  return h;
}

void reactor::put_handle(io_handle* h) noexcept {
  h->next_free = nullptr;
  if (free_tail_)
    free_tail_->next_free = h;
  else
    free_head_ = h;
  free_tail_ = h;
  ++free_count_;
}

void reactor::register_handle(io_handle* h) {
  // Published (release) before the kernel can report the descriptor: see
  // acquire_attachments().
  attached_.fetch_add(1, std::memory_order_release);
  try {
    add_fd(h->fd, h);
  } catch (...) {
    attached_.fetch_sub(1, std::memory_order_relaxed);
    throw;
  }
  const auto fd = static_cast<std::size_t>(h->fd);
  if (fd >= by_fd_.size()) by_fd_.resize(fd + 1, nullptr);
  by_fd_[fd] = h;
}

void reactor::unregister_handle(io_handle* h) noexcept {
  remove_fd(h->fd);
  by_fd_[static_cast<std::size_t>(h->fd)] = nullptr;
  attached_.fetch_sub(1, std::memory_order_release);
}

io_handle* reactor::registered(int fd) const noexcept {
  const auto i = static_cast<std::size_t>(fd);
  return fd >= 0 && i < by_fd_.size() ? by_fd_[i] : nullptr;
}

void reactor::drop_reference(io_handle* h) noexcept {
  if (--h->refs != 0) return;
  if (registered(h->fd) == h) unregister_handle(h);  // the last io::wait_* on it left
  put_handle(h);
}

io_handle* reactor::attach(int fd) {
  std::lock_guard g(registry_lock_);
  io_handle* h = registered(fd);
  if (!h) {
    h = take_handle(fd);
    try {
      register_handle(h);
    } catch (...) {
      put_handle(h);
      throw;
    }
  }
  ++h->refs;
  return h;
}

void reactor::detach(io_handle* h) noexcept {
  {
    std::lock_guard g(registry_lock_);
    if (registered(h->fd) == h) unregister_handle(h);
  }
  h->shut();
}

void reactor::release(io_handle* h) noexcept {
  std::lock_guard g(registry_lock_);
  drop_reference(h);
}

void reactor::check_not_orphaned() const {
  if (orphaned_.load(std::memory_order_relaxed))
    throw std::logic_error("spindle: socket waited on after the runtime it was attached to was destroyed");
}

io_result reactor::wait(io_handle& h, io_dir d, clock::time_point deadline, wait_kind kind) {
  return wait_queued(h, d, deadline, false, kind);
}

io_result reactor::wait_queued(io_handle& h, io_dir d, clock::time_point deadline, bool level,
                               wait_kind kind) {
  // The callers (socket_fd::wait, io::wait_*) send plain threads to poll(2).
  if (!current_fiber()) throw std::logic_error("spindle: reactor wait outside a fiber");
  check_not_orphaned();
  waiter w;
  wait_node n(w);
  {
    std::lock_guard<spinlock> g(h.lock);
    if (h.closed) return io_result::closed;
    io_handle::direction& dir = h.dirs[static_cast<int>(d)];
    if (dir.ready || dir.hung_up) {
      dir.ready = false;
      return io_result::ready;
    }
    dir.waiters.push_back(n);
  }
  // Queued first, looked second: an edge after the look wakes this waiter.
  // The self-claim fails only if a signal or a close claimed it meanwhile;
  // its unpark is then on the way and the wait below returns at once.
  if (level && ready_now(h.fd, d) && w.try_claim(detail::wake::notified)) {
    std::lock_guard<spinlock> g(h.lock);
    h.dirs[static_cast<int>(d)].waiters.erase_if_linked(n);
    return io_result::ready;
  }
  if (kind == wait_kind::none) kind = d == io_dir::read ? wait_kind::io_read : wait_kind::io_write;
  const detail::wake r = w.park({kind, &h, h.fd}, deadline, [&] {
    std::lock_guard<spinlock> g(h.lock);
    h.dirs[static_cast<int>(d)].waiters.erase_if_linked(n);
  });
  if (r == detail::wake::timed_out) return io_result::timed_out;
  return n.tag == tag_closed ? io_result::closed : io_result::ready;
}

io_result reactor::wait_fd(int fd, io_dir d, clock::time_point deadline) {
  io_handle* h;
  {
    std::lock_guard g(registry_lock_);
    h = registered(fd);
    if (!h) {
      h = take_handle(fd);
      try {
        register_handle(h);
      } catch (const std::system_error& e) {
        put_handle(h);
        if (e.code() == std::errc::operation_not_permitted) return io_result::ready;
        throw;
      }
    }
    ++h->refs;
  }
  struct release_on_exit {
    reactor* r;
    io_handle* h;
    ~release_on_exit() { r->release(h); }
  } guard{this, h};
  return wait_queued(*h, d, deadline, true, wait_kind::none);
}

}  // namespace spindle::detail
