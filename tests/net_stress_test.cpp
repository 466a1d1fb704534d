// Network IO under load: many connections, many messages, idle connections,
// descriptor exhaustion, the blocking pool, fibers migrating between workers,
// sockets closed while calls on them are in progress.
// Loopback only. Where one process would need more descriptors than a usual
// hard limit (20,000) allows, the clients run in a forked child.
#include <gtest/gtest.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <mutex>
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
//
// In the ASan+UBSan build this file is compiled with -fno-sanitize=vptr
// (tests/CMakeLists.txt): UBSan's vptr check needs descriptors of its own (on
// a cache miss it probes memory through a pipe), and in a process out of
// descriptors it would report false "invalid vptr" errors.
TEST(NetStress, AcceptUnderEmfileKeepsServingAndRecovers) {
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

// A thousand blocking calls, more than the pool has threads (512): every
// thread blocks inside a call at once, and a fiber still runs round after
// round meanwhile (the calls do not hold the workers). The calls block until
// that fiber opens a gate, so the test says nothing about how fast a machine
// is: if a call held a worker, the gate would stay shut and the calls would
// report it after half a minute.
TEST(NetStress, ThousandConcurrentRunBlockingCallsWhileFibersKeepTheirPace) {
  constexpr int calls = 1000;
  constexpr int pool = 512;
  constexpr int rounds_while_blocked = 20;
  spindle::runtime rt(spindle::options{.workers = 2, .blocking_threads = pool});
  std::mutex m;
  std::condition_variable cv;
  bool open = false;
  std::atomic<int> blocked{0}, max_blocked{0}, gate_stayed_shut{0};
  rt.block_on([&] {
    auto pacer = spindle::spawn([&] {
      int rounds = 0;
      // Until every pool thread is inside a call, then some rounds more.
      while (blocked.load() < pool) {
        spindle::this_fiber::sleep_for(1ms);
        ++rounds;
      }
      for (int i = 0; i < rounds_while_blocked; ++i) {
        spindle::this_fiber::sleep_for(1ms);
        ++rounds;
      }
      {
        std::lock_guard<std::mutex> g(m);
        open = true;
      }
      cv.notify_all();
      return rounds;
    });
    std::vector<spindle::task<int>> tasks;
    for (int i = 0; i < calls; ++i) {
      tasks.push_back(spindle::spawn([&, i] {
        return spindle::run_blocking([&, i] {
          const int now = blocked.fetch_add(1) + 1;
          int seen = max_blocked.load();
          while (seen < now && !max_blocked.compare_exchange_weak(seen, now)) {
          }
          {
            std::unique_lock<std::mutex> g(m);
            if (!cv.wait_for(g, 30s, [&] { return open; })) {
              ++gate_stayed_shut;
              open = true;  // the others need not wait as long
              cv.notify_all();
            }
          }
          blocked.fetch_sub(1);
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
    EXPECT_EQ(sum, static_cast<long>(calls) * (calls - 1) - 14);
    EXPECT_GE(pacer.join(), rounds_while_blocked);
  });
  EXPECT_EQ(gate_stayed_shut.load(), 0) << "a blocking call held a worker: the pacer never ran";
  EXPECT_EQ(max_blocked.load(), pool) << "the calls ran in parallel on every pool thread";
}

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

// --- close during IO ----------------------------------------------------------
//
// A socket is closed while fibers on other workers are inside calls on it,
// and new descriptors are opened right after the close: dup() of an
// "intruder" socket takes the lowest free number, which is the one just
// closed if close() released it. No call may read the intruder's bytes, write
// into it or accept its connections (a leak between clients), and every call
// ends with a clean result or operation_canceled. Before, a call that had
// read the number just before the close used it just after (and a call made
// after the close saw EBADF).

namespace {

using spindle::net::udp_socket;

constexpr std::byte from_peer{0x11};      // what a stream's peer sends it
constexpr std::byte to_peer{0x22};        // what a stream sends its peer
constexpr std::byte intruder_byte{0xee};  // what only an intruder holds

// A connected pair of non-blocking AF_UNIX stream sockets.
std::array<int, 2> stream_pair() {
  std::array<int, 2> fds{-1, -1};
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds.data()) != 0) {
    throw std::system_error(errno, std::generic_category(), "socketpair");
  }
  return fds;
}

// Bytes queued for reading on fd.
int queued(int fd) {
  int n = -1;
  ::ioctl(fd, FIONREAD, &n);
  return n;
}

// Reads what is queued on the non-blocking fd; returns how many bytes were
// not `expected`.
std::size_t drain_counting_others(int fd, std::byte expected) {
  std::size_t others = 0;
  std::byte buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) {
    others += static_cast<std::size_t>(
        std::count_if(buf, buf + n, [expected](std::byte b) { return b != expected; }));
  }
  return others;
}

// How the calls of the rounds ended.
struct call_ends {
  int cancelled = 0;        // std::errc::operation_canceled
  int other_errors = 0;     // anything else, end of stream included
  std::size_t foreign = 0;  // bytes, datagrams or connections of another socket

  void add(const call_ends& o) {
    cancelled += o.cancelled;
    other_errors += o.other_errors;
    foreign += o.foreign;
  }
  // Runs f() until it throws; counts how.
  template <class F>
  void until_error(F f) {
    try {
      for (;;) f();
    } catch (const std::system_error& e) {
      if (e.code() == std::errc::operation_canceled) {
        ++cancelled;
      } else {
        ++other_errors;
        ADD_FAILURE() << e.what();
      }
    }
  }
};

// Lets the fibers of the round run: the closer is a plain thread or a fiber.
void yield_anywhere() {
  if (spindle::in_fiber()) {
    spindle::this_fiber::yield();
  } else {
    std::this_thread::yield();
  }
}

// Varies the moment of the close: `round` selects a spin of 0 to ~60 us.
void spin_for_round(int round) {
  std::atomic<int> spun{0};
  for (int i = 0; i < (round % 32) * 100; ++i) spun.store(i, std::memory_order_relaxed);
}

// Runs round(r) for r = 0, 1, ... until `max_rounds` or `budget` has passed;
// returns the number of rounds.
template <class F>
int run_rounds(int max_rounds, steady::duration budget, F round) {
  const auto until = steady::now() + budget;
  int r = 0;
  for (; r < max_rounds && steady::now() < until; ++r) round(r);
  return r;
}

// An AF_UNIX stream whose queue holds intruder bytes; its number is dup()ed
// into the place of a closed socket.
struct stream_intruder {
  static constexpr int held = 4096;
  std::array<int, 2> fds = stream_pair();  // fds[0] is dup()ed, fds[1] its peer

  stream_intruder() {
    const std::vector<std::byte> bytes(held, intruder_byte);
    EXPECT_EQ(::write(fds[1], bytes.data(), bytes.size()), held);
  }
  ~stream_intruder() {
    ::close(fds[0]);
    ::close(fds[1]);
  }
  // Nobody read its bytes or wrote to its peer.
  bool untouched() const { return queued(fds[0]) == held && queued(fds[1]) == 0; }
};

// One round on a stream: a reader and a writer fiber busy on it (the reader
// always finds data, so it is inside recv() most of the time), closed by
// `close_it` (run by the caller: a plain thread or a fiber), then dup()s of
// the intruder. `spawn` starts a fiber.
template <class Spawn>
call_ends stream_round(Spawn spawn, stream_intruder& intruder, int round) {
  const auto [mine, peer] = stream_pair();
  const std::vector<std::byte> fill(4096, from_peer);
  EXPECT_GT(::write(peer, fill.data(), fill.size()), 0);
  tcp_stream s = tcp_stream::adopt(mine);
  std::atomic<int> started{0};
  auto reader = spawn([&] {
    call_ends e;
    std::array<std::byte, 16> buf{};
    ++started;
    e.until_error([&] {
      const std::size_t n = s.read_some(buf);
      if (n == 0) throw std::system_error(make_error_code(std::errc::connection_aborted), "eof");
      e.foreign += static_cast<std::size_t>(
          std::count_if(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n),
                        [](std::byte b) { return b != from_peer; }));
    });
    return e;
  });
  auto writer = spawn([&] {
    call_ends e;
    std::array<std::byte, 16> out{};
    out.fill(to_peer);
    ++started;
    e.until_error([&] { s.write_some(out); });
    return e;
  });
  while (started < 2) yield_anywhere();
  spin_for_round(round);
  s.close();
  const int dups[2] = {::dup(intruder.fds[0]), ::dup(intruder.fds[0])};
  call_ends ends = reader.join();
  ends.add(writer.join());
  for (int fd : dups) ::close(fd);
  ends.foreign += drain_counting_others(peer, to_peer);
  ::close(peer);
  return ends;
}

void expect_stream_rounds(spindle::runtime& rt, bool close_from_fiber) {
  auto intruder = std::make_unique<stream_intruder>();
  call_ends total;
  int intruded = 0;
  auto one_round = [&](auto spawn, int r) {
    total.add(stream_round(spawn, *intruder, r));
    if (!intruder->untouched()) {
      ++intruded;
      intruder = std::make_unique<stream_intruder>();
    }
  };
  const int max_rounds = scaled(3000, 1000);
  const auto budget = 2s;
  int rounds = 0;
  if (close_from_fiber) {
    rounds = rt.block_on([&] {
      return run_rounds(max_rounds, budget,
                        [&](int r) { one_round([](auto f) { return spindle::spawn(f); }, r); });
    });
  } else {
    rounds = run_rounds(max_rounds, budget,
                        [&](int r) { one_round([&rt](auto f) { return rt.spawn(f); }, r); });
  }
  ::testing::Test::RecordProperty("rounds", rounds);
  EXPECT_GE(rounds, 100);
  EXPECT_EQ(total.foreign, 0u) << "bytes crossed between streams";
  EXPECT_EQ(intruded, 0) << "rounds in which a closed stream's call used the intruder";
  EXPECT_EQ(total.other_errors, 0);
  EXPECT_EQ(total.cancelled, 2 * rounds) << "every reader and writer ends cancelled";
}

}  // namespace

TEST(NetStress, CloseFromAThreadDuringStreamIoNeverLeaksBetweenStreams) {
  spindle::runtime rt(spindle::options{.workers = 2});
  expect_stream_rounds(rt, false);
}

TEST(NetStress, CloseFromAFiberDuringStreamIoNeverLeaksBetweenStreams) {
  spindle::runtime rt(spindle::options{.workers = 3});
  expect_stream_rounds(rt, true);
}

// Accept: a listener with connections pending is closed while a fiber
// accepts; dup()s of an intruder listener with connections of its own take
// the freed number. Every accepted stream must belong to the closed listener.
TEST(NetStress, CloseDuringAcceptNeverAcceptsAnotherListenersConnection) {
  spindle::runtime rt(spindle::options{.workers = 2});
  auto intruder = tcp_listener::bind(spindle::test::loopback_any_port());
  std::vector<tcp_stream> intruder_clients;
  for (int i = 0; i < 32; ++i) {
    intruder_clients.push_back(tcp_stream::connect(intruder.local_endpoint()));
  }
  call_ends total;
  int accepted = 0;
  const int rounds = run_rounds(scaled(2000, 500), 2s, [&](int r) {
    auto lst = tcp_listener::bind(spindle::test::loopback_any_port());
    const std::uint16_t port = lst.local_endpoint().port();
    std::vector<tcp_stream> clients;
    for (int i = 0; i < 3; ++i) clients.push_back(tcp_stream::connect(lst.local_endpoint()));
    std::atomic<bool> started{false};
    auto acceptor = rt.spawn([&] {
      call_ends e;
      int n = 0;
      started = true;
      e.until_error([&] {
        tcp_stream s = lst.accept();
        ++n;
        e.foreign += s.local_endpoint().port() != port;
      });
      return std::pair(e, n);
    });
    while (!started) std::this_thread::yield();
    spin_for_round(r);
    lst.close();
    const int dups[2] = {::dup(intruder.native_handle()), ::dup(intruder.native_handle())};
    const auto [ends, n] = acceptor.join();
    for (int fd : dups) ::close(fd);
    total.add(ends);
    accepted += n;
  });
  ::testing::Test::RecordProperty("rounds", rounds);
  EXPECT_GE(rounds, 50);
  EXPECT_EQ(total.foreign, 0u) << "connections of another listener accepted";
  EXPECT_EQ(total.other_errors, 0);
  EXPECT_EQ(total.cancelled, rounds);
  EXPECT_LE(accepted, 3 * rounds);
}

// UDP: a receiver (datagrams always pending) and a sender busy on a socket
// that is closed under them; dup()s of an intruder socket holding datagrams
// of its own take the freed number. The receiver must see only datagrams
// sent to its socket, and the sink only datagrams from it.
TEST(NetStress, CloseDuringUdpIoNeverLeaksBetweenSockets) {
  spindle::runtime rt(spindle::options{.workers = 2});
  const endpoint any = spindle::test::loopback_any_port();
  auto intruder = udp_socket::bind(any);
  auto intruder_source = udp_socket::bind(any);
  std::array<std::byte, 16> bad{};
  bad.fill(intruder_byte);
  for (int i = 0; i < 64; ++i) intruder_source.send_to(bad, intruder.local_endpoint());
  auto source = udp_socket::bind(any);
  auto sink = udp_socket::bind(any);
  call_ends total;
  const int rounds = run_rounds(scaled(1500, 500), 2s, [&](int r) {
    auto u = udp_socket::bind(any);
    const endpoint mine = u.local_endpoint();
    std::array<std::byte, 16> good{};
    good.fill(from_peer);
    for (int i = 0; i < 8; ++i) source.send_to(good, mine);
    std::atomic<int> started{0};
    auto receiver = rt.spawn([&] {
      call_ends e;
      std::array<std::byte, 64> buf{};
      ++started;
      e.until_error([&] {
        const auto [n, from] = u.recv_from(buf);
        e.foreign += n != good.size() || from != source.local_endpoint() ||
                     !std::equal(good.begin(), good.end(), buf.begin());
      });
      return e;
    });
    auto sender = rt.spawn([&] {
      call_ends e;
      std::array<std::byte, 16> out{};
      out.fill(to_peer);
      ++started;
      e.until_error([&] { u.send_to(out, sink.local_endpoint()); });
      return e;
    });
    while (started < 2) std::this_thread::yield();
    spin_for_round(r);
    u.close();
    const int dups[2] = {::dup(intruder.native_handle()), ::dup(intruder.native_handle())};
    total.add(receiver.join());
    total.add(sender.join());
    for (int fd : dups) ::close(fd);
    // What reached the sink came from `mine`, never from the intruder.
    std::array<std::byte, 64> buf{};
    sockaddr_storage from{};
    for (;;) {
      socklen_t len = sizeof from;
      const ssize_t n = ::recvfrom(sink.native_handle(), buf.data(), buf.size(), 0,
                                   reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 0) break;
      total.foreign += endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&from), len) != mine;
    }
  });
  ::testing::Test::RecordProperty("rounds", rounds);
  EXPECT_GE(rounds, 100);
  EXPECT_EQ(total.foreign, 0u) << "datagrams crossed between sockets";
  EXPECT_EQ(total.other_errors, 0);
  EXPECT_EQ(total.cancelled, 2 * rounds);
}
