// Network IO under load: many connections, many messages, idle connections,
// descriptor exhaustion, the blocking pool, fibers migrating between workers.
// Loopback only. Where one process would need more descriptors than a usual
// hard limit (20,000) allows, the clients run in a forked child.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <spindle/net.hpp>
#include <spindle/runtime.hpp>
#include <spindle/this_fiber.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "net_support.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using spindle::net::endpoint;
using spindle::net::tcp_listener;
using spindle::net::tcp_stream;
using spindle::test::pattern;
using spindle::test::pattern_message;
using spindle::test::scaled;
using steady = std::chrono::steady_clock;

namespace {

// user + system CPU time of this process.
std::chrono::microseconds process_cpu_time() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto us = [](const timeval& tv) {
    return std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec);
  };
  return us(ru.ru_utime) + us(ru.ru_stime);
}

// user + system CPU time of another process, from /proc; nullopt elsewhere.
std::optional<std::chrono::milliseconds> cpu_time_of(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return std::nullopt;
  std::istringstream rest(line.substr(line.rfind(')') + 2));
  std::string field;
  long ticks = 0;
  for (int i = 0; i < 13 && rest >> field; ++i) {
    if (i == 11 || i == 12) ticks += std::stol(field);  // utime, stime
  }
  return std::chrono::milliseconds(ticks * 1000 / sysconf(_SC_CLK_TCK));
}

// Descriptors one process needs for `connections` connection ends, plus
// the runtime's own and the test's.
constexpr rlim_t fds_for(int connections) {
  return static_cast<rlim_t>(connections) + 64;
}

// The parent side of the two-process tests: accepts `n` connections from the
// child `pid`, stopping early if the child exits (its exit code is then
// returned in *child_status) or `limit` passes.
std::vector<tcp_stream> accept_from_child(tcp_listener& lst, int n, pid_t pid,
                                          std::chrono::seconds limit, int* child_status) {
  std::vector<tcp_stream> conns;
  conns.reserve(static_cast<std::size_t>(n));
  std::atomic<bool> done{false};
  auto watchdog = spindle::spawn([&] {
    const auto until = steady::now() + limit;
    while (!done.load() && steady::now() < until) {
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) {
        *child_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        break;
      }
      spindle::this_fiber::sleep_for(10ms);
    }
    if (!done.load()) lst.close();  // wakes accept
  });
  try {
    while (static_cast<int>(conns.size()) < n) conns.push_back(lst.accept());
  } catch (const std::system_error&) {
    // closed by the watchdog
  }
  done = true;
  watchdog.join();
  return conns;
}

// The client side of the two-process tests: forks a child process that runs
// `n` client fibers at once, each connecting to `ep` and then running
// client(stream, c) for its c in [0, n). A client succeeds when that returns
// true without throwing; the child exits 0 if every client succeeded, else 1.
template <class F>
pid_t fork_clients(int n, endpoint ep, F client) {
  return spindle::test::fork_child([n, ep, client] {
    spindle::runtime rt(spindle::options{.workers = 2});
    std::atomic<int> good{0};
    rt.block_on([&] {
      std::vector<spindle::task<void>> clients;
      for (int c = 0; c < n; ++c) {
        clients.push_back(spindle::spawn([&, c] {
          try {
            auto s = tcp_stream::connect(ep);
            good += client(s, c);
          } catch (const std::system_error& e) {
            std::fprintf(stderr, "client %d: %s\n", c, e.what());
          }
        }));
      }
      for (auto& t : clients) t.join();
    });
    return good.load() == n ? 0 : 1;
  });
}

struct served_clients {
  std::size_t held = 0;   // connections accepted, all open at once
  int child_status = -2;  // the client process's exit code; -1 if it was killed
};

// The server side of the two-process tests: in a runtime of this process,
// accepts the `n` connections of the child `pid` on `lst`, passes them to
// serve(conns) in a fiber, then waits for the child to exit.
template <class F>
served_clients serve_child(tcp_listener lst, int n, pid_t pid, F serve) {
  served_clients r;
  {
    spindle::runtime rt(spindle::options{.workers = 2});
    // The listener moves into the fiber: a socket used in a runtime must go
    // before the runtime does.
    rt.block_on([&, lst = std::move(lst)]() mutable {
      auto conns = accept_from_child(lst, n, pid, 120s, &r.child_status);
      r.held = conns.size();
      serve(conns);
    });
  }
  if (r.child_status == -2) r.child_status = spindle::test::wait_child(pid, 60s);
  return r;
}

// Identifies the calling thread, read afresh on every call. Not
// std::this_thread::get_id(): pthread_self is declared const, so the
// compiler may reuse its value across a fiber's suspension and hide a move
// to another worker.
[[gnu::noinline]] std::uintptr_t current_thread_tag() {
  static thread_local char tag;
  auto p = reinterpret_cast<std::uintptr_t>(&tag);
  asm volatile("" : "+r"(p));
  return p;
}

}  // namespace

TEST(NetStress, ThousandConnectionsHundredMessagesEveryByteChecked) {
  const int conns = scaled(1000, 200);
  const int messages = scaled(100, 40);
  if (spindle::test::raise_fd_limit() < fds_for(2 * conns)) {
    GTEST_SKIP() << "RLIMIT_NOFILE too low for " << 2 * conns << " descriptors";
  }
  spindle::runtime rt(spindle::options{.workers = 2});
  std::atomic<long> bad{0};
  std::atomic<long> bytes{0};
  std::atomic<int> failed{0};
  rt.block_on([&] {
    auto lst = tcp_listener::bind(spindle::test::loopback_any_port());
    auto server = spindle::spawn([&lst] { spindle::test::echo_server(lst); });
    std::vector<spindle::task<void>> clients;
    for (int c = 0; c < conns; ++c) {
      clients.push_back(spindle::spawn([&, c, ep = lst.local_endpoint()] {
        try {
          auto s = tcp_stream::connect(ep);
          std::vector<std::byte> back;
          for (int m = 0; m < messages; ++m) {
            const std::size_t size = 1 + static_cast<std::size_t>((c * 7 + m * 13) % 300);
            const auto msg =
                pattern_message(static_cast<std::size_t>(c), static_cast<std::size_t>(m), size);
            s.write_all(msg);
            back.resize(size);
            s.read_exact(back);
            bad += static_cast<long>(std::mismatch(msg.begin(), msg.end(), back.begin()).first !=
                                     msg.end());
            bytes += static_cast<long>(size);
          }
        } catch (const std::system_error& e) {
          ADD_FAILURE() << "connection " << c << ": " << e.what();
          ++failed;
        }
      }));
    }
    for (auto& t : clients) t.join();
    lst.close();
    server.join();
  });
  long expected = 0;
  for (int c = 0; c < conns; ++c) {
    for (int m = 0; m < messages; ++m) expected += 1 + (c * 7 + m * 13) % 300;
  }
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(bytes.load(), expected);
}

// The clients are a child process, so each process holds one end of every
// connection; every connection stays open until all are, then echoes.
TEST(NetStress, TenThousandConcurrentConnections) {
  constexpr int n = scaled(10'000, 2'000);
  if (spindle::test::raise_fd_limit() < fds_for(n)) {
    GTEST_SKIP() << "RLIMIT_NOFILE hard limit too low for " << n << " connections";
  }
  ASSERT_TRUE(spindle::test::single_threaded()) << "fork needs a single-threaded process";
  auto lst = tcp_listener::bind(spindle::test::loopback_any_port());

  const pid_t pid = fork_clients(n, lst.local_endpoint(), [](tcp_stream& s, int c) {
    s.set_timeout(60s);
    std::byte go[1];
    s.read_exact(go);  // sent once the server holds every connection
    const auto msg = pattern_message(static_cast<std::size_t>(c), 0, 64);
    s.write_all(msg);
    std::vector<std::byte> back(msg.size());
    s.read_exact(back);
    return back == msg;
  });
  ASSERT_GT(pid, 0);

  const auto [held, child_status] =
      serve_child(std::move(lst), n, pid, [](std::vector<tcp_stream>& conns) {
        std::vector<spindle::task<void>> echoes;
        for (auto& s : conns) {
          echoes.push_back(spindle::spawn([&s] {
            s.write_all("!");
            spindle::test::echo_connection(std::move(s));
          }));
        }
        for (auto& t : echoes) t.join();
      });
  EXPECT_EQ(held, static_cast<std::size_t>(n));
  EXPECT_EQ(child_status, 0);
}

TEST(NetStress, TenThousandIdleConnectionsCostNoCpu) {
  constexpr int n = scaled(10'000, 2'000);
  if (spindle::test::raise_fd_limit() < fds_for(n)) {
    GTEST_SKIP() << "RLIMIT_NOFILE hard limit too low for " << n << " connections";
  }
  ASSERT_TRUE(spindle::test::single_threaded()) << "fork needs a single-threaded process";
  auto lst = tcp_listener::bind(spindle::test::loopback_any_port());

  // The child connects n times and waits for the server to end each stream.
  const pid_t pid = fork_clients(n, lst.local_endpoint(), [](tcp_stream& s, int) {
    std::byte b[1];
    return s.read_some(b) == 0;
  });
  ASSERT_GT(pid, 0);

  std::chrono::microseconds idle_cpu{};
  const auto [held, child_status] =
      serve_child(std::move(lst), n, pid, [&idle_cpu](std::vector<tcp_stream>& conns) {
        const auto all = static_cast<int>(conns.size());
        std::atomic<int> reading{0};
        std::atomic<int> ended{0};
        std::vector<spindle::task<void>> readers;
        for (auto& s : conns) {  // every connection has a fiber blocked reading it
          readers.push_back(spindle::spawn([&s, &reading, &ended] {
            std::byte b[1];
            ++reading;
            ended += s.read_some(b) == 0;
          }));
        }
        while (reading.load() < all) spindle::this_fiber::sleep_for(10ms);
        spindle::this_fiber::sleep_for(scaled(200, 500) * 1ms);  // the last ones park
        const auto before = process_cpu_time();
        spindle::this_fiber::sleep_for(1s);
        idle_cpu = process_cpu_time() - before;
        for (auto& s : conns) s.shutdown_write();
        for (auto& t : readers) t.join();
        EXPECT_EQ(ended.load(), all);
      });
  EXPECT_EQ(held, static_cast<std::size_t>(n));
  EXPECT_EQ(child_status, 0);
  EXPECT_LT(idle_cpu, 100ms) << n << " idle connections used " << idle_cpu.count()
                             << " us of CPU in 1 s";
}

// The server is a child process whose descriptor limit leaves room for only
// a few connections. Connections beyond it wait in the backlog while the
// server keeps serving the others without spinning; once some are closed,
// it accepts the rest.
TEST(NetStress, AcceptUnderEmfileKeepsServingAndRecovers) {
#if defined(__SANITIZE_ADDRESS__)
  // The ASan build includes UBSan, whose vptr check needs descriptors of its
  // own (on a cache miss it probes memory through a pipe): in a process out of
  // descriptors it reports false "invalid vptr" errors and aborts. The release
  // and TSan builds run this test.
  GTEST_SKIP() << "UBSan's vptr check cannot run in a process out of descriptors";
#endif
  constexpr int spare = 8;  // descriptors the server has for connections
  constexpr int total = spare + 6;
  constexpr std::size_t size = 32;
  ASSERT_TRUE(spindle::test::single_threaded()) << "fork needs a single-threaded process";
  auto lst = tcp_listener::bind(spindle::test::loopback_any_port());
  const endpoint ep = lst.local_endpoint();

  const pid_t pid = spindle::test::fork_child([&lst] {
    spindle::runtime rt(spindle::options{.workers = 2});
    return rt.block_on([&, lst = std::move(lst)]() mutable {
      spindle::this_fiber::sleep_for(1ms);  // the runtime is fully up
      // Lowest free descriptor + spare: dup() returns the lowest free one.
      const int probe = dup(0);
      close(probe);
      rlimit lim{};
      getrlimit(RLIMIT_NOFILE, &lim);
      lim.rlim_cur = static_cast<rlim_t>(probe + spare);
      if (setrlimit(RLIMIT_NOFILE, &lim) != 0) return 3;
      std::vector<spindle::task<void>> echoes;
      for (int i = 0; i < total; ++i) {
        echoes.push_back(spindle::spawn(spindle::test::echo_connection, lst.accept()));
      }
      for (auto& t : echoes) t.join();
      return 0;
    });
  });
  ASSERT_GT(pid, 0);
  lst.close();  // only the child accepts

  const auto reply_wait = scaled(300, 1000) * 1ms;
  spindle::runtime rt(spindle::options{.workers = 2});
  rt.block_on([&] {
    std::vector<tcp_stream> conns;
    for (int i = 0; i < total; ++i) {
      conns.push_back(tcp_stream::connect(ep));  // the kernel completes the handshake
      conns.back().write_all(pattern_message(static_cast<std::size_t>(i), 0, size));
    }
    // Which connections does the server serve?
    std::vector<spindle::task<bool>> probes;
    for (int i = 0; i < total; ++i) {
      probes.push_back(spindle::spawn([&, i] {
        auto& s = conns[static_cast<std::size_t>(i)];
        s.set_timeout(reply_wait);
        std::vector<std::byte> back(size);
        try {
          s.read_exact(back);
        } catch (const std::system_error& e) {
          if (e.code() != std::errc::timed_out) throw;
          return false;
        }
        EXPECT_EQ(back, pattern_message(static_cast<std::size_t>(i), 0, size));
        return true;
      }));
    }
    std::vector<int> served;
    std::vector<int> waiting;
    for (int i = 0; i < total; ++i) {
      (probes[static_cast<std::size_t>(i)].join() ? served : waiting).push_back(i);
    }
    ASSERT_FALSE(served.empty()) << "the server accepted nothing";
    ASSERT_FALSE(waiting.empty()) << "the server never ran out of descriptors";

    // Out of descriptors, the server backs off instead of spinning.
    if (auto before = cpu_time_of(pid)) {
      spindle::this_fiber::sleep_for(500ms);
      const auto used = *cpu_time_of(pid) - *before;
      EXPECT_LT(used, 150ms) << "the server spun while out of descriptors";
    }
    // ... and still serves the connections it has.
    for (int i : served) {
      auto& s = conns[static_cast<std::size_t>(i)];
      const auto msg = pattern_message(static_cast<std::size_t>(i), 1, size);
      s.write_all(msg);
      std::vector<std::byte> back(size);
      s.read_exact(back);
      EXPECT_EQ(back, msg);
    }

    // Free descriptors: the waiting connections get accepted and echo what
    // they sent long ago (the back-off is at most 1 s).
    const std::size_t to_close = std::min(served.size(), waiting.size() + 1);
    for (std::size_t k = 0; k < to_close; ++k) conns[static_cast<std::size_t>(served[k])].close();
    for (int i : waiting) {
      auto& s = conns[static_cast<std::size_t>(i)];
      s.set_timeout(10s);
      std::vector<std::byte> back(size);
      s.read_exact(back);
      EXPECT_EQ(back, pattern_message(static_cast<std::size_t>(i), 0, size));
    }
    conns.clear();  // the server's echo fibers see end of stream
  });
  EXPECT_EQ(spindle::test::wait_child(pid, 30s), 0);
}

TEST(NetStress, ThousandConcurrentRunBlockingCallsWhileFibersKeepTheirPace) {
  constexpr int calls = 1000;
  spindle::runtime rt(spindle::options{.workers = 2});
  rt.block_on([] {
    std::atomic<bool> done{false};
    // A fiber that wants to run every millisecond.
    auto pacer = spindle::spawn([&done] {
      auto worst = steady::duration::zero();
      int rounds = 0;
      while (!done) {
        const auto start = steady::now();
        spindle::this_fiber::sleep_for(1ms);
        worst = std::max(worst, steady::now() - start);
        ++rounds;
      }
      return std::make_pair(worst, rounds);
    });
    const auto start = steady::now();
    std::vector<spindle::task<int>> tasks;
    for (int i = 0; i < calls; ++i) {
      tasks.push_back(spindle::spawn([i] {
        return spindle::run_blocking([i] {
          std::this_thread::sleep_for(20ms);  // a blocking call
          if (i == 7) throw std::runtime_error("seven");
          return 2 * i;
        });
      }));
    }
    long sum = 0;
    for (int i = 0; i < calls; ++i) {
      if (i == 7) {
        EXPECT_THROW(tasks[7].join(), std::runtime_error);
      } else {
        sum += tasks[static_cast<std::size_t>(i)].join();
      }
    }
    const auto took = steady::now() - start;
    done = true;
    const auto [worst, rounds] = pacer.join();
    EXPECT_EQ(sum, static_cast<long>(calls) * (calls - 1) - 14);
    // Parallel on the pool (512 threads), not one after another (20 s).
    EXPECT_LT(took, 10s);
    EXPECT_GT(rounds, 0);
    EXPECT_LT(worst, scaled(250, 1000) * 1ms) << "a fiber waited that long for its turn";
  });
}

// A fiber may resume on any worker after a suspension; the connection it
// holds (registered with the runtime's one reactor) must not care.
TEST(NetStress, FiberMigratesBetweenWorkersMidConnection) {
  spindle::runtime rt(spindle::options{.workers = 4});
  rt.block_on([] {
    auto lst = tcp_listener::bind(spindle::test::loopback_any_port());
    auto server = spindle::spawn([&lst] { spindle::test::echo_server(lst); });
    auto client = spindle::spawn([ep = lst.local_endpoint()] {
      auto s = tcp_stream::connect(ep);
      std::set<std::uintptr_t> threads{current_thread_tag()};
      int bad = 0;
      // Until the fiber has run on several workers (or 10 s have passed).
      const auto until = steady::now() + 10s;
      for (int m = 0; steady::now() < until && !(threads.size() >= 3 && m >= 200); ++m) {
        const auto msg = pattern_message(3, static_cast<std::size_t>(m), 100);
        s.write_all(msg);
        std::vector<std::byte> back(msg.size());
        s.read_exact(back);  // suspends; may resume on another worker
        bad += back != msg;
        threads.insert(current_thread_tag());
        // Resumed from a blocking-pool thread, the fiber goes through the
        // global queue, where any worker may pick it up.
        if (m % 8 == 0) spindle::run_blocking([] {});
        threads.insert(current_thread_tag());
      }
      EXPECT_EQ(bad, 0);
      return threads.size();
    });
    const std::size_t workers_seen = client.join();
    lst.close();
    server.join();
    EXPECT_GE(workers_seen, 2u) << "the connection never moved between workers";
  });
}
