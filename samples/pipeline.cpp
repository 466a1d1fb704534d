// pipeline: producer -> workers -> consumer over channels.
//
//   pipeline [--items N] [--stage-workers W] [--workers T]
//
// The producer sends the numbers 1..N into `jobs`; W worker fibers take them,
// compute each number's Collatz stopping time (a CPU-bound step), and send
// {n, steps} into `results`; the consumer adds everything up. Both channels
// are bounded (capacity 64), so a fast stage waits for a slow one instead of
// piling up memory. Shutdown cascades through close(): the producer closes
// `jobs` when done; workers stop once it is drained; after the last one
// (a wait_group) `results` is closed, which ends the consumer's loop.
// The result is checked against a plain sequential computation.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <spindle/spindle.hpp>
#include <vector>

#include "sample_support.hpp"

namespace {

struct settings {
  std::uint64_t items = 200'000;
  int stage_workers = 8;
  std::size_t workers = 0;  // threads: one per core
};

settings parse_args(int argc, char** argv) {
  using spindle_samples::number;
  settings s;
  spindle_samples::parse_options(argc, argv, "[--items N] [--stage-workers W] [--workers T]",
                                 {number("--items", s.items, 0, 1'000'000'000'000),
                                  number("--stage-workers", s.stage_workers, 1, 100000),
                                  number("--workers", s.workers, 0, 1024)});
  return s;
}

// Steps for n to reach 1 under n -> n/2 (even) or 3n+1 (odd).
std::uint64_t collatz_steps(std::uint64_t n) {
  std::uint64_t steps = 0;
  for (; n != 1; ++steps) n = n % 2 == 0 ? n / 2 : 3 * n + 1;
  return steps;
}

struct result {
  std::uint64_t n;
  std::uint64_t steps;
};

struct totals {
  std::uint64_t count = 0;
  std::uint64_t sum_n = 0;
  std::uint64_t sum_steps = 0;
  std::uint64_t longest_n = 0;  // the n with the most steps (smallest on ties)
  std::uint64_t longest_steps = 0;

  void add(const result& r) {
    ++count;
    sum_n += r.n;
    sum_steps += r.steps;
    if (r.steps > longest_steps || (r.steps == longest_steps && r.n < longest_n)) {
      longest_steps = r.steps;
      longest_n = r.n;
    }
  }
  bool operator==(const totals&) const = default;
};

}  // namespace

int main(int argc, char** argv) {
  const settings cfg = parse_args(argc, argv);
  spindle::runtime rt(spindle::options{.workers = cfg.workers});

  const auto start = std::chrono::steady_clock::now();
  const totals got = rt.block_on([&] {
    spindle::channel<std::uint64_t> jobs(64);
    spindle::channel<result> results(64);

    auto producer = spindle::spawn([jobs, n = cfg.items] {
      for (std::uint64_t i = 1; i <= n; ++i) jobs.send(i);
      jobs.close();
    });

    spindle::wait_group busy;
    busy.add(cfg.stage_workers);
    for (int w = 0; w < cfg.stage_workers; ++w) {
      spindle::spawn([jobs, results, &busy] {
        for (std::uint64_t n : jobs) results.send(result{n, collatz_steps(n)});
        busy.done();
      }).detach();
    }
    auto closer = spindle::spawn([results, &busy] {
      busy.wait();
      results.close();
    });

    totals t;
    for (const result& r : results) t.add(r);
    producer.join();
    closer.join();
    return t;
  });
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  totals want;
  for (std::uint64_t n = 1; n <= cfg.items; ++n) want.add(result{n, collatz_steps(n)});

  const bool ok = got == want;
  std::printf("pipeline: %llu items through %d workers on %zu threads in %.2f s (%.0f items/s)\n",
              static_cast<unsigned long long>(got.count), cfg.stage_workers, rt.workers(), secs,
              static_cast<double>(got.count) / secs);
  std::printf("longest Collatz chain below %llu: %llu (%llu steps); sum of steps %llu: %s\n",
              static_cast<unsigned long long>(cfg.items + 1),
              static_cast<unsigned long long>(got.longest_n),
              static_cast<unsigned long long>(got.longest_steps),
              static_cast<unsigned long long>(got.sum_steps), ok ? "OK" : "FAILED");
  return ok ? 0 : 1;
}
