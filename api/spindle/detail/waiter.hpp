// waiter, wait_node, wait_queue: how anything in spindle blocks.
//
// Every blocking primitive (mutex, condition variable, channel, future, join,
// socket readiness, sleep) is built from three pieces:
//
//   waiter      one blocked party, a fiber or a plain OS thread. Lives on the
//               blocked party's stack for the length of one wait. Exactly one
//               party *claims* it (try_claim: pending -> notified | timed_out |
//               cancelled) and that party alone then calls unpark(); the blocked
//               party does not return from park() before that unpark, so the
//               claimer may touch the waiter (and whatever it points to) from
//               the successful claim up to unpark(), and never after.
//   wait_node   one link of a waiter into one queue (select links one waiter
//               into several queues, one node per case). Carries a payload
//               pointer the primitive uses to hand values over directly.
//   wait_queue  an intrusive FIFO of nodes, guarded by the owning primitive's
//               own lock (a spinlock), never by a lock of its own.
//
// The protocol every primitive follows:
//
//   waiting side                         notifying side
//   ------------                         --------------
//   lock(); check state;                 lock();
//   queue.push_back(node); unlock();     while (node = queue.pop_front())
//   w.park(reason, deadline, [&] {         if (node->w->try_claim(notified)) {
//     lock(); queue.erase_if_linked(node);   move the value through node->data;
//     unlock(); });                          break; }
//                                        unlock();
//                                        node->w->unpark();   // last touch
//
// waiter::park is the one door through which anything in spindle suspends
// (Go's gopark). It takes what the party waits for (a wait_reason: a kind and
// the object, recorded in the fiber's wait_record for runtime::dump()) and
// a deadline (no_deadline: none). When the wake is not a notify, park calls
// the primitive's `leave` (unlink the node under the primitive's lock) and
// then throws if the wait was cancelled; so every wait withdraws the same
// way and a cancellation is one check in one place.
//
// A fiber parks with the scheduler's park protocol: the fiber is published as
// parked only after it is completely off its stack, so an unpark that races
// with the park is never lost and never resumes a fiber that is still running
// (see runtime/fiber/fiber_switch.hpp). A thread blocks on a per-thread
// parker. A deadline is served by the runtime's timers for a fiber and by the
// thread parker for a thread; either way the timed-out waiter is claimed as
// timed_out, so it cannot also be notified, and `leave` unlinks it: a later
// notify is never lost on a departed waiter.
//
// `cancelled` is used only while a runtime shuts down: the parked fiber is
// claimed as cancelled, resumes, leaves its queue and park throws
// fiber_unwind, so its stack unwinds and its destructors run.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <spindle/cancelled.hpp>
#include <spindle/detail/clock.hpp>

namespace spindle::detail {

class fiber;
class thread_parker;
class waiter;

// How a wait ended. A waiter's state holds one of the first five; `expired`
// is only returned by the door, for a timeout that came from an enclosing
// with_timeout/with_deadline rather than the wait's own deadline.
enum class wake : std::uint32_t {
  pending = 0,
  notified = 1,
  timed_out = 2,
  cancelled = 3,    // runtime shutdown: the fiber unwinds (fiber_unwind)
  interrupted = 4,  // the fiber's cancellation was requested (spindle::cancelled)
  expired = 5,      // an enclosing deadline scope ran out (spindle::cancelled)
};

// Thrown into a suspended fiber when its runtime shuts down, to unwind its
// stack. Deliberately not derived from std::exception: `catch (std::exception&)`
// lets it pass; a `catch (...)` in user code must rethrow it.
struct fiber_unwind {};

// What a wait throws for wake::interrupted or wake::expired: a prototype to
// throw a copy of (runtime/cancel/cancel.cpp).
const spindle::cancelled& cancelled_for(wake why);
// Throws it. Inline, so the unwinder starts in the waiting primitive's own
// frame: every frame between a throw and its catch costs ~0.2 us of DWARF
// unwinding here, twice (spindle-bench deadline_scope_end_ns).
[[noreturn]] inline void throw_cancelled(wake why) {
  throw spindle::cancelled(cancelled_for(why));
}

// What a parked party waits for: the kind of wait and the object waited on
// (the mutex, channel state, future state, fiber joined, reactor handle...;
// null for a sleep). Recorded by waiter::park for whoever inspects a parked
// fiber. Costs two stores into the waiter, which is on the parking stack.
enum class wait_kind : std::uint8_t {
  none,
  mutex,
  shared_mutex,
  semaphore,
  condition,
  latch,
  wait_group,
  barrier,
  channel_send,
  channel_recv,
  select,
  future,
  join,
  sleep,
  io_read,
  io_write,
  io_accept,
  io_connect,
  blocking_call,  // run_blocking: the call runs on a pool thread
  signal,         // signal_set::wait
};

// `detail`: what the dump prints besides the object: the descriptor of an IO
// wait, the id of the fiber a join waits for, a sleep's deadline (steady
// clock nanoseconds).
struct wait_reason {
  wait_kind kind = wait_kind::none;
  const void* object = nullptr;
  std::int64_t detail = 0;
};

// A deadline registered with a runtime's timer_queue. Intrusive in the waiter.
// heap_index is guarded by the timer_queue's lock, as is the heap itself
// (unchecked here: an attribute cannot name a lock of another object).
struct timer_entry {
  static constexpr std::size_t not_queued = std::numeric_limits<std::size_t>::max();
  clock::time_point deadline{};
  std::size_t heap_index = not_queued;
  waiter* owner = nullptr;
};

class waiter {
 public:
  // Binds to the calling fiber, or to the calling thread's parker outside a
  // fiber. Cheap: two loads of thread state, no system call.
  waiter() noexcept;
  waiter(const waiter&) = delete;
  waiter& operator=(const waiter&) = delete;

  // Exactly one caller wins, for the whole life of the waiter.
  bool try_claim(wake reason) noexcept {
    auto expected = static_cast<std::uint32_t>(wake::pending);
    return state_.compare_exchange_strong(expected, static_cast<std::uint32_t>(reason),
                                          std::memory_order_acq_rel, std::memory_order_acquire);
  }
  // Only after a successful try_claim(); the claimer's last touch of *this.
  void unpark() noexcept;
  // try_claim(notified) + unpark().
  bool notify() noexcept {
    if (!try_claim(wake::notified)) return false;
    unpark();
    return true;
  }

  // The one door: blocks until claimed and unparked, or until `deadline`
  // (no_deadline: none). Returns notified or timed_out. When the wake is not
  // a notify, calls leave() first (the primitive unlinks its node there,
  // under its own lock), then throws: fiber_unwind if the runtime is shutting
  // down, spindle::cancelled if the fiber is cancelled or an enclosing
  // deadline scope ran out (a fiber's wait outside a shield). A waiter parks
  // once.
  template <class Leave>
  wake park(wait_reason why, clock::time_point deadline, Leave&& leave) {
    const wake r = suspend(why, deadline);
    if (r != wake::notified) {
      leave();
      if (r != wake::timed_out) [[unlikely]] {
        if (r == wake::cancelled) throw fiber_unwind{};
        throw_cancelled(r);
      }
    }
    return r;
  }
  // For a wait that cannot simply be withdrawn: an operation already handed
  // to the kernel (io/uring/io_ring.hpp). When the wake is not a notify,
  // `withdraw` ends the operation and returns true if it completed after
  // all: the wait then counts as notified and nothing is thrown, so what the
  // operation did (bytes read) is not lost; the next wait throws instead.
  // Shutdown (wake::cancelled) unwinds the fiber whatever withdraw says.
  template <class Withdraw>
  wake park_withdrawable(wait_reason why, clock::time_point deadline, Withdraw&& withdraw) {
    const wake r = suspend(why, deadline);
    if (r != wake::notified) {
      const bool completed = withdraw();
      if (r == wake::cancelled) throw fiber_unwind{};  // shutdown unwinds regardless
      if (completed) return wake::notified;
      if (r != wake::timed_out) throw_cancelled(r);
    }
    return r;
  }
  // For a wait with nothing to unlink (a sleep, a waiter already claimed by
  // a notifier whose unpark is on the way).
  wake park(wait_reason why, clock::time_point deadline = no_deadline) {
    return park(why, deadline, [] {});
  }

  // The state once park() returned (or pending if nobody claimed yet).
  wake state() const noexcept { return static_cast<wake>(state_.load(std::memory_order_acquire)); }

 private:
  // Parks (fiber) or blocks (thread) and returns the claimed state; does
  // not throw. runtime/wait/waiter.cpp.
  wake suspend(wait_reason why, clock::time_point deadline);
  wake suspend_thread(clock::time_point deadline);
  wake after_cancel_wake(fiber* self, fiber& who);

  std::atomic<std::uint32_t> state_{0};
  fiber* fiber_;            // the blocked fiber, or null for a thread
  thread_parker* thread_;   // the blocked thread's parker, when fiber_ is null
  timer_entry timer_;       // a fiber's deadline, queued while it parks
  friend class timer_queue;
};

// One link of a waiter into one wait_queue. Owned by the waiting side (on its
// stack); every field but `w` is guarded by the queue owner's lock (unchecked:
// that lock is a member of whichever primitive owns the queue).
struct wait_node {
  wait_node* next = nullptr;
  wait_node* prev = nullptr;
  waiter* w = nullptr;
  void* data = nullptr;     // primitive-defined: e.g. where a channel value is read or written
  std::size_t tag = 0;      // primitive-defined: e.g. the case index of a select
  bool linked = false;

  explicit wait_node(waiter& owner, void* payload = nullptr, std::size_t t = 0) noexcept
      : w(&owner), data(payload), tag(t) {}
  wait_node(const wait_node&) = delete;
  wait_node& operator=(const wait_node&) = delete;
};

// Intrusive FIFO of wait_nodes. Not thread-safe: the owner's lock guards it.
class wait_queue {
 public:
  bool empty() const noexcept { return head_ == nullptr; }
  wait_node* front() const noexcept { return head_; }

  void push_back(wait_node& n) noexcept {
    n.next = nullptr;
    n.prev = tail_;
    if (tail_) tail_->next = &n; else head_ = &n;
    tail_ = &n;
    n.linked = true;
  }
  wait_node* pop_front() noexcept {
    wait_node* n = head_;
    if (n) erase(*n);
    return n;
  }
  void erase(wait_node& n) noexcept {
    if (n.prev) n.prev->next = n.next; else head_ = n.next;
    if (n.next) n.next->prev = n.prev; else tail_ = n.prev;
    n.next = n.prev = nullptr;
    n.linked = false;
  }
  void erase_if_linked(wait_node& n) noexcept {
    if (n.linked) erase(n);
  }

  // Pops nodes until one whose waiter it can claim with `reason`; returns it
  // (still to be unparked by the caller after its lock is released) or null.
  // Nodes whose waiter was already claimed elsewhere (timed out, or a select
  // that completed on another case) are dropped: their owners unlink nothing.
  wait_node* claim_front(wake reason = wake::notified) noexcept {
    while (wait_node* n = pop_front()) {
      if (n->w->try_claim(reason)) return n;
    }
    return nullptr;
  }

 private:
  wait_node* head_ = nullptr;
  wait_node* tail_ = nullptr;
};

}  // namespace spindle::detail
