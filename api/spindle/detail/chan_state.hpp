// chan_state<T>: the state every copy of one channel<T> shares, and the
// non-blocking steps that channel operations and select are built from.
//
// Invariants (all guarded by `lock`):
//  * A live receiver waits only while the buffer is empty, and a live sender
//    only while the buffer is full (always, for capacity 0). Every step that
//    could break this hands values over at once: a send with a receiver
//    waiting gives the value straight to it, and a receive that frees a buffer
//    slot refills it from the first waiting sender, which keeps FIFO order.
//  * Nodes of waiters claimed elsewhere (timed out, or a select that completed
//    on another case) may still sit in the queues; claim_front drops them.
//  * Once closed_ is set no sender waits and no send succeeds; receivers drain
//    the buffer and then see `closed`.
//
// A blocked operation links a wait_node whose `data` is its chan_op<T>. The
// party that claims the node's waiter moves the value through the op and sets
// `outcome` before it unparks; the blocked party reads them after waking.
//
// T's move constructor must not throw: values move under the spinlock after a
// waiter has been claimed, and an exception there would strand that waiter.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <spindle/detail/ring_buffer.hpp>
#include <spindle/detail/spinlock.hpp>
#include <spindle/detail/waiter.hpp>
#include <spindle/detail/wake_list.hpp>
#include <type_traits>
#include <utility>

namespace spindle::detail {

// The result of one step: it completed, the channel is closed (a send fails,
// a receive gets no value), or it would have to wait.
enum class chan_step : std::uint8_t { done, closed, blocked };

// Whether a channel operation may wait for its turn (until a deadline, which
// is no_deadline for send() and recv()).
enum class blocking : std::uint8_t { never, until_deadline };

template <class T>
struct chan_op {
  T* give = nullptr;                       // a blocked send: the value to move out
  std::optional<T>* take = nullptr;        // a blocked receive: where the value goes
  chan_step outcome = chan_step::blocked;  // written by the claimer, before unpark
};

template <class T>
class chan_state {
  static_assert(std::is_nothrow_move_constructible_v<T>,
                "spindle::channel<T> needs a noexcept move constructor: values move under the "
                "channel's spinlock");

 public:
  explicit chan_state(std::size_t capacity) : buffer_(capacity) {}

  spinlock lock;
  // What a blocked receiver reports it waits on (the dump): a signal_set's
  // channel says `signal`. Set before the channel is shared.
  wait_kind recv_kind = wait_kind::channel_recv;

  // Fixed at construction: readable without the lock.
  std::size_t capacity() const noexcept SPINDLE_NO_THREAD_SAFETY_ANALYSIS {
    return buffer_.capacity();
  }

  // Everything below requires `lock` held. A step that wakes a blocked party
  // stores its node in `to_wake`; the caller unparks it after unlocking.

  bool closed() const noexcept SPINDLE_REQUIRES(lock) { return closed_; }
  std::size_t size() const noexcept SPINDLE_REQUIRES(lock) { return buffer_.size(); }

  // A receive that does not wait: done with the value in out, closed once
  // closed and drained (out untouched), or blocked.
  chan_step try_take(std::optional<T>& out, wait_node*& to_wake) noexcept SPINDLE_REQUIRES(lock) {
    if (!buffer_.empty()) {
      buffer_.pop_into(out);
      if (wait_node* s = senders_.claim_front()) {
        buffer_.push(std::move(*op(s).give));
        complete(*s, chan_step::done, to_wake);
      }
      return chan_step::done;
    }
    if (wait_node* s = senders_.claim_front()) {
      out.emplace(std::move(*op(s).give));
      complete(*s, chan_step::done, to_wake);
      return chan_step::done;
    }
    return closed_ ? chan_step::closed : chan_step::blocked;
  }

  // A send that does not wait: done (v moved from), closed or blocked (v
  // untouched either way).
  chan_step try_give(T& v, wait_node*& to_wake) noexcept SPINDLE_REQUIRES(lock) {
    if (closed_) return chan_step::closed;
    if (wait_node* r = receivers_.claim_front()) {
      op(r).take->emplace(std::move(v));
      complete(*r, chan_step::done, to_wake);
      return chan_step::done;
    }
    if (buffer_.full()) return chan_step::blocked;
    buffer_.push(std::move(v));
    return chan_step::done;
  }

  // n.data must point to a chan_op<T> with `take` (receivers) or `give`
  // (senders) set.
  void enqueue_receiver(wait_node& n) noexcept SPINDLE_REQUIRES(lock) { receivers_.push_back(n); }
  void enqueue_sender(wait_node& n) noexcept SPINDLE_REQUIRES(lock) { senders_.push_back(n); }
  // For the waiting side after a wake-up that did not come through this node.
  void withdraw_receiver(wait_node& n) noexcept SPINDLE_REQUIRES(lock) {
    receivers_.erase_if_linked(n);
  }
  void withdraw_sender(wait_node& n) noexcept SPINDLE_REQUIRES(lock) {
    senders_.erase_if_linked(n);
  }

  // Marks the channel closed and claims every waiter, to be unparked with
  // `woken` after unlocking. Idempotent.
  void close(wake_list& woken) noexcept SPINDLE_REQUIRES(lock) {
    if (closed_) return;
    closed_ = true;
    for (wait_queue* q : {&receivers_, &senders_}) {
      while (wait_node* n = q->claim_front()) {
        op(n).outcome = chan_step::closed;
        woken.push(*n);
      }
    }
  }

 private:
  static chan_op<T>& op(wait_node* n) noexcept { return *static_cast<chan_op<T>*>(n->data); }
  static void complete(wait_node& n, chan_step outcome, wait_node*& to_wake) noexcept {
    op(&n).outcome = outcome;
    to_wake = &n;
  }

  ring_buffer<T> buffer_ SPINDLE_GUARDED_BY(lock);
  wait_queue receivers_ SPINDLE_GUARDED_BY(lock);
  wait_queue senders_ SPINDLE_GUARDED_BY(lock);
  bool closed_ SPINDLE_GUARDED_BY(lock) = false;
};

}  // namespace spindle::detail
