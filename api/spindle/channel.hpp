// spindle::channel<T>: a multi-producer, multi-consumer channel between fibers
// and plain threads, as in Go.
//
//   spindle::channel<int> ch(8);        // capacity 8; channel<int>(0) is a rendezvous
//   ch.send(1);                         // waits while full
//   std::optional<int> v = ch.recv();   // waits while empty; nullopt once closed and drained
//   ch.close();
//   for (int x : ch) { ... }            // receives until closed and drained
//
// A channel is a handle: copies share one channel (copying is cheap; the last
// copy frees it), and every operation is const, so a copy captured by value in
// a lambda works. A moved-from channel may only be assigned to or destroyed.
// Inside a fiber only the fiber waits; a plain thread blocks.
//
// Semantics:
//  * Capacity 0 is a true rendezvous: send returns only once a receiver has
//    taken the value, and try_send succeeds only if a receiver is waiting.
//  * Values from one sender arrive in the order it sent them; blocked senders
//    and receivers are served first come, first served.
//  * close() wakes every blocked sender and receiver. From then on every send
//    (including one that was blocked, whose value is not delivered) throws
//    channel_closed, and receives drain the buffered values, then return
//    std::nullopt. Closing twice is harmless.
//  * The rvalue overloads of send move from their argument only if the value
//    was sent: after a try_send/send_for that returned false, or a send that
//    threw, it is untouched (so a move-only value can be retried).
//  * Timed operations never return early (steady_clock); a duration is counted
//    from the call.
//  * T's move constructor must be noexcept (values move under a spinlock).
//
// Hot path: a send to a waiting receiver moves the value straight into the
// receiver's slot and wakes it; the scheduler readies the woken fiber on the
// sender's worker, so ping-pong between two fibers stays on one core.
#pragma once

#include <chrono>
#include <concepts>
#include <cstddef>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <spindle/channel_closed.hpp>
#include <spindle/detail/chan_state.hpp>
#include <spindle/detail/deadline.hpp>
#include <spindle/detail/waiter.hpp>
#include <spindle/select.hpp>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace spindle {

template <class T>
class channel {
  static_assert(std::is_object_v<T> && !std::is_const_v<T> && !std::is_array_v<T>,
                "spindle::channel<T> carries non-const object types");

 public:
  using value_type = T;
  class iterator;

  // A rendezvous channel.
  channel() : channel(0) {}
  // Throws std::invalid_argument if capacity < 0.
  explicit channel(std::ptrdiff_t capacity) : state_(make_state(capacity)) {}

  void send(const T& v) const requires std::copy_constructible<T> {
    T copy(v);
    send(std::move(copy));
  }
  void send(T&& v) const { give(v, detail::blocking::until_deadline, detail::no_deadline); }

  bool try_send(const T& v) const requires std::copy_constructible<T> {
    T copy(v);
    return try_send(std::move(copy));
  }
  bool try_send(T&& v) const { return give(v, detail::blocking::never, {}); }

  template <class Rep, class Period>
  bool send_for(const T& v, const std::chrono::duration<Rep, Period>& d)
      const requires std::copy_constructible<T> {
    return send_until(v, detail::deadline_after(d));
  }
  template <class Rep, class Period>
  bool send_for(T&& v, const std::chrono::duration<Rep, Period>& d) const {
    return send_until(std::move(v), detail::deadline_after(d));
  }

  template <class Clock, class Duration>
  bool send_until(const T& v, const std::chrono::time_point<Clock, Duration>& tp)
      const requires std::copy_constructible<T> {
    T copy(v);
    return send_until(std::move(copy), tp);
  }
  template <class Clock, class Duration>
  bool send_until(T&& v, const std::chrono::time_point<Clock, Duration>& tp) const {
    return give(v, detail::blocking::until_deadline, detail::to_deadline(tp));
  }

  std::optional<T> recv() const {
    return take(detail::blocking::until_deadline, detail::no_deadline);
  }
  // nullopt if no value is available right now (or closed and drained).
  std::optional<T> try_recv() const { return take(detail::blocking::never, {}); }
  template <class Rep, class Period>
  std::optional<T> recv_for(const std::chrono::duration<Rep, Period>& d) const {
    return recv_until(detail::deadline_after(d));
  }
  template <class Clock, class Duration>
  std::optional<T> recv_until(const std::chrono::time_point<Clock, Duration>& tp) const {
    return take(detail::blocking::until_deadline, detail::to_deadline(tp));
  }

  void close() const {
    detail::wake_list woken;
    {
      std::lock_guard g(state_->lock);
      state_->close(woken);
    }
    woken.unpark_all();
  }

  bool closed() const {
    std::lock_guard g(state_->lock);
    return state_->closed();
  }

  // The number of values buffered right now: a snapshot, stale as soon as it
  // is returned (0 for a rendezvous channel, whose values are never buffered).
  std::size_t size() const {
    std::lock_guard g(state_->lock);
    return state_->size();
  }

  // The capacity given at construction (0: a rendezvous).
  std::size_t capacity() const noexcept { return state_->capacity(); }

  // Range-for receives until the channel is closed and drained. *it is the
  // value just received (an lvalue: move from it to keep a move-only value).
  iterator begin() const { return iterator(this); }
  std::default_sentinel_t end() const noexcept { return {}; }

  // True if both handles share one channel.
  friend bool operator==(const channel& a, const channel& b) noexcept {
    return a.state_ == b.state_;
  }

 private:
  friend struct detail::chan_access;
  using state = detail::chan_state<T>;

  static std::shared_ptr<state> make_state(std::ptrdiff_t capacity) {
    if (capacity < 0)
      throw std::invalid_argument("spindle::channel: capacity must not be negative");
    return std::make_shared<state>(static_cast<std::size_t>(capacity));
  }

  // Sends v, moving from it only on success. false: it would have had to wait
  // (blocking::never) or the deadline passed first.
  bool give(T& v, detail::blocking how, detail::clock::time_point deadline) const {
    state& s = *state_;
    detail::wait_node* to_wake = nullptr;
    s.lock.lock();
    const detail::chan_step step = s.try_give(v, to_wake);
    if (step != detail::chan_step::blocked || how == detail::blocking::never) {
      s.lock.unlock();
      if (to_wake) to_wake->w->unpark();
      if (step == detail::chan_step::closed) throw channel_closed();
      return step == detail::chan_step::done;
    }
    detail::waiter w;
    detail::chan_op<T> op{.give = &v};
    detail::wait_node node(w, &op);
    s.enqueue_sender(node);
    s.lock.unlock();
    const detail::wake r = w.park({detail::wait_kind::channel_send, &s}, deadline, [&] {
      std::lock_guard g(s.lock);
      s.withdraw_sender(node);
    });
    if (r != detail::wake::notified) return false;  // timed out
    if (op.outcome == detail::chan_step::closed) throw channel_closed();
    return true;
  }

  std::optional<T> take(detail::blocking how, detail::clock::time_point deadline) const {
    state& s = *state_;
    std::optional<T> out;
    detail::wait_node* to_wake = nullptr;
    s.lock.lock();
    const detail::chan_step step = s.try_take(out, to_wake);
    if (step != detail::chan_step::blocked || how == detail::blocking::never) {
      s.lock.unlock();
      if (to_wake) to_wake->w->unpark();
      return out;
    }
    detail::waiter w;
    detail::chan_op<T> op{.take = &out};
    detail::wait_node node(w, &op);
    s.enqueue_receiver(node);
    s.lock.unlock();
    w.park({s.recv_kind, &s}, deadline, [&] {
      std::lock_guard g(s.lock);
      s.withdraw_receiver(node);
    });
    return out;  // empty after a timeout or when woken by close
  }

  std::shared_ptr<state> state_;
};

// An input iterator over the values received from a channel.
template <class T>
class channel<T>::iterator {
 public:
  using value_type = T;
  using difference_type = std::ptrdiff_t;
  using iterator_concept = std::input_iterator_tag;

  iterator() = default;
  T& operator*() const { return *current_; }
  T* operator->() const { return &*current_; }
  iterator& operator++() {
    current_ = ch_->recv();
    return *this;
  }
  void operator++(int) { ++*this; }
  friend bool operator==(const iterator& it, std::default_sentinel_t) noexcept {
    return !it.current_;
  }

 private:
  friend class channel;
  explicit iterator(const channel* ch) : ch_(ch), current_(ch->recv()) {}

  const channel* ch_ = nullptr;
  mutable std::optional<T> current_;  // mutable: *it hands out the received value
};

}  // namespace spindle
