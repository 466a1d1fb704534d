// fast_random: a cheap pseudo-random source for scheduling decisions
// (select's choice among ready cases, a worker's choice of whom to steal
// from), not for anything that needs unpredictability.
#pragma once

#include <cstddef>
#include <cstdint>

namespace spindle::detail {

// xorshift64* (Vigna), the one generator of the runtime. `state` must never
// be 0 (xorshift keeps it nonzero afterwards). Inline, a few shifts and two
// multiplications: cheap enough for the steal loop.
struct xorshift64star {
  std::uint64_t state;

  // A uniformly distributed value in [0, n); n > 0.
  std::size_t below(std::size_t n) noexcept {
    std::uint64_t x = state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    state = x;
    // Lemire's multiply-shift maps the 64-bit value onto [0, n) without a division.
    return static_cast<std::size_t>(
        (static_cast<unsigned __int128>(x * 0x2545f4914f6cdd1dULL) * n) >> 64);
  }
};

// A uniformly distributed value in [0, n); n > 0. Out of line on purpose: its
// state is thread_local, and a fiber may resume on another thread, so the
// state's address must not be cached across a suspension in an inlined caller.
std::size_t random_below(std::size_t n) noexcept;

}  // namespace spindle::detail
