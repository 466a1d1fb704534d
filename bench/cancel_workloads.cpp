// Cancellation workloads: cancel, deadline (bench/README.md).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <optional>
#include <spindle/spindle.hpp>
#include <vector>

#include "bench_util.hpp"

namespace bench {
namespace {

double us(clock::duration d) {
  return std::chrono::duration<double, std::micro>(d).count();
}

double percentile(std::vector<double>& v, int p) {
  std::sort(v.begin(), v.end());
  return v[v.size() * static_cast<std::size_t>(p) / 100];
}

// One round per element of `lateness_us`: a victim fiber blocks in wait(),
// a canceller fiber waits until the victim has entered its wait, gives it a
// few yields to park, takes t0 and cancels it, then joins it. The victim
// takes t1 first thing in its handler. Fails the run unless every victim's
// wait threw spindle::cancelled.
template <class Wait>
void cancel_rounds(std::vector<double>& lateness_us, Wait wait) {
  const int rounds = static_cast<int>(lateness_us.size());
  int caught = 0;
  for (int i = 0; i < rounds; ++i) {
    std::atomic<bool> entered{false};
    clock::time_point t0{}, t1{};
    auto victim = spindle::spawn([&] {
      try {
        entered.store(true);
        wait();
      } catch (const spindle::cancelled&) {
        t1 = clock::now();
        ++caught;
      }
    });
    auto canceller = spindle::spawn([&] {
      while (!entered.load()) spindle::this_fiber::yield();
      for (int k = 0; k < 3; ++k) spindle::this_fiber::yield();
      t0 = clock::now();
      victim.cancel();
      victim.join();
    });
    canceller.join();
    lateness_us[static_cast<std::size_t>(i)] = us(t1 - t0);
  }
  if (caught != rounds) fail("cancel_p50_us", "%d of %d cancelled waits threw", caught, rounds);
}

}  // namespace

// cancel: 2 x 2,000 rounds (--quick: 2 x 100): a fiber blocked in a channel
// recv, then one blocked in read_some on a connected TCP pair, cancelled by a
// fiber (on another worker when the scheduler spreads them); the time from
// t.cancel() to the cancelled fiber's catch block. cancel_p50_us and
// cancel_p99_us are over both kinds together; cancel_recv_* and cancel_read_*
// per kind.
void cancel(const args& a) {
  namespace net = spindle::net;
  const std::size_t rounds = a.quick ? 100 : 2'000;
  std::vector<double> recv_us(rounds), read_us(rounds);
  spindle::runtime rt(spindle::options{.workers = a.workers});
  rt.block_on([&] {
    spindle::channel<int> never;
    cancel_rounds(recv_us, [&] { (void)never.recv(); });
    auto lst = net::tcp_listener::bind(net::endpoint::parse("127.0.0.1:0"));
    auto client = net::tcp_stream::connect(lst.local_endpoint());
    auto server = lst.accept();
    std::byte buf[64];
    cancel_rounds(read_us, [&] { (void)server.read_some(buf); });
  });
  std::vector<double> all(recv_us);
  all.insert(all.end(), read_us.begin(), read_us.end());
  result("cancel_p50_us", percentile(all, 50), 1, "us");
  result("cancel_p99_us", percentile(all, 99), 1, "us");
  result("cancel_recv_p50_us", percentile(recv_us, 50), 1, "us");
  result("cancel_recv_p99_us", percentile(recv_us, 99), 1, "us");
  result("cancel_read_p50_us", percentile(read_us, 50), 1, "us");
  result("cancel_read_p99_us", percentile(read_us, 99), 1, "us");
}

// deadline: 10,000 fibers (--quick: 1,000) meet at a latch, then each runs
// with_timeout(1ms, ...) around a recv on a channel nobody sends on, so all
// the scopes are alive at once; lateness = the scope's end - (its start +
// its timeout). Checks that every scope ran out (std::nullopt) and none
// early. deadline_overshoot_p99_us: every timeout 1 ms, so all the scopes
// end in the same millisecond; deadline_spread_overshoot_p99_us: scope i's
// timeout is 1 ms + i x 10 us, so the same 10,000 scopes, alive at once, end
// 100 per millisecond over 100 ms (what a server's requests look like).
static void deadline_round(const args& a, int n, std::chrono::microseconds spread,
                           const char* metric) {
  std::vector<double> late_us(static_cast<std::size_t>(n));
  std::atomic<int> expired{0};
  spindle::runtime rt(spindle::options{.workers = a.workers});
  rt.block_on([&] {
    spindle::channel<int> never;
    spindle::latch start(n);
    spindle::wait_group done;
    done.add(n);
    for (int i = 0; i < n; ++i) {
      spindle::spawn([&, i] {
        const auto timeout = std::chrono::microseconds(1000) + i * spread;
        start.arrive_and_wait();
        const auto t0 = clock::now();
        const std::optional<int> r = spindle::with_timeout(timeout, [&] { return *never.recv(); });
        late_us[static_cast<std::size_t>(i)] = us(clock::now() - t0 - timeout);
        if (!r) expired.fetch_add(1);
        done.done();
      }).detach();
    }
    done.wait();
  });
  if (expired.load() != n) fail(metric, "%d of %d scopes ran out", expired.load(), n);
  if (std::any_of(late_us.begin(), late_us.end(), [](double l) { return l < 0; }))
    fail(metric, "a scope ended before its deadline");
  result(metric, percentile(late_us, 99), 1, "us");
}

// deadline_scope_end_ns: what ending one scope costs its fiber, without a
// switch: one fiber runs with_timeout(0, ...) around the same recv, so the
// wait finds its deadline passed, throws spindle::cancelled and the scope
// catches it. The floor under deadline_overshoot_p99_us: n scopes ending in
// the same millisecond need n x this of CPU.
static void deadline_scope_end(const args& a) {
  const int n = a.quick ? 10'000 : 100'000;
  int expired = 0;
  spindle::runtime rt(spindle::options{.workers = 1});
  const auto t0 = clock::now();
  rt.block_on([&] {
    spindle::channel<int> never;
    for (int i = 0; i < n; ++i) {
      if (!spindle::with_timeout(std::chrono::nanoseconds(0), [&] { return *never.recv(); }))
        ++expired;
      if (i % 1024 == 0) spindle::this_fiber::yield();  // not a stalled worker
    }
  });
  const double ns = ns_since(t0);
  if (expired != n) fail("deadline_scope_end_ns", "%d of %d scopes ran out", expired, n);
  result("deadline_scope_end_ns", ns / n, 1, "ns");
}

void deadline(const args& a) {
  const int n = a.quick ? 1'000 : 10'000;
  deadline_round(a, n, std::chrono::microseconds(0), "deadline_overshoot_p99_us");
  deadline_round(a, n, std::chrono::microseconds(10), "deadline_spread_overshoot_p99_us");
  deadline_scope_end(a);
}

}  // namespace bench
