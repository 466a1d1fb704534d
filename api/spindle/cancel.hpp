// Cancellation, deadline scopes and task groups.
//
//   auto t = spindle::spawn([] { for (;;) handle(ch.recv()); });
//   t.cancel();              // its recv throws spindle::cancelled, now or at its next wait
//
//   std::optional<reply> r = spindle::with_timeout(50ms, [&] { return call(backend); });
//   if (!r) ...              // every wait inside threw spindle::cancelled once 50 ms ran out
//
//   spindle::task_group g;   // owns its children: they never outlive it
//   for (auto& part : parts) g.spawn(fetch, part);
//   g.join();                // the first child exception cancels the rest and is rethrown here
//
// Cancellation is a request to a fiber, and it is sticky: once a fiber is
// cancelled, every wait it makes from then on throws spindle::cancelled
// (a wait already in progress is woken and throws) until the fiber ends.
// Every wait means every call that can suspend: the sync primitives,
// channel send/recv and their timed forms, select, future get/wait, task
// join, sleeps, socket IO, io::wait_*, signal_set::wait, and the wait of
// run_blocking (the call itself runs to its end, runtime.hpp). yield() and the
// try_* calls never throw it. A cancel that races with a wake-up loses
// nothing: a permit, a channel value, a lock hand-over or IO readiness is
// either taken by the waiter (whose wait then returns normally; the next one
// throws) or left for the next waiter.
//
// Cleanup code that must wait runs under a `shield`: while one lives in the
// fiber, its waits ignore the request (and expired deadline scopes); the
// request takes effect at the first wait after the last shield ends.
//
// with_timeout / with_deadline run f() in the calling fiber with a deadline
// that every wait inside honours: when it passes first, those waits throw
// spindle::cancelled, and with_* returns std::nullopt (false when f returns
// void). Scopes nest; the earliest deadline wins. A cancellation of the fiber
// itself is not swallowed: it propagates out of with_* as spindle::cancelled.
//
// A task_group's children are cancelled by g.cancel(), by the cancellation
// of the fiber that created the group, and by the deadline of a with_* scope
// that encloses the group's creation. join() waits for every child (its wait
// cannot be cut short); it rethrows the first exception a child threw other
// than spindle::cancelled, which also cancels the other children; otherwise,
// if children were cut short because the caller itself is cancelled or out
// of time, it throws spindle::cancelled; otherwise it returns. ~task_group()
// cancels and waits for the children still running; it never detaches them
// (an exception no join() collected is reported on stderr).
//
// runtime::shutdown(grace) cancels every fiber of its runtime the same way
// (runtime.hpp).
//
// Only fibers are cancelled: on a plain thread this_fiber::cancelled() is
// false, a shield does nothing, and with_timeout, with_deadline and
// task_group throw std::logic_error.
#pragma once

#include <chrono>
#include <exception>
#include <optional>
#include <spindle/cancelled.hpp>
#include <spindle/detail/cancel_state.hpp>
#include <spindle/detail/count_gate.hpp>
#include <spindle/detail/deadline.hpp>
#include <spindle/runtime.hpp>
#include <spindle/signal_set.hpp>  // its wait() is cancellable like every other
#include <system_error>
#include <type_traits>
#include <utility>

namespace spindle {

namespace this_fiber {

// True once the calling fiber is cancelled or an enclosing deadline scope has
// run out, outside a shield: for long computations that never wait.
bool cancelled() noexcept;
// Throws spindle::cancelled if cancelled() is true.
void throw_if_cancelled();

}  // namespace this_fiber

// While a shield lives, the calling fiber's waits ignore cancellation.
class shield {
 public:
  shield() noexcept;
  ~shield();
  shield(const shield&) = delete;
  shield& operator=(const shield&) = delete;

 private:
  detail::cancel_state* state_;  // the running fiber's, or null on a thread
};

namespace detail {

// One with_timeout/with_deadline on the running fiber's stack.
class scope_guard {
 public:
  explicit scope_guard(clock::time_point deadline);  // std::logic_error outside a fiber
  ~scope_guard();
  scope_guard(const scope_guard&) = delete;
  scope_guard& operator=(const scope_guard&) = delete;
  // A spindle::cancelled was caught: true if this scope's own deadline ran
  // out (and no enclosing one ran out before it, and the fiber itself is
  // not cancelled), so the scope ends quietly.
  bool expired_here() const noexcept;

 private:
  cancel_state* state_;
  runtime_core* rt_;  // the fiber's: its runtime::shutdown cancels it too
  cancel_links* links_;
  cancel_scope scope_;
};

template <class F>
auto run_with_deadline(clock::time_point deadline, F&& f) {
  using R = std::invoke_result_t<F>;
  static_assert(!std::is_reference_v<R>,
                "spindle::with_timeout: f must return a value, not a reference");
  scope_guard scope(deadline);
  try {
    if constexpr (std::is_void_v<R>) {
      std::invoke(std::forward<F>(f));
      return true;
    } else {
      return std::optional<R>(std::invoke(std::forward<F>(f)));
    }
  } catch (const spindle::cancelled&) {
    if (!scope.expired_here()) throw;
    if constexpr (std::is_void_v<R>) {
      return false;
    } else {
      return std::optional<R>();
    }
  }
}

}  // namespace detail

// Runs f() with a deadline `d` from now (see the top of this header).
template <class Rep, class Period, class F>
auto with_timeout(const std::chrono::duration<Rep, Period>& d, F&& f) {
  return detail::run_with_deadline(detail::deadline_after(d), std::forward<F>(f));
}

// Runs f() with the deadline `tp` (any clock).
template <class Clock, class Duration, class F>
auto with_deadline(const std::chrono::time_point<Clock, Duration>& tp, F&& f) {
  return detail::run_with_deadline(detail::to_deadline(tp), std::forward<F>(f));
}

class task_group {
 public:
  // In a fiber (std::logic_error otherwise). Children inherit the deadline
  // of the with_* scopes around this line, and the creator's cancellation.
  task_group();
  ~task_group();
  task_group(const task_group&) = delete;
  task_group& operator=(const task_group&) = delete;

  // Starts f(args...) as a child fiber (arguments decay-copied as by
  // spindle::spawn; a result is discarded). A child spawned into a cancelled
  // group starts cancelled.
  template <class F, class... A>
  void spawn(F&& f, A&&... args) {
    auto body = detail::bind_decayed(std::forward<F>(f), std::forward<A>(args)...);
    begin_child();
    try {
      spindle::spawn([this, body = std::move(body)]() mutable {
        child c(*this);
        try {
          c.enter();
          body();
        } catch (const detail::fiber_unwind&) {
          throw;  // the runtime is shutting down: unwind, not an error
        } catch (...) {
          c.failed(std::current_exception());
        }
      }).detach();
    } catch (...) {
      end_child();
      throw;
    }
  }

  // Waits for every child; see the top of this header for what it throws.
  void join();
  // Requests the cancellation of every child, present and future.
  void cancel() noexcept;

 private:
  // A running child's entry in the group (on the child's stack): linked while
  // the child runs, so cancel() can reach its fiber.
  class child {
   public:
    explicit child(task_group& g) noexcept;
    ~child();
    // Puts the group's inherited deadline on the child (may throw bad_alloc).
    void enter();
    child(const child&) = delete;
    child& operator=(const child&) = delete;
    void failed(std::exception_ptr e) noexcept;

   private:
    friend class task_group;
    task_group& group_;
    detail::fiber* fiber_;
    child* next_ = nullptr;
    child* prev_ = nullptr;
    detail::cancel_scope scope_;  // the group's inherited deadline
  };

  void begin_child();
  void end_child() noexcept;
  static void cancel_from_owner(void* group) noexcept;
  void wait_for_children() noexcept;

  detail::fiber* owner_;
  detail::group_link link_;  // in owner_->cancel.groups
  detail::clock::time_point deadline_;
  detail::count_gate running_{0, detail::wait_kind::join};
  detail::spinlock lock_;
  child* children_ = nullptr;  // guarded by lock_
  bool cancelled_ = false;     // guarded by lock_
  bool cut_short_ = false;     // guarded by lock_: a child ended with spindle::cancelled
  std::exception_ptr error_;   // guarded by lock_: the first child exception
};

}  // namespace spindle
