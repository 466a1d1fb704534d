// spindle::when_any: a future of the index of the first future to become ready.
//
//   std::size_t i = spindle::when_any(std::move(fs)).get();  // consumes fs
//   std::size_t j = spindle::when_any(fs).get();             // leaves fs valid:
//   int v = fs[j].get();                                     // collect the winner
//
// "First" is the first to publish its result (value or exception, which
// when_any does not look at). Among inputs already ready when when_any is
// called, the lowest index wins. As in the Concurrency TS, an empty vector
// gives a ready future holding static_cast<std::size_t>(-1). Every input must
// be valid (future_error(no_state) otherwise).
//
// Cost: no fiber per input, a continuation on each input's shared state. The
// combining state lives until every input has become ready (a promise that is
// never set nor destroyed keeps it alive).
#pragma once

#include <cstddef>
#include <future>
#include <memory>
#include <spindle/detail/future_state.hpp>
#include <spindle/promise.hpp>
#include <utility>
#include <vector>

namespace spindle {
namespace detail {

// Implemented in runtime/future/when_any.cpp; states are all valid.
future<std::size_t> when_any_of(std::vector<std::shared_ptr<future_state_base>> states);

template <class T, class Take>
future<std::size_t> when_any_of(std::vector<future<T>>& futures, Take take) {
  std::vector<std::shared_ptr<future_state_base>> states;
  states.reserve(futures.size());
  for (auto& f : futures) {
    if (!f.valid()) throw_future_error(std::future_errc::no_state);
    states.push_back(take(future_access::state(f)));
  }
  return when_any_of(std::move(states));
}

}  // namespace detail

template <class T>
future<std::size_t> when_any(std::vector<future<T>>&& futures) {
  return detail::when_any_of(futures, [](auto& s) { return std::move(s); });
}

template <class T>
future<std::size_t> when_any(std::vector<future<T>>& futures) {
  return detail::when_any_of(futures, [](auto& s) { return s; });
}

}  // namespace spindle
