// spindle::promise<T>, spindle::future<T> and spindle::shared_future<T>: a
// one-shot result handed from one party to another (or, shared, to many), as
// std::promise/std::future/std::shared_future, usable from fibers (only the
// fiber waits) and from plain threads (the thread blocks).
//
//   spindle::promise<int> p;
//   spindle::future<int> f = p.get_future();
//   p.set_value(42);                       // or p.set_exception(std::current_exception())
//   int v = f.get();                       // waits; rethrows a stored exception
//
// As in <future>: T may be void, move-only or a reference (future<T&> hands
// over a reference to an object the setter keeps alive); get() waits,
// returns the value (or rethrows) and leaves the future invalid; a promise
// destroyed without a result stores std::future_error(broken_promise); setting
// twice throws future_error(promise_already_satisfied); get_future twice throws
// future_error(future_already_retrieved); using a moved-from promise or an
// invalid future throws future_error(no_state). If copying or moving the value
// into the state throws, the exception propagates and the promise stays unset.
// share() (or shared_future's constructor) turns a future into a
// shared_future: copyable, every copy's get() returns the same result (a
// const reference to the value, or rethrows the same exception) as often as
// called. Beyond <future>: ready() tells without waiting whether a result is
// there.
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
template <class T>
class shared_future;

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

namespace detail {

// What future and shared_future share: the state and the ways to wait for it.
template <class T>
class future_handle {
 public:
  // True while the handle refers to a state.
  bool valid() const noexcept { return state_ != nullptr; }

  // True once the result is there (false without a state).
  bool ready() const noexcept { return state_ && state_->ready(); }

  void wait() const { checked().wait_until(no_deadline); }

  template <class Rep, class Period>
  std::future_status wait_for(const std::chrono::duration<Rep, Period>& d) const {
    return wait_until_deadline(deadline_after(d));
  }

  template <class Clock, class Duration>
  std::future_status wait_until(const std::chrono::time_point<Clock, Duration>& tp) const {
    return wait_until_deadline(to_deadline(tp));
  }

 protected:
  friend struct future_access;

  future_handle() noexcept = default;
  explicit future_handle(std::shared_ptr<future_state<T>> s) noexcept : state_(std::move(s)) {}

  future_state<T>& checked() const {
    if (!state_) throw_future_error(std::future_errc::no_state);
    return *state_;
  }

  std::future_status wait_until_deadline(clock::time_point deadline) const {
    return checked().wait_until(deadline) ? std::future_status::ready : std::future_status::timeout;
  }

  std::shared_ptr<future_state<T>> state_;
};

}  // namespace detail

template <class T>
class future : public detail::future_handle<T> {
 public:
  future() noexcept = default;
  future(future&&) noexcept = default;
  future& operator=(future&&) noexcept = default;
  future(const future&) = delete;
  future& operator=(const future&) = delete;

  // valid(): true until get(), share() or a move away. ready(), wait(),
  // wait_for(d), wait_until(tp): see detail::future_handle.

  // A shared_future of the same state; this future is invalid afterwards.
  shared_future<T> share() noexcept { return shared_future<T>(std::move(*this)); }

  // Waits for the result; returns the value or rethrows the exception. The
  // future is invalid afterwards, even if get() threw.
  T get() {
    this->wait();
    std::shared_ptr<detail::future_state<T>> s = std::move(this->state_);
    if (s->error) std::rethrow_exception(s->error);
    if constexpr (!std::is_void_v<T>) return std::move(*s->value);
  }

 private:
  template <class>
  friend class promise;

  explicit future(std::shared_ptr<detail::future_state<T>> s) noexcept
      : detail::future_handle<T>(std::move(s)) {}
};

template <class T>
class promise {
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
  // (Not for promise<T&>, whose one overload above takes the T&.)
  template <class U = T>
  requires(!std::is_void_v<U> &&
           !std::is_reference_v<U>) void set_value(std::type_identity_t<U>&& v) {
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

template <class T>
class shared_future : public detail::future_handle<T> {
 public:
  shared_future() noexcept = default;
  // Takes over f's state (f is invalid afterwards).
  shared_future(future<T>&& f) noexcept
      : detail::future_handle<T>(std::move(detail::future_access::state(f))) {}
  shared_future(const shared_future&) = default;
  shared_future(shared_future&&) noexcept = default;
  shared_future& operator=(const shared_future&) = default;
  shared_future& operator=(shared_future&&) noexcept = default;

  // Waits for the result; returns it (a const T& for a value, T& for a
  // reference, nothing for void) or rethrows the exception. Any number of
  // times, from any number of copies; the shared_future stays valid.
  decltype(auto) get() const {
    this->wait();
    const detail::future_state<T>& s = *this->state_;
    if (s.error) std::rethrow_exception(s.error);
    if constexpr (std::is_reference_v<T>) {
      return static_cast<T>(*s.value);
    } else if constexpr (!std::is_void_v<T>) {
      return static_cast<const T&>(*s.value);
    }
  }
};

}  // namespace spindle
