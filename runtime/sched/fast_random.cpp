// fast_random: xorshift64* (fast_random.hpp) per thread, seeded from the clock and the state's
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

thread_local xorshift64star rng{0};

}  // namespace

std::size_t random_below(std::size_t n) noexcept {
  if (rng.state == 0) {  // first use on this thread
    auto t =
        static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    rng.state = splitmix64(t ^ reinterpret_cast<std::uintptr_t>(&rng)) | 1;
  }
  return rng.below(n);
}

}  // namespace spindle::detail
