// spindle::select: wait for the first of several channel operations, as Go's
// select statement does.
//
//   std::size_t i = spindle::select(
//       spindle::on_recv(in, [](std::optional<int> v) { ... }),  // nullopt: closed and drained
//       spindle::on_send(out, 7, [] { ... }),
//       spindle::on_timeout(50ms, [] { ... }),                  // counts from the call
//       spindle::on_default([] { ... }));                       // never block
//
// Exactly one case completes and its handler runs (after every lock is
// released); select returns that case's 0-based index. The cases that were
// not chosen take and lose nothing: no value leaves a channel for them and no
// value of theirs enters one. When several cases are ready, one is picked
// uniformly at random, so no case starves. A chosen on_send case on a closed
// channel throws channel_closed; an on_recv case is ready once its channel is
// closed and drained, and its handler gets std::nullopt. Of several on_timeout
// cases the earliest counts; there may be at most one on_default. The value of
// an on_send case is decay-copied into the case (moved from an rvalue) when
// the case is made, as std::thread does with its arguments.
//
// How: select locks all its channels in address order (ordered_locks), tries
// the channel cases in a random order, and completes the first that can
// proceed. If none can (and there is no on_default), it links one wait_node
// per channel case, in the same random order, all onto one waiter, and parks.
// Whoever claims that waiter (try_claim) completes exactly that node's case
// through its chan_op and wakes the select; a timeout claims it instead. Waking, the select unlinks
// its other nodes and runs the handler of the case whose op has an outcome.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <spindle/channel_closed.hpp>
#include <spindle/detail/chan_state.hpp>
#include <spindle/detail/deadline.hpp>
#include <spindle/detail/fast_random.hpp>
#include <spindle/detail/ordered_locks.hpp>
#include <spindle/detail/waiter.hpp>
#include <tuple>
#include <type_traits>
#include <utility>

namespace spindle {

template <class T>
class channel;

namespace detail {

// Lets the select cases reach a channel's shared state.
struct chan_access {
  template <class T>
  static chan_state<T>& state(const channel<T>& ch) noexcept {
    return *ch.state_;
  }
};

enum class case_kind { channel, timeout, fallback };

// The channel cases share this interface with select: try_complete under the
// channel's lock; link (under it) and unlink (takes it) around a wait; run
// after every lock is released.
template <class T, class F>
class recv_case {
 public:
  static constexpr case_kind kind = case_kind::channel;

  recv_case(chan_state<T>& s, F f) : s_(&s), f_(std::move(f)) {}

  spinlock* lock() const noexcept { return &s_->lock; }
  // Under s_->lock, held by run_select's ordered_locks: a set of locks chosen
  // at run time, which the thread-safety analysis cannot follow.
  chan_step try_complete(wait_node*& to_wake) noexcept SPINDLE_NO_THREAD_SAFETY_ANALYSIS {
    return s_->try_take(slot_, to_wake);
  }
  void link(waiter& w) noexcept SPINDLE_NO_THREAD_SAFETY_ANALYSIS {
    op_.take = &slot_;
    s_->enqueue_receiver(node_.emplace(w, &op_));
  }
  void unlink() noexcept {
    std::lock_guard g(s_->lock);
    s_->withdraw_receiver(*node_);
  }
  chan_step outcome() const noexcept { return op_.outcome; }
  // slot_ is empty when the step was chan_step::closed.
  void run(chan_step) { std::invoke(std::move(f_), std::move(slot_)); }

 private:
  chan_state<T>* s_;
  F f_;
  std::optional<T> slot_;
  chan_op<T> op_;
  std::optional<wait_node> node_;  // engaged from link() on
};

template <class T, class F>
class send_case {
 public:
  static constexpr case_kind kind = case_kind::channel;

  template <class U>
  send_case(chan_state<T>& s, U&& v, F f) : s_(&s), value_(std::forward<U>(v)), f_(std::move(f)) {}

  spinlock* lock() const noexcept { return &s_->lock; }
  // Under s_->lock, as recv_case's.
  chan_step try_complete(wait_node*& to_wake) noexcept SPINDLE_NO_THREAD_SAFETY_ANALYSIS {
    return s_->try_give(value_, to_wake);
  }
  void link(waiter& w) noexcept SPINDLE_NO_THREAD_SAFETY_ANALYSIS {
    op_.give = &value_;
    s_->enqueue_sender(node_.emplace(w, &op_));
  }
  void unlink() noexcept {
    std::lock_guard g(s_->lock);
    s_->withdraw_sender(*node_);
  }
  chan_step outcome() const noexcept { return op_.outcome; }
  void run(chan_step step) {
    if (step == chan_step::closed) throw channel_closed();
    std::invoke(std::move(f_));
  }

 private:
  chan_state<T>* s_;
  T value_;
  F f_;
  chan_op<T> op_;
  std::optional<wait_node> node_;  // engaged from link() on
};

template <class Duration, class F>
class timeout_case {
 public:
  static constexpr case_kind kind = case_kind::timeout;
  timeout_case(Duration d, F f) : after_(d), f_(std::move(f)) {}
  // Evaluated as select starts, so the time counts from the call.
  clock::time_point deadline() const { return deadline_after(after_); }
  void run() { std::invoke(std::move(f_)); }

 private:
  Duration after_;
  F f_;
};

template <class F>
class default_case {
 public:
  static constexpr case_kind kind = case_kind::fallback;
  explicit default_case(F f) : f_(std::move(f)) {}
  void run() { std::invoke(std::move(f_)); }

 private:
  F f_;
};

template <case_kind K, class... C>
constexpr std::size_t count_cases() {
  return ((C::kind == K ? 1 : 0) + ... + 0);
}

// The tuple indices of the cases of kind K, in order.
template <case_kind K, class... C>
constexpr auto indices_of() {
  std::array<std::size_t, count_cases<K, C...>()> out{};
  constexpr case_kind kinds[] = {C::kind...};
  std::size_t n = 0;
  for (std::size_t i = 0; i < sizeof...(C); ++i) {
    if (kinds[i] == K) out[n++] = i;
  }
  return out;
}

// Calls fn(case) on the case with tuple index i.
template <class Tuple, class Fn, std::size_t... I>
void visit_case(Tuple& cases, std::size_t i, Fn&& fn, std::index_sequence<I...>) {
  ((i == I ? static_cast<void>(fn(std::get<I>(cases))) : static_cast<void>(0)), ...);
}

template <class... C>
std::size_t run_select(C&... cases) {
  constexpr auto chan_idx = indices_of<case_kind::channel, C...>();
  constexpr auto timeout_idx = indices_of<case_kind::timeout, C...>();
  constexpr auto default_idx = indices_of<case_kind::fallback, C...>();
  static_assert(sizeof...(C) > 0, "spindle::select needs at least one case");
  static_assert(default_idx.size() <= 1, "spindle::select takes at most one on_default");

  std::tuple<C&...> all(cases...);
  auto visit = [&](std::size_t i, auto&& fn) {
    visit_case(all, i, fn, std::index_sequence_for<C...>());
  };
  auto each_channel_case = [&](auto&& fn) {
    for (std::size_t i : chan_idx) {
      visit(i, [&](auto& c) {
        if constexpr (std::remove_reference_t<decltype(c)>::kind == case_kind::channel) fn(c);
      });
    }
  };
  auto run_other = [&](std::size_t i) {
    visit(i, [](auto& c) {
      if constexpr (std::remove_reference_t<decltype(c)>::kind != case_kind::channel) c.run();
    });
    return i;
  };

  // The earliest timeout (no_deadline if there is none).
  clock::time_point deadline = no_deadline;
  std::size_t timeout_case_index = 0;
  for (std::size_t i : timeout_idx) {
    visit(i, [&](auto& c) {
      if constexpr (std::remove_reference_t<decltype(c)>::kind == case_kind::timeout) {
        if (const clock::time_point d = c.deadline(); d < deadline) {
          deadline = d;
          timeout_case_index = i;
        }
      }
    });
  }

  std::array<spinlock*, chan_idx.size()> lock_ptrs{};
  std::size_t n = 0;
  each_channel_case([&](auto& c) { lock_ptrs[n++] = c.lock(); });
  ordered_locks<chan_idx.size()> locks(lock_ptrs);

  // Fisher-Yates: every ready case is equally likely to be tried first.
  auto order = chan_idx;
  for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[random_below(i)]);

  locks.lock();
  wait_node* to_wake = nullptr;
  for (std::size_t i : order) {
    chan_step step = chan_step::blocked;
    visit(i, [&](auto& c) {
      if constexpr (std::remove_reference_t<decltype(c)>::kind == case_kind::channel) {
        step = c.try_complete(to_wake);
      }
    });
    if (step != chan_step::blocked) {
      locks.unlock();
      if (to_wake) to_wake->w->unpark();
      visit(i, [&](auto& c) {
        if constexpr (std::remove_reference_t<decltype(c)>::kind == case_kind::channel) c.run(step);
      });
      return i;
    }
  }
  if constexpr (!default_idx.empty()) {
    locks.unlock();
    return run_other(default_idx[0]);
  }

  // Linked in the shuffled order too: cases on one channel then sit in its
  // queue in random order, so the party that finds this select parked picks
  // each of them with equal chance (in listed order the first would always
  // win). Cases on different channels are unaffected by the order.
  waiter w;
  for (std::size_t i : order) {
    visit(i, [&](auto& c) {
      if constexpr (std::remove_reference_t<decltype(c)>::kind == case_kind::channel) c.link(w);
    });
  }
  locks.unlock();
  auto unlink_all = [&] { each_channel_case([](auto& c) { c.unlink(); }); };
  const wake r = w.park({wait_kind::select, nullptr}, deadline, unlink_all);
  if (r == wake::timed_out) return run_other(timeout_case_index);
  unlink_all();  // notified through one case: the others are still linked

  // Notified: exactly one case has an outcome, set by the party that claimed w.
  for (std::size_t i : chan_idx) {
    bool chosen = false;
    visit(i, [&](auto& c) {
      if constexpr (std::remove_reference_t<decltype(c)>::kind == case_kind::channel) {
        if (c.outcome() != chan_step::blocked) {
          chosen = true;
          c.run(c.outcome());
        }
      }
    });
    if (chosen) return i;
  }
  return sizeof...(C);  // unreachable: a notified select always has a completed case
}

}  // namespace detail

// A case receiving from ch; f is called with the value, or std::nullopt when
// ch is closed and drained.
template <class T, class F>
auto on_recv(const channel<T>& ch, F f) {
  static_assert(std::is_invocable_v<F&&, std::optional<T>&&>,
                "on_recv's handler must be callable with std::optional<T>");
  return detail::recv_case<T, F>(detail::chan_access::state(ch), std::move(f));
}

// A case sending v on ch; f() is called once it has been sent.
template <class T, class U, class F>
auto on_send(const channel<T>& ch, U&& v, F f) {
  static_assert(std::is_constructible_v<T, U&&>, "on_send's value must convert to T");
  static_assert(std::is_invocable_v<F&&>, "on_send's handler must be callable with no arguments");
  return detail::send_case<T, F>(detail::chan_access::state(ch), std::forward<U>(v), std::move(f));
}

// A case that runs f() when no other case became ready within d of the call to
// select (rounded up to the clock's tick, so it never fires early).
template <class Rep, class Period, class F>
auto on_timeout(const std::chrono::duration<Rep, Period>& d, F f) {
  static_assert(std::is_invocable_v<F&&>,
                "on_timeout's handler must be callable with no arguments");
  return detail::timeout_case<std::chrono::duration<Rep, Period>, F>(d, std::move(f));
}

// A case that runs f() at once when no other case is ready: select never blocks.
template <class F>
auto on_default(F f) {
  static_assert(std::is_invocable_v<F&&>,
                "on_default's handler must be callable with no arguments");
  return detail::default_case<F>(std::move(f));
}

// Completes exactly one of the cases and returns its index (see the top of
// this file). Inside a fiber only the fiber waits; a plain thread blocks.
// Cases are one-shot (a send case gives its value away, a receive case keeps
// its outcome), hence rvalues only: the on_* calls themselves, or std::move.
template <class... Cases>
std::size_t select(Cases&&... cases) {
  static_assert((!std::is_lvalue_reference_v<Cases> && ...),
                "spindle::select takes its cases as rvalues: they are one-shot");
  return detail::run_select(cases...);
}

}  // namespace spindle
