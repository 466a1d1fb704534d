// primes: a CPU-bound job spread over every core. Counts the primes below a
// limit by trial division, one fiber per block of numbers, first on a runtime
// with one worker thread and then on one with a worker per core, and prints
// the speedup.
//
//   primes [--limit L] [--block B]
//
// Each block is a short computation, so work stealing keeps every worker
// busy until the last block; no fiber needs to yield.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <spindle/spindle.hpp>
#include <thread>
#include <vector>

#include "sample_support.hpp"

namespace {

struct settings {
  std::uint64_t limit = 2'000'000;
  std::uint64_t block = 10'000;
};

settings parse_args(int argc, char** argv) {
  using spindle_samples::number;
  settings s;
  spindle_samples::parse_options(argc, argv, "[--limit L] [--block B]",
                                 {number("--limit", s.limit, 0, 1'000'000'000'000),
                                  number("--block", s.block, 1, 1'000'000'000'000)});
  return s;
}

bool is_prime(std::uint64_t n) {
  if (n < 2) return false;
  if (n % 2 == 0) return n == 2;
  for (std::uint64_t d = 3; d * d <= n; d += 2) {
    if (n % d == 0) return false;
  }
  return true;
}

// Primes in [from, to).
std::uint64_t count_primes(std::uint64_t from, std::uint64_t to) {
  std::uint64_t count = 0;
  for (std::uint64_t n = from; n < to; ++n) count += is_prime(n);
  return count;
}

struct run {
  std::uint64_t primes;
  double seconds;
};

// The whole job on a runtime with `workers` threads.
run count_with(std::size_t workers, const settings& cfg) {
  spindle::runtime rt(spindle::options{.workers = workers});
  const auto start = std::chrono::steady_clock::now();
  const std::uint64_t primes = rt.block_on([&] {
    std::vector<spindle::task<std::uint64_t>> blocks;
    for (std::uint64_t from = 0; from < cfg.limit; from += cfg.block) {
      blocks.push_back(spindle::spawn(count_primes, from, std::min(from + cfg.block, cfg.limit)));
    }
    std::uint64_t total = 0;
    for (auto& b : blocks) total += b.join();
    return total;
  });
  return {primes, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()};
}

}  // namespace

int main(int argc, char** argv) {
  const settings cfg = parse_args(argc, argv);
  const std::size_t cores = std::max(1u, std::thread::hardware_concurrency());
  const run one = count_with(1, cfg);
  const run all = count_with(cores, cfg);
  const bool ok = one.primes == all.primes;
  std::printf("primes below %llu: %llu\n", static_cast<unsigned long long>(cfg.limit),
              static_cast<unsigned long long>(all.primes));
  std::printf("1 worker: %.3f s, %zu workers: %.3f s, speedup %.2fx: %s\n", one.seconds, cores,
              all.seconds, one.seconds / all.seconds, ok ? "OK" : "FAILED (counts differ)");
  return ok ? 0 : 1;
}
