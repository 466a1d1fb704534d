// spindle::async: runs a callable in a new fiber and returns a future of its
// result, as std::async(std::launch::async, ...) does with a thread.
//
//   spindle::future<int> f = spindle::async([](int x) { return x * 2; }, 21);
//   spindle::future<int> g = spindle::async(rt, fn);   // from any thread, on rt
//
// The callable and its arguments are decay-copied and invoked as rvalues (as
// std::thread does), so move-only and mutable callables work. Its exception is
// stored in the future. async(fn, ...) must be called inside a fiber (it uses
// spindle::spawn, which throws std::logic_error elsewhere); async(rt, fn, ...)
// works from anywhere. The fiber is detached: the future is the only handle.
// If the runtime shuts down before the fiber finishes, its stack unwinds and
// the future reports a broken promise.
#pragma once

#include <concepts>
#include <exception>
#include <spindle/detail/fiber.hpp>
#include <spindle/detail/waiter.hpp>
#include <spindle/promise.hpp>
#include <spindle/runtime.hpp>
#include <type_traits>
#include <utility>

namespace spindle {
namespace detail {

// The fiber body: runs fn and settles the promise with its outcome.
template <class R, class Fn>
class async_body {
 public:
  async_body(promise<R> p, Fn fn) : p_(std::move(p)), fn_(std::move(fn)) {}

  void operator()() {
    try {
      if constexpr (std::is_void_v<R>) {
        std::move(fn_)();
        p_.set_value();
      } else {
        p_.set_value(std::move(fn_)());
      }
    } catch (const fiber_unwind&) {
      throw;  // runtime shutdown: unwind; ~promise reports broken_promise
    } catch (...) {
      p_.set_exception(std::current_exception());
    }
  }

 private:
  promise<R> p_;
  Fn fn_;
};

template <class Spawn, class F, class... A>
auto start_async(Spawn&& spawn_fiber, F&& f, A&&... args) {
  using R = spawn_result_t<F, A...>;
  using Fn = decltype(bind_decayed(std::forward<F>(f), std::forward<A>(args)...));
  promise<R> p;
  future<R> result = p.get_future();
  spawn_fiber(
      async_body<R, Fn>(std::move(p), bind_decayed(std::forward<F>(f), std::forward<A>(args)...)))
      .detach();
  return result;
}

}  // namespace detail

// Inside a fiber: runs f(args...) in a new fiber on the current runtime.
template <class F, class... A>
requires std::invocable<std::decay_t<F>, std::decay_t<A>...>
auto async(F&& f, A&&... args) -> future<detail::spawn_result_t<F, A...>> {
  return detail::start_async([](auto&& body) { return spawn(std::move(body)); }, std::forward<F>(f),
                             std::forward<A>(args)...);
}

// From any thread: runs f(args...) in a new fiber on rt.
template <class F, class... A>
requires std::invocable<std::decay_t<F>, std::decay_t<A>...>
auto async(runtime& rt, F&& f, A&&... args) -> future<detail::spawn_result_t<F, A...>> {
  return detail::start_async([&rt](auto&& body) { return rt.spawn(std::move(body)); },
                             std::forward<F>(f), std::forward<A>(args)...);
}

}  // namespace spindle
