// fast_random: xorshift64* per thread, seeded from the clock and the state's
// own address (distinct per thread) through splitmix64.
#include <chrono>
#include <cstdint>
#include <spindle/detail/fast_random.hpp>

namespace spindle::detail {
namespace {

std::uint64_t splitmix64(std::uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

thread_local std::uint64_t rng_state = 0;

}  // namespace

std::size_t random_below(std::size_t n) noexcept {
  std::uint64_t x = rng_state;
  if (x == 0) {  // first use on this thread (xorshift's state is never 0 afterwards)
    auto t =
        static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    x = splitmix64(t ^ reinterpret_cast<std::uintptr_t>(&rng_state));
    x |= 1;
  }
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  rng_state = x;
  // Lemire's multiply-shift maps the 64-bit value onto [0, n) without a division.
  return static_cast<std::size_t>((static_cast<unsigned __int128>(x * 0x2545f4914f6cdd1dULL) * n) >>
                                  64);
}

}  // namespace spindle::detail
