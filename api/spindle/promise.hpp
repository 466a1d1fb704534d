// spindle::promise<T> and spindle::future<T>: a one-shot result handed from
// one party to another, as std::promise/std::future, usable from fibers (only
// the fiber waits) and from plain threads (the thread blocks).
//
//   spindle::promise<int> p;
//   spindle::future<int> f = p.get_future();
//   p.set_value(42);                       // or p.set_exception(std::current_exception())
//   int v = f.get();                       // waits; rethrows a stored exception
//
// As in <future>: T may be void or move-only (not a reference); get() waits,
// returns the value (or rethrows) and leaves the future invalid; a promise
// destroyed without a result stores std::future_error(broken_promise); setting
// twice throws future_error(promise_already_satisfied); get_future twice throws
// future_error(future_already_retrieved); using a moved-from promise or an
// invalid future throws future_error(no_state). If copying or moving the value
// into the state throws, the exception propagates and the promise stays unset.
// Beyond <future>: ready() tells without waiting whether a result is there.
// Timed waits never return early (steady_clock).
#pragma once

#include <chrono>
#include <exception>
#include <future>
#include <memory>
#include <spindle/detail/deadline.hpp>
#include <spindle/detail/future_state.hpp>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace spindle {

template <class T>
class future;

namespace detail {

// Lets when_all and when_any reach a future's shared state.
struct future_access {
  template <class T>
  static std::shared_ptr<future_state<T>>& state(future<T>& f) noexcept {
    return f.state_;
  }
};

[[noreturn]] inline void throw_future_error(std::future_errc e) {
  throw std::future_error(e);
}

}  // namespace detail

template <class T>
class future {
  static_assert(!std::is_reference_v<T>, "spindle::future<T&> is not supported");

 public:
  future() noexcept = default;
  future(future&&) noexcept = default;
  future& operator=(future&&) noexcept = default;
  future(const future&) = delete;
  future& operator=(const future&) = delete;

  // True until get() or a move away.
  bool valid() const noexcept { return state_ != nullptr; }

  // True once the result is there (false for an invalid future).
  bool ready() const noexcept { return state_ && state_->ready(); }

  // Waits for the result; returns the value or rethrows the exception. The
  // future is invalid afterwards, even if get() threw.
  T get() {
    wait();
    std::shared_ptr<detail::future_state<T>> s = std::move(state_);
    if (s->error) std::rethrow_exception(s->error);
    if constexpr (!std::is_void_v<T>) return std::move(*s->value);
  }

  void wait() const { checked().wait_until(detail::no_deadline); }

  template <class Rep, class Period>
  std::future_status wait_for(const std::chrono::duration<Rep, Period>& d) const {
    return wait_until_deadline(detail::deadline_after(d));
  }

  template <class Clock, class Duration>
  std::future_status wait_until(const std::chrono::time_point<Clock, Duration>& tp) const {
    return wait_until_deadline(detail::to_deadline(tp));
  }

 private:
  template <class>
  friend class promise;
  friend struct detail::future_access;

  explicit future(std::shared_ptr<detail::future_state<T>> s) noexcept : state_(std::move(s)) {}

  detail::future_state<T>& checked() const {
    if (!state_) detail::throw_future_error(std::future_errc::no_state);
    return *state_;
  }

  std::future_status wait_until_deadline(detail::clock::time_point deadline) const {
    return checked().wait_until(deadline) ? std::future_status::ready : std::future_status::timeout;
  }

  std::shared_ptr<detail::future_state<T>> state_;
};

template <class T>
class promise {
  static_assert(!std::is_reference_v<T>, "spindle::promise<T&> is not supported");

 public:
  promise() : state_(std::make_shared<detail::future_state<T>>()) {}
  promise(promise&& o) noexcept
      : state_(std::move(o.state_)), retrieved_(std::exchange(o.retrieved_, false)) {}
  promise& operator=(promise&& o) noexcept {
    if (this != &o) {
      abandon();
      state_ = std::move(o.state_);
      retrieved_ = std::exchange(o.retrieved_, false);
    }
    return *this;
  }
  promise(const promise&) = delete;
  promise& operator=(const promise&) = delete;
  ~promise() { abandon(); }

  future<T> get_future() {
    checked();
    if (retrieved_) detail::throw_future_error(std::future_errc::future_already_retrieved);
    retrieved_ = true;
    return future<T>(state_);
  }

  // U is only ever T: a template so that the overloads can be left out for
  // void, and type_identity_t so that the argument does not deduce it.
  template <class U = T>
  requires(!std::is_void_v<U>) void set_value(const std::type_identity_t<U>& v) {
    set([&](auto& s) { s.value.emplace(v); });
  }
  template <class U = T>
  requires(!std::is_void_v<U>) void set_value(std::type_identity_t<U>&& v) {
    set([&](auto& s) { s.value.emplace(std::move(v)); });
  }
  template <class U = T>
  requires std::is_void_v<U>
  void set_value() {
    set([](auto&) {});
  }

  // e must not be null (std::promise makes that undefined; here it throws
  // std::invalid_argument, so get() can rely on value or error being set).
  void set_exception(std::exception_ptr e) {
    if (!e) throw std::invalid_argument("spindle::promise::set_exception: null exception_ptr");
    set([&](auto& s) { s.error = std::move(e); });
  }

 private:
  detail::future_state<T>& checked() const {
    if (!state_) detail::throw_future_error(std::future_errc::no_state);
    return *state_;
  }

  // Claims the result, stores it with store(state), publishes.
  template <class Store>
  void set(Store&& store) {
    detail::future_state<T>& s = checked();
    if (!s.claim_result()) detail::throw_future_error(std::future_errc::promise_already_satisfied);
    try {
      store(s);
    } catch (...) {
      s.unclaim();
      throw;
    }
    s.publish();
  }

  // A promise that goes away unset breaks its promise. (The claim comes first
  // so that a satisfied promise dies without allocating an exception.)
  void abandon() noexcept {
    if (state_ && state_->claim_result()) {
      state_->error = std::make_exception_ptr(std::future_error(std::future_errc::broken_promise));
      state_->publish();
    }
  }

  std::shared_ptr<detail::future_state<T>> state_;
  bool retrieved_ = false;
};

}  // namespace spindle
