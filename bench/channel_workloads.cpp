// Message-passing and locking workloads: pingpong, mpmc, mutex, idle.
#include <spindle/spindle.hpp>

#include <atomic>
#include <cstdio>
#include <thread>

#include "bench_util.hpp"

namespace bench {

// pingpong: two fibers, two rendezvous channels, 1,000,000 round trips; the
// pinger sends v, the ponger answers v + 1.
void pingpong(const args& a) {
  constexpr int n = 1'000'000;
  spindle::runtime rt(spindle::options{.workers = a.workers});
  int last = 0;
  auto t0 = clock::now();
  rt.block_on([&] {
    spindle::channel<int> ping(0), pong(0);
    auto ponger = spindle::spawn([&] {
      for (int v : ping) pong.send(v + 1);
    });
    auto pinger = spindle::spawn([&] {
      int v = 0;
      for (int i = 0; i < n; ++i) {
        ping.send(v);
        v = *pong.recv();
      }
      ping.close();
      last = v;
    });
    pinger.join();
    ponger.join();
  });
  double ns = ns_since(t0);
  if (last != n) fail("pingpong_ns", "last value == %d, want %d", last, n);
  result("pingpong_ns", ns / n, 2, "ns");
}

// mpmc: a channel of capacity 1024; 4 producers send 2,500,000 ints each; 4
// consumers receive until it is closed and drained.
void mpmc(const args& a) {
  constexpr int producers = 4, consumers = 4, per_producer = 2'500'000;
  constexpr long total = static_cast<long>(producers) * per_producer;
  spindle::runtime rt(spindle::options{.workers = a.workers});
  std::atomic<long> sent{0}, received{0}, count{0};
  auto t0 = clock::now();
  rt.block_on([&] {
    spindle::channel<int> ch(1024);
    spindle::wait_group pwg, cwg;
    pwg.add(producers);
    cwg.add(consumers);
    for (int c = 0; c < consumers; ++c) {
      spindle::spawn([&] {
        long sum = 0, k = 0;
        for (int v : ch) {
          sum += v;
          ++k;
        }
        received.fetch_add(sum);
        count.fetch_add(k);
        cwg.done();
      }).detach();
    }
    for (int p = 0; p < producers; ++p) {
      spindle::spawn([&, p] {
        long sum = 0;
        for (int i = 0; i < per_producer; ++i) {
          int v = p * per_producer + i;
          ch.send(v);
          sum += v;
        }
        sent.fetch_add(sum);
        pwg.done();
      }).detach();
    }
    pwg.wait();
    ch.close();
    cwg.wait();
  });
  double s = ms_since(t0) / 1000.0;
  if (received.load() != sent.load() || count.load() != total)
    fail("mpmc_mps", "received sum %ld in %ld messages, sent sum %ld in %ld messages", received.load(),
         count.load(), sent.load(), total);
  result("mpmc_mps", static_cast<double>(total) / s / 1e6, 3, "Mmsg/s");
}

// mutex: 1,000 fibers each do 1,000 times lock, increment, unlock.
void mutex(const args& a) {
  constexpr int fibers = 1000, iters = 1000;
  spindle::runtime rt(spindle::options{.workers = a.workers});
  long counter = 0;
  auto t0 = clock::now();
  rt.block_on([&] {
    spindle::mutex m;
    spindle::wait_group wg;
    wg.add(fibers);
    for (int f = 0; f < fibers; ++f) {
      spindle::spawn([&] {
        for (int i = 0; i < iters; ++i) {
          std::lock_guard<spindle::mutex> g(m);
          ++counter;
        }
        wg.done();
      }).detach();
    }
    wg.wait();
  });
  double ms = ms_since(t0);
  if (counter != static_cast<long>(fibers) * iters) fail("mutex_ms", "counter == %ld, want %d", counter, fibers * iters);
  result("mutex_ms", ms, 2, "ms");
}

// idle: 100,000 fibers each blocked receiving from one rendezvous channel; RSS
// before spawning and once all are blocked; then all are released and joined.
void idle(const args& a) {
  constexpr int n = 100'000;
  spindle::runtime rt(spindle::options{.workers = a.workers});
  rt.block_on([] {});  // workers started and settled before the first reading
  long before = vm_rss_kib();
  if (before < 0) fail("idle_kb", "cannot read VmRSS");
  spindle::channel<int> ch(0);
  std::atomic<long> released{0};
  spindle::wait_group ready, done;
  ready.add(n);
  done.add(n);
  for (int i = 0; i < n; ++i) {
    rt.spawn([&] {
      ready.done();
      released.fetch_add(*ch.recv());
      done.done();
    }).detach();
  }
  ready.wait();
  // Every fiber ran up to its receive; give the last ones time to park.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  long after = vm_rss_kib();
  for (int i = 0; i < n; ++i) ch.send(1);
  done.wait();
  if (released.load() != n) fail("idle_kb", "%ld of %d fibers released", released.load(), n);
  std::fprintf(stderr, "idle: VmRSS %ld KiB before, %ld KiB with %d fibers blocked\n", before, after, n);
  result("idle_kb", static_cast<double>(after - before) / n, 3, "KiB");
}

}  // namespace bench
