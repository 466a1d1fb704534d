// spindle_top: runtime::metrics() once a second, as `top` shows a process.
//
// It runs a small server workload of its own (an echo server on loopback and
// clients that talk to it, a ticker that sleeps, workers that contend on a
// mutex) and prints, every second, what each worker did in that second
// (fibers run, steals, parks, reactor polls, busy %) and the runtime's
// totals. In your own server, call rt.metrics() from a thread or a fiber the
// same way and subtract the previous snapshot. With --dump 1 it ends with
// rt.dump().
//
//   spindle_top [--seconds S] [--clients C] [--workers W] [--dump 0|1]
#include <chrono>
#include <cstdio>
#include <spindle/spindle.hpp>
#include <thread>

#include "sample_support.hpp"

using namespace std::chrono_literals;

int main(int argc, char** argv) {
  int seconds = 5, clients = 20, dump = 0;
  std::size_t workers = 0;
  spindle_samples::parse_options(argc, argv,
                                 "[--seconds S] [--clients C] [--workers W] [--dump 0|1]",
                                 {spindle_samples::number("--seconds", seconds, 1, 3600),
                                  spindle_samples::number("--clients", clients, 1, 10'000),
                                  spindle_samples::number("--workers", workers, 0, 1024),
                                  spindle_samples::number("--dump", dump, 0, 1)});
  spindle::runtime rt(spindle::options{.workers = workers});
  std::atomic<bool> stop{false};

  // The workload: an echo server and its clients, a ticker, and mutex users.
  auto lst = spindle::net::tcp_listener::bind(spindle_samples::loopback(0));
  const spindle::net::endpoint at = lst.local_endpoint();
  auto server = rt.spawn(spindle::fiber_options{.name = "acceptor"}, [&] {
    spindle::task_group connections;
    try {
      for (;;) {
        connections.spawn(
            [](spindle::net::tcp_stream s) {
              spindle::this_fiber::set_name("echo conn");
              char buf[512];
              while (std::size_t n = s.read_some(std::as_writable_bytes(std::span(buf))))
                s.write_all(std::as_bytes(std::span(buf, n)));
            },
            lst.accept());
      }
    } catch (const std::system_error&) {
      // the listener was closed: the end
    }
    connections.cancel();
  });
  std::vector<spindle::task<void>> load;
  for (int c = 0; c < clients; ++c) {
    load.push_back(rt.spawn(spindle::fiber_options{.name = std::string("client ").append(std::to_string(c))}, [&] {
      auto s = spindle::net::tcp_stream::connect(at);
      char msg[64] = "ping", back[64];
      while (!stop.load(std::memory_order_relaxed)) {
        s.write_all(std::as_bytes(std::span(msg)));
        s.read_exact(std::as_writable_bytes(std::span(back)));
      }
    }));
  }
  load.push_back(rt.spawn(spindle::fiber_options{.name = "ticker"}, [&] {
    while (!stop.load(std::memory_order_relaxed)) spindle::this_fiber::sleep_for(10ms);
  }));
  spindle::mutex m;
  long shared = 0;
  for (int i = 0; i < 4; ++i) {
    load.push_back(rt.spawn(spindle::fiber_options{.name = std::string("locker ").append(std::to_string(i))}, [&] {
      while (!stop.load(std::memory_order_relaxed)) {
        std::lock_guard g(m);
        ++shared;
        spindle::this_fiber::yield();
      }
    }));
  }

  // The monitor: one snapshot a second, minus the one before.
  spindle::runtime_metrics before = rt.metrics();
  for (int s = 1; s <= seconds; ++s) {
    std::this_thread::sleep_for(1s);
    const spindle::runtime_metrics now = rt.metrics();
    std::printf(
        "t=%ds  fibers alive %llu (spawned %llu/s)  timers %zu  io waiting %zu  blocking "
        "threads %zu (queued %zu)\n",
        s, static_cast<unsigned long long>(now.fibers_alive),
        static_cast<unsigned long long>(now.fibers_spawned - before.fibers_spawned),
        now.timers_pending, now.io_waiting, now.blocking_threads, now.blocking_queued);
    std::printf("  worker  fibers/s  steals/s  parks/s  polls/s  queue  busy\n");
    for (std::size_t w = 0; w < now.workers.size(); ++w) {
      const spindle::worker_metrics& a = now.workers[w];
      const spindle::worker_metrics& b = before.workers[w];
      std::printf("  %6zu  %8llu  %8llu  %7llu  %7llu  %5zu  %3.0f%%\n", w,
                  static_cast<unsigned long long>(a.fibers_run - b.fibers_run),
                  static_cast<unsigned long long>(a.steals - b.steals),
                  static_cast<unsigned long long>(a.parks - b.parks),
                  static_cast<unsigned long long>(a.io_polls - b.io_polls), a.queue_depth,
                  static_cast<double>(a.busy_ns - b.busy_ns) / 1e7);
    }
    std::fflush(stdout);
    before = now;
  }
  if (dump) std::fputs(rt.dump().c_str(), stdout);
  stop = true;
  for (auto& t : load) t.join();
  lst.close();
  server.join();
  std::printf("done: %ld mutex rounds\n", shared);
  return 0;
}
