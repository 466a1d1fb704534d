// Scheduler workloads: yield, yield_traced, spawn, skynet, fib, sleep.
#include <spindle/spindle.hpp>

#include <algorithm>
#include <mutex>
#include <atomic>
#include <cstdint>
#include <random>
#include <vector>

#include "bench_util.hpp"

namespace bench {

// Two fibers on rt that each yield `per_fiber` times; the nanoseconds it took.
// `done` counts the fibers that finished.
static double two_yielders(spindle::runtime& rt, int per_fiber, std::atomic<int>& done) {
  auto t0 = clock::now();
  rt.block_on([&] {
    auto body = [&] {
      for (int i = 0; i < per_fiber; ++i) spindle::this_fiber::yield();
      done.fetch_add(1);
    };
    auto a = spindle::spawn(body);
    auto b = spindle::spawn(body);
    a.join();
    b.join();
  });
  return ns_since(t0);
}

// yield: one worker; two fibers each yield 5,000,000 times.
void yield(const args&) {
  constexpr int per_fiber = 5'000'000;
  spindle::runtime rt(spindle::options{.workers = 1});
  std::atomic<int> done{0};
  const double ns = two_yielders(rt, per_fiber, done);
  if (done.load() != 2) fail("yield_ns", "only %d of 2 fibers finished", done.load());
  result("yield_ns", ns / (2.0 * per_fiber), 2, "ns");
}

// yield_traced: yield with runtime::start_trace recording (to /dev/null): one
// worker, two fibers, 20 rounds of 25,000 yields each, a trace per round.
// A round's 50,000 switches fit the 64 Ki events of a worker's buffer, so
// every yield records an event (a full buffer only counts drops, which is
// cheaper); only the yields are timed, not start_trace or stop_trace's
// writing.
void yield_traced(const args&) {
  constexpr int rounds = 20;
  constexpr int per_fiber = 25'000;
  spindle::runtime rt(spindle::options{.workers = 1});
  std::atomic<int> done{0};
  double ns = 0;
  for (int r = 0; r < rounds; ++r) {
    rt.start_trace("/dev/null");
    ns += two_yielders(rt, per_fiber, done);
    rt.stop_trace();
  }
  if (done.load() != 2 * rounds)
    fail("yield_traced_ns", "only %d of %d fibers finished", done.load(), 2 * rounds);
  result("yield_traced_ns", ns / (2.0 * per_fiber * rounds), 2, "ns");
}

// spawn: one fiber spawns 1,000,000 fibers that each add 1 to an atomic
// counter, then waits for all of them (one wait_group, add(n) up front).
void spawn(const args& a) {
  constexpr int n = 1'000'000;
  spindle::runtime rt(spindle::options{.workers = a.workers});
  std::atomic<long> counter{0};
  auto t0 = clock::now();
  rt.block_on([&] {
    spindle::wait_group wg;
    wg.add(n);
    for (int i = 0; i < n; ++i) {
      spindle::spawn([&] {
        counter.fetch_add(1, std::memory_order_relaxed);
        wg.done();
      }).detach();
    }
    wg.wait();
  });
  double ns = ns_since(t0);
  if (counter.load() != n) fail("spawn_ns", "counter == %ld, want %d", counter.load(), n);
  result("spawn_ns", ns / n, 2, "ns");
}

// skynet(num, size, div): a leaf returns its number; a node spawns `div`
// children and returns the sum of their results (joined through their tasks).
static std::int64_t skynet_node(std::int64_t num, std::int64_t size, std::int64_t div) {
  if (size == 1) return num;
  spindle::task<std::int64_t> kids[10];
  for (std::int64_t i = 0; i < div; ++i) kids[i] = spindle::spawn(skynet_node, num + i * (size / div), size / div, div);
  std::int64_t sum = 0;
  for (std::int64_t i = 0; i < div; ++i) sum += kids[i].join();
  return sum;
}

void skynet(const args& a) {
  constexpr std::int64_t want = 499999500000;
  spindle::runtime rt(spindle::options{.workers = a.workers});
  auto t0 = clock::now();
  std::int64_t sum = rt.block_on([] { return skynet_node(0, 1'000'000, 10); });
  double ms = ms_since(t0);
  if (sum != want) fail("skynet_ms", "sum == %lld, want %lld", static_cast<long long>(sum), static_cast<long long>(want));
  result("skynet_ms", ms, 2, "ms");
}

// fib(n) = n < 2 ? n : spawn fib(n-1), compute fib(n-2) inline, join, add.
static int fib_of(int n) {
  if (n < 2) return n;
  auto child = spindle::spawn(fib_of, n - 1);
  int b = fib_of(n - 2);
  return child.join() + b;
}

static double time_fib(std::size_t workers) {
  spindle::runtime rt(spindle::options{.workers = workers});
  auto t0 = clock::now();
  int r = rt.block_on([] { return fib_of(30); });
  double ms = ms_since(t0);
  if (r != 832040) fail("fib", "fib(30) == %d with %zu worker(s), want 832040", r, workers);
  return ms;
}

void fib(const args& a) {
  double t1 = time_fib(1);
  double tn = time_fib(a.workers);
  result("fib1_ms", t1, 2, "ms");
  result("fibN_ms", tn, 2, "ms");
  result("fib_speedup", t1 / tn, 3, "x");
}

// sleep: 10,000 fibers each sleep a pseudo-random 1..100 ms (fixed seed);
// lateness = actual - requested, with steady_clock.
void sleep(const args& a) {
  constexpr int n = 10'000;
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> dist(1, 100);
  std::vector<std::chrono::milliseconds> req(n);
  for (auto& r : req) r = std::chrono::milliseconds(dist(rng));
  std::vector<double> late_us(n);
  std::atomic<int> woke{0};
  spindle::runtime rt(spindle::options{.workers = a.workers});
  rt.block_on([&] {
    spindle::wait_group wg;
    wg.add(n);
    for (int i = 0; i < n; ++i) {
      spindle::spawn([&, i] {
        auto t0 = clock::now();
        spindle::this_fiber::sleep_for(req[i]);
        late_us[i] = std::chrono::duration<double, std::micro>(clock::now() - t0 - req[i]).count();
        woke.fetch_add(1);
        wg.done();
      }).detach();
    }
    wg.wait();
  });
  if (woke.load() != n) fail("sleep_p50_us", "%d of %d fibers woke", woke.load(), n);
  int early = static_cast<int>(std::count_if(late_us.begin(), late_us.end(), [](double l) { return l < 0; }));
  if (early) fail("sleep_p50_us", "%d of %d sleeps ended early", early, n);
  std::sort(late_us.begin(), late_us.end());
  result("sleep_p50_us", late_us[n / 2], 1, "us");
  result("sleep_p99_us", late_us[n * 99 / 100], 1, "us");
}

// stall: one worker (options::stall_threshold = 10 ms); one fiber spins for
// 500 ms without a switch while 4 others sleep 1 ms in a loop and record how
// late each sleep ends. Without the stall monitor's spare thread they would
// all wait for the spinner: lateness ~500 ms.
void stall(const args&) {
  constexpr auto threshold = std::chrono::milliseconds(10);
  spindle::options o;
  o.workers = 1;
  o.stall_threshold = threshold;
  o.on_stall = [](const spindle::stall_report&) {};  // quiet: the stall is the workload
  spindle::runtime rt(o);
  std::atomic<bool> spinning{true};
  std::vector<double> late_us;
  std::mutex m;
  rt.block_on([&] {
    std::vector<spindle::task<void>> sleepers;
    for (int k = 0; k < 4; ++k) {
      sleepers.push_back(spindle::spawn([&] {
        std::vector<double> mine;
        while (spinning.load(std::memory_order_relaxed)) {
          auto t0 = clock::now();
          spindle::this_fiber::sleep_for(std::chrono::milliseconds(1));
          mine.push_back(
              std::chrono::duration<double, std::micro>(clock::now() - t0 - std::chrono::milliseconds(1)).count());
        }
        std::lock_guard<std::mutex> g(m);
        late_us.insert(late_us.end(), mine.begin(), mine.end());
      }));
    }
    spindle::this_fiber::sleep_for(std::chrono::milliseconds(5));  // the sleepers are asleep
    spindle::spawn([&] {
      const auto end = clock::now() + std::chrono::milliseconds(500);
      while (clock::now() < end) {
      }
      spinning = false;
    }).join();
    for (auto& t : sleepers) t.join();
  });
  if (late_us.size() < 10) fail("stall_p99_ms", "only %zu sleeps ended during the stall", late_us.size());
  std::sort(late_us.begin(), late_us.end());
  result("stall_p99_ms", late_us[late_us.size() * 99 / 100] / 1000.0, 2, "ms");
}

}  // namespace bench
