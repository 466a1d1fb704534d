// fast_random: a cheap per-thread pseudo-random source for scheduling
// decisions (select's choice among ready cases), not for anything that needs
// unpredictability.
#pragma once

#include <cstddef>

namespace spindle::detail {

// A uniformly distributed value in [0, n); n > 0. Out of line on purpose: its
// state is thread_local, and a fiber may resume on another thread, so the
// state's address must not be cached across a suspension in an inlined caller.
std::size_t random_below(std::size_t n) noexcept;

}  // namespace spindle::detail
