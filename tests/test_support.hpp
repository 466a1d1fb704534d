// Helpers shared by the test suites.
#pragma once

#include <spindle/runtime.hpp>
#include <future>
#include <system_error>

namespace spindle::test {

inline constexpr bool sanitized =
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    true;
#else
    false;
#endif

// Full size in the optimised build; the smaller size under the sanitizers,
// whose 5-20x slowdown would otherwise push stress tests past their budget.
constexpr int scaled(int full, int sanitized_size) { return sanitized ? sanitized_size : full; }

// The runtime most tests run on: two workers, so fibers do run in parallel.
inline spindle::options two_workers() {
  return spindle::options{.workers = 2};
}

// The code of the std::system_error f() throws; an empty code if f returns.
// Any other exception propagates.
template <class F>
std::error_code error_code_of(F f) {
  try {
    f();
  } catch (const std::system_error& e) {
    return e.code();
  }
  return std::error_code();
}

// The std::future_errc of the std::future_error f() throws; a value-initialised
// one (0, no error) if f returns. Any other exception propagates.
template <class F>
std::future_errc future_error_of(F f) {
  try {
    f();
  } catch (const std::future_error& e) {
    return static_cast<std::future_errc>(e.code().value());
  }
  return std::future_errc{};
}

// Recurses until the stack overflows (a volatile buffer per frame so the
// compiler can neither drop the frames nor turn the recursion into a loop).
inline volatile bool keep_recursing = true;
[[gnu::noinline]] inline int recurse_forever(int depth) {
  volatile char pad[512];
  pad[0] = static_cast<char>(depth);
  if (!keep_recursing) return pad[0];
  return recurse_forever(depth + 1) + pad[0];
}

}  // namespace spindle::test
