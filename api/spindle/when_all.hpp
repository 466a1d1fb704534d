// spindle::when_all: one future for a whole vector of futures.
//
//   std::vector<spindle::future<int>> fs = ...;
//   spindle::future<std::vector<int>> all = spindle::when_all(std::move(fs));
//   spindle::future<void> done = spindle::when_all(std::move(void_futures));
//
// The result is ready once every input is; it holds the values in input
// order, or the exception of the first input (in input order) that failed.
// An empty vector gives a ready future. Every input must be valid
// (future_error(no_state) otherwise); the inputs are consumed.
//
// Cost: no fiber per input. Each input's shared state gets a continuation
// that counts down; the last one to arrive assembles the result. The
// combining state frees itself once every input has arrived.
#pragma once

#include <atomic>
#include <cstddef>
#include <exception>
#include <future>
#include <memory>
#include <spindle/detail/future_state.hpp>
#include <spindle/promise.hpp>
#include <type_traits>
#include <utility>
#include <vector>

namespace spindle {
namespace detail {

template <class T>
class when_all_state {
 public:
  using result = std::conditional_t<std::is_void_v<T>, void, std::vector<T>>;

  static future<result> start(std::vector<future<T>>& futures) {
    for (auto& f : futures) {
      if (!f.valid()) throw_future_error(std::future_errc::no_state);
    }
    auto* self = new when_all_state(futures.size());
    future<result> out = self->out_.get_future();
    for (std::size_t i = 0; i < futures.size(); ++i) {
      self->inputs_[i].owner = self;
      self->inputs_[i].state = std::move(future_access::state(futures[i]));
    }
    for (input& in : self->inputs_) {
      if (!in.state->attach(in)) self->arrived();
    }
    self->arrived();  // start's own count: the result cannot complete during setup
    return out;
  }

 private:
  struct input final : future_continuation {
    when_all_state* owner = nullptr;
    std::shared_ptr<future_state<T>> state;
    void on_ready() noexcept override { owner->arrived(); }
  };

  explicit when_all_state(std::size_t n) : inputs_(n), pending_(n + 1) {}

  void arrived() noexcept {
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      finish();
      delete this;
    }
  }

  // Every input is ready, and this is the only thread touching them now.
  void finish() noexcept {
    try {
      for (input& in : inputs_) {
        if (in.state->error) return out_.set_exception(in.state->error);
      }
      if constexpr (std::is_void_v<T>) {
        out_.set_value();
      } else {
        std::vector<T> values;
        values.reserve(inputs_.size());
        for (input& in : inputs_) values.push_back(std::move(*in.state->value));
        out_.set_value(std::move(values));
      }
    } catch (...) {  // allocating the vector or moving a value failed
      out_.set_exception(std::current_exception());
    }
  }

  std::vector<input> inputs_;         // fixed size: continuations point into it
  std::atomic<std::size_t> pending_;  // inputs not yet arrived, + 1 during start
  promise<result> out_;
};

}  // namespace detail

template <class T>
auto when_all(std::vector<future<T>>&& futures) {
  return detail::when_all_state<T>::start(futures);
}

}  // namespace spindle
