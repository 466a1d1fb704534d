// Helpers shared by the test suites.
#pragma once

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
