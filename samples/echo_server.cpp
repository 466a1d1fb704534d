// echo_server: a TCP echo server on every core. One fiber per connection,
// written as plain blocking code; thousands of connections served by one
// worker thread per core.
//
//   echo_server [--port P] [--workers N] [--idle-timeout S] [--grace G]
//       Serves 127.0.0.1:P (default 9000; 0 = any free port) until SIGINT or
//       SIGTERM: then it stops accepting, gives the open connections G seconds
//       (default 5) before it cancels them, prints one line (connections
//       served, messages echoed) and exits 0 (sample_support.hpp,
//       serve_until_signalled). A connection idle for S seconds (default 60)
//       is closed, and idle ones go first when descriptors run out.
//   echo_server --self-test N [--messages M] [--workers N]
//       Serves a free port, and a client process (forked, one fiber per
//       connection) opens N connections to it. All N are open at once, then
//       each echoes M messages (1 to 1024 bytes), every byte checked. Prints
//       what both sides saw and exits 0 on success. The clients live in a
//       process of their own so that each process holds one end of every
//       connection: 10,000 connections fit a 20,000-descriptor limit.
//       --pipeline P adds one connection that writes P 32-byte messages back
//       to back while another fiber reads and checks the echo (P = 2,000,000
//       in the smoke test): the server reads ahead while its echoes wait, up
//       to a megabyte of them (reply_writer.hpp).
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <optional>
#include <span>
#include <spindle/spindle.hpp>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "reply_writer.hpp"
#include "sample_support.hpp"

using namespace std::chrono_literals;
namespace net = spindle::net;

namespace {

struct settings {
  int port = -1;            // -1: 9000 when serving, any free port for the self-test
  std::size_t workers = 0;  // one per core
  int idle_timeout = 60;    // seconds
  long self_test = 0;       // clients; 0 = serve until SIGINT/SIGTERM
  int messages = 10;
  long pipeline = 0;  // messages of the self-test's pipelining connection
  int grace = 5;  // seconds the connections get once a signal came
};

settings parse_args(int argc, char** argv) {
  using spindle_samples::number;
  settings s;
  spindle_samples::parse_options(
      argc, argv,
      "[--port P] [--workers N] [--idle-timeout S] [--grace G] [--self-test CONNECTIONS "
      "[--messages M] [--pipeline P]]",
      {number("--port", s.port, 0, 65535), number("--workers", s.workers, 0, 1024),
       number("--idle-timeout", s.idle_timeout, 1, 86400), number("--grace", s.grace, 0, 3600),
       number("--self-test", s.self_test, 1, 1000000), number("--messages", s.messages, 0, 1000000),
       number("--pipeline", s.pipeline, 0, 100000000)});
  return s;
}

// Connections being served right now, and the most at any moment.
struct gauge {
  std::atomic<long> now{0};
  std::atomic<long> peak{0};
  void up() {
    const long n = ++now;
    long p = peak.load();
    while (n > p && !peak.compare_exchange_weak(p, n)) {
    }
  }
  void down() { --now; }
};

// For the line printed when the server stops (a message: one read echoed).
spindle_samples::server_stats served;

// The whole server side of one connection.
void echo(spindle_samples::connection& c, gauge& open) {
  open.up();
  ++served.connections;
  char buf[16 * 1024];
  try {
    // The echoes go out without stopping the reading while less than a
    // megabyte waits (reply_writer.hpp): a client that pipelines is served.
    spindle_samples::reply_writer replies(c.stream, [&c] { c.active(); });
    while (std::size_t n = c.stream.read_some(std::as_writable_bytes(std::span(buf)))) {
      c.active();
      replies.send(std::string_view(buf, n));
      ++served.requests;
    }
    replies.finish();  // the client closed its side: what waits goes out first
  } catch (const std::system_error&) {
    // The client reset the connection (or it idled too long, or the server
    // stops: spindle::cancelled is a system_error too): nothing left to serve.
  }
  open.down();
}

// Accepts until the listener is closed, one fiber per connection, and
// returns once every connection has ended too.
void serve(net::tcp_listener& lst, std::chrono::seconds idle_timeout, gauge& open) {
  spindle_samples::serve_connections(lst, idle_timeout,
                                     [&open](spindle_samples::connection& c) { echo(c, open); });
}

// Raises the descriptor limit for `wanted` connections plus a few of the
// runtime's own (the hard limit too, when privileged); returns how many
// connections fit.
long fit_connections(long wanted) {
  constexpr rlim_t spare = 64;
  const rlim_t need = static_cast<rlim_t>(wanted) + spare;
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  if (lim.rlim_cur < need) {
    rlimit want{need, std::max(lim.rlim_max, need)};
    if (setrlimit(RLIMIT_NOFILE, &want) != 0) {
      want = rlimit{lim.rlim_max, lim.rlim_max};
      setrlimit(RLIMIT_NOFILE, &want);
    }
    getrlimit(RLIMIT_NOFILE, &lim);
  }
  if (lim.rlim_cur >= need) return wanted;
  const long fit = lim.rlim_cur > spare ? static_cast<long>(lim.rlim_cur - spare) : 0;
  std::printf("the descriptor limit (%llu) allows %ld connections, not %ld: raise `ulimit -Hn`\n",
              static_cast<unsigned long long>(lim.rlim_cur), fit, wanted);
  return fit;
}

std::byte pattern(long client, int message, std::size_t i) {
  return static_cast<std::byte>((client * 131 + message * 31 + static_cast<long>(i) * 7) & 0xff);
}

struct results {
  std::atomic<long> connected{0};
  std::atomic<long> messages{0};
  std::atomic<long> bytes{0};
  std::atomic<long> errors{0};
  std::atomic<long> pipelined{0};  // messages of the pipelining connection echoed
};

// One self-test client: connect, wait until every client is connected, then
// echo `messages` messages and check every byte.
void client(net::endpoint ep, long id, int messages, spindle::latch& all_open, results& r) {
  std::optional<net::tcp_stream> s;
  try {
    s = net::tcp_stream::connect(ep);
    s->set_timeout(60s);  // a self-test must end, even if something is broken
    ++r.connected;
  } catch (const std::system_error& e) {
    if (r.errors++ == 0) std::fprintf(stderr, "client %ld: %s\n", id, e.what());
  }
  all_open.arrive_and_wait();  // every connection is open at this point
  if (!s) return;
  std::vector<std::byte> out(1024);
  std::vector<std::byte> in(1024);
  try {
    for (int m = 0; m < messages; ++m) {
      const std::size_t size = 1 + static_cast<std::size_t>((id * 31 + m * 17) % 1024);
      for (std::size_t i = 0; i < size; ++i) out[i] = pattern(id, m, i);
      s->write_all(std::span(out).first(size));
      s->read_exact(std::span(in).first(size));
      if (!std::equal(out.begin(), out.begin() + static_cast<long>(size), in.begin())) {
        if (r.errors++ == 0)
          std::fprintf(stderr, "client %ld: message %d came back wrong\n", id, m);
        return;
      }
      ++r.messages;
      r.bytes += static_cast<long>(size);
    }
  } catch (const std::system_error& e) {
    if (r.errors++ == 0) std::fprintf(stderr, "client %ld: %s\n", id, e.what());
  }
}

// Message m of the pipelining connection: its number, in 32 bytes.
void pipelined_message(long m, char (&out)[33]) {
  std::snprintf(out, sizeof out, "message %023ld\n", m);
}

// The pipelining connection: `messages` messages written back to back in
// 64 KiB writes by one fiber while another reads the echo and checks every
// byte. The server must keep reading while its echoes wait for this client.
void pipelining_client(net::endpoint ep, long messages, results& r) {
  constexpr std::size_t size = 32;
  try {
    auto s = net::tcp_stream::connect(ep);
    s.set_timeout(60s);
    auto writer = spindle::spawn([&] {
      std::string chunk;
      char msg[33];
      for (long m = 0; m < messages;) {
        chunk.clear();
        for (; m < messages && chunk.size() < 64 * 1024; ++m) {
          pipelined_message(m, msg);
          chunk.append(msg, size);
        }
        s.write_all(chunk);
      }
    });
    std::vector<char> got(size * 1024);
    char want[33];
    for (long m = 0; m < messages;) {
      const long batch = std::min<long>(1024, messages - m);
      s.read_exact(
          std::as_writable_bytes(std::span(got).first(size * static_cast<std::size_t>(batch))));
      for (long k = 0; k < batch; ++k, ++m) {
        pipelined_message(m, want);
        if (std::string_view(got.data() + size * static_cast<std::size_t>(k), size) !=
            std::string_view(want, size)) {
          if (r.errors++ == 0)
            std::fprintf(stderr, "pipelining client: message %ld came back wrong\n", m);
          writer.cancel();
          writer.join();
          return;
        }
      }
      r.pipelined += batch;
    }
    writer.join();
  } catch (const std::system_error& e) {
    if (r.errors++ == 0) std::fprintf(stderr, "pipelining client: %s\n", e.what());
  }
}

// The client process: n connections from fibers; 0 when every byte came back.
int client_process(const settings& cfg, net::endpoint ep, long n) {
  spindle::runtime rt(spindle::options{.workers = cfg.workers});
  results r;
  rt.block_on([&] {
    std::optional<spindle::task<void>> pipelining;
    if (cfg.pipeline > 0)
      pipelining.emplace(spindle::spawn(pipelining_client, ep, cfg.pipeline, std::ref(r)));
    spindle::latch all_open(n);
    spindle_samples::run_clients(n, [&](long id) { client(ep, id, cfg.messages, all_open, r); });
    if (pipelining) pipelining->join();
  });
  const bool ok = r.errors == 0 && r.connected == n && r.messages == n * cfg.messages &&
                  r.pipelined == cfg.pipeline;
  std::printf("clients: %ld connections open at once, %ld messages (%.1f MB) echoed,\n",
              r.connected.load(), r.messages.load(), static_cast<double>(r.bytes.load()) / 1e6);
  if (cfg.pipeline > 0)
    std::printf("         and %ld messages pipelined on one more connection,\n",
                r.pipelined.load());
  std::printf("         every byte checked, %ld errors\n", r.errors.load());
  std::fflush(stdout);
  return ok ? 0 : 1;
}

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto secs = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return secs(ru.ru_utime) + secs(ru.ru_stime);
}

int self_test(const settings& cfg) {
  const long n = fit_connections(cfg.self_test);
  if (n == 0) return 1;
  // Bound before the fork, so the clients know where to connect; no runtime
  // (no thread) exists yet, so forking is safe.
  auto lst = spindle_samples::listen_on_loopback(cfg.port < 0 ? 0 : cfg.port);
  const net::endpoint ep = lst.local_endpoint();
  const pid_t pid = fork();
  if (pid < 0) {
    std::perror("fork");
    return 1;
  }
  if (pid == 0) {
    lst.close();  // the server's
    _exit(client_process(cfg, ep, n));
  }

  gauge open;
  int status = 0;
  const auto start = std::chrono::steady_clock::now();
  const double cpu_before = cpu_seconds();
  spindle::runtime rt(spindle::options{.workers = cfg.workers});
  // The listener moves into the fiber, which owns it until the server stops.
  rt.block_on([&, lst = std::move(lst)]() mutable {
    auto server = spindle::spawn(serve, std::ref(lst), std::chrono::seconds(cfg.idle_timeout),
                                 std::ref(open));
    // waitpid blocks its thread, so it runs on the blocking pool.
    status = spindle::run_blocking([pid] {
      int st = 0;
      while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
      }
      return st;
    });
    lst.close();
    server.join();
  });
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double cpu = cpu_seconds() - cpu_before;
  const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  std::printf("server:  %ld connections open at once at the peak, on %zu worker threads;\n",
              open.peak.load(), rt.workers());
  std::printf("         %.2f s, %.2f s of CPU time: %s\n", secs, cpu, ok ? "OK" : "FAILED");
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const settings cfg = parse_args(argc, argv);
  if (cfg.self_test > 0) return self_test(cfg);
  spindle::runtime rt(spindle::options{.workers = cfg.workers});
  gauge open;
  return spindle_samples::serve_until_signalled(
      rt, cfg.port < 0 ? 9000 : cfg.port, std::chrono::seconds(cfg.grace), served, "messages",
      [&](net::tcp_listener& lst) { serve(lst, std::chrono::seconds(cfg.idle_timeout), open); });
}
