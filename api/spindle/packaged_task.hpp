// spindle::packaged_task<R(Args...)>: a callable whose result (or exception)
// goes to a spindle::future, as std::packaged_task.
//
//   spindle::packaged_task<int(int)> job([](int x) { return x * 2; });
//   spindle::future<int> f = job.get_future();
//   spindle::spawn(std::move(job), 21);     // or call job(21) anywhere
//   int v = f.get();                        // 42
//
// As in <future>: move-only; calling it runs the function once and stores
// its result, and a second call throws std::future_error
// (promise_already_satisfied) without running it; get_future() twice throws
// future_already_retrieved; a task destroyed (or reset()) before it ran
// leaves its future with broken_promise; using a default-constructed or
// moved-from task throws future_error(no_state). reset() keeps the function
// and gives it a fresh future.
#pragma once

#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <spindle/promise.hpp>
#include <type_traits>
#include <utility>

namespace spindle {

template <class Signature>
class packaged_task;

template <class R, class... Args>
class packaged_task<R(Args...)> {
 public:
  packaged_task() noexcept = default;

  template <class F>
  requires(!std::is_same_v<std::remove_cvref_t<F>, packaged_task> &&
           std::is_invocable_r_v<R, std::decay_t<F>&, Args...>) explicit packaged_task(F&& f)
      : fn_(std::make_unique<holder<std::decay_t<F>>>(std::forward<F>(f))),
        result_(std::in_place) {}

  packaged_task(packaged_task&&) noexcept = default;
  packaged_task& operator=(packaged_task&&) noexcept = default;
  packaged_task(const packaged_task&) = delete;
  packaged_task& operator=(const packaged_task&) = delete;

  // True while the task holds a function.
  bool valid() const noexcept { return fn_ != nullptr; }

  future<R> get_future() {
    checked();
    return result_->get_future();
  }

  // Runs the function with args and stores what it returns or throws.
  void operator()(Args... args) {
    checked();
    if (ran_) detail::throw_future_error(std::future_errc::promise_already_satisfied);
    ran_ = true;
    try {
      if constexpr (std::is_void_v<R>) {
        fn_->call(std::forward<Args>(args)...);
        result_->set_value();
      } else {
        result_->set_value(fn_->call(std::forward<Args>(args)...));
      }
    } catch (...) {
      result_->set_exception(std::current_exception());
    }
  }

  // A fresh future for the same function; the old one, if the function had
  // not run, gets broken_promise.
  void reset() {
    checked();
    result_.emplace();
    ran_ = false;
  }

  void swap(packaged_task& other) noexcept {
    std::swap(fn_, other.fn_);
    std::swap(result_, other.result_);
    std::swap(ran_, other.ran_);
  }

 private:
  struct callable {
    virtual ~callable() = default;
    virtual R call(Args&&... args) = 0;
  };
  template <class F>
  struct holder final : callable {
    template <class G>
    explicit holder(G&& g) : f(std::forward<G>(g)) {}
    R call(Args&&... args) override {
      if constexpr (std::is_void_v<R>) {
        std::invoke(f, std::forward<Args>(args)...);
      } else {
        return std::invoke(f, std::forward<Args>(args)...);
      }
    }
    F f;
  };

  void checked() const {
    if (!fn_) detail::throw_future_error(std::future_errc::no_state);
  }

  std::unique_ptr<callable> fn_;
  std::optional<promise<R>> result_;  // engaged whenever fn_ is set
  bool ran_ = false;
};

}  // namespace spindle
