// sample_support.hpp: the scaffolding the samples share (option parsing, the
// accept loop and its policy for idle connections, self-test clients), so
// that each sample's own file shows only what it is an example of.
// spindle-bench's server workloads use the accept loop too. Header-only;
// not part of spindle's API.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <initializer_list>
#include <spindle/spindle.hpp>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_set>
#include <utility>
#include <vector>

namespace spindle_samples {

// One "--name value" command-line option: a whole number in [min, max], and
// what to do with it.
struct option {
  std::string_view name;
  long long min;
  long long max;
  std::function<void(long long value)> set;
};

// An option that stores its value in `out`.
template <class Int>
option number(std::string_view name, Int& out, long long min, long long max) {
  return {name, min, max, [&out](long long v) { out = static_cast<Int>(v); }};
}

// Prints "usage: <program> <usage>" (to stdout for --help, else to stderr)
// and exits: 0 for --help, 2 for misuse.
[[noreturn]] inline void exit_with_usage(const char* program, const char* usage, bool asked) {
  std::fprintf(asked ? stdout : stderr, "usage: %s %s\n", program, usage);
  std::exit(asked ? 0 : 2);
}

// Parses argv as "--name value" pairs; --help prints the usage and exits 0.
// Anything else (an unknown name, a name without its value, a value that is
// not entirely a decimal number in the option's range) says what was wrong,
// prints "usage: <program> <usage>" and exits with status 2: every sample
// takes its options, and reports misuse, the same way.
inline void parse_options(int argc, char** argv, const char* usage,
                          std::initializer_list<option> options) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help") exit_with_usage(argv[0], usage, true);
    const auto it = std::find_if(options.begin(), options.end(),
                                 [arg](const option& o) { return o.name == arg; });
    if (it == options.end()) {
      std::fprintf(stderr, "%s: unknown option \"%s\"\n", argv[0], argv[i]);
      exit_with_usage(argv[0], usage, false);
    }
    if (i + 1 == argc) {
      std::fprintf(stderr, "%s: %s needs a value\n", argv[0], argv[i]);
      exit_with_usage(argv[0], usage, false);
    }
    const std::string_view text = argv[++i];
    long long v = 0;
    const auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (err != std::errc() || end != text.data() + text.size() || v < it->min || v > it->max) {
      std::fprintf(stderr, "%s: %s takes a whole number from %lld to %lld, not \"%s\"\n", argv[0],
                   argv[i - 1], it->min, it->max, argv[i]);
      exit_with_usage(argv[0], usage, false);
    }
    it->set(v);
  }
}

// 127.0.0.1:port (0: any free port): the servers here serve this host only.
inline spindle::net::endpoint loopback(int port) {
  return spindle::net::endpoint::parse("127.0.0.1:" + std::to_string(port));
}

// A listener on 127.0.0.1:port, announced as "listening on <address>" on
// stdout, flushed at once so that whoever waits for the line sees it.
inline spindle::net::tcp_listener listen_on_loopback(int port) {
  auto lst = spindle::net::tcp_listener::bind(loopback(port));
  std::printf("listening on %s\n", lst.local_endpoint().to_string().c_str());
  std::fflush(stdout);
  return lst;
}

// --- serving connections ------------------------------------------------------

// True when a connection waits to be accepted on `listen_fd` and the process
// has no descriptor left to take it with: accept() meets EMFILE (or ENFILE)
// and can only wait (see tcp_listener.hpp) until a connection is closed.
// Probes with a duplicate of the listener, closed again at once.
inline bool descriptors_exhausted(int listen_fd) {
  if (listen_fd < 0) return false;
  pollfd pending{listen_fd, POLLIN, 0};
  if (::poll(&pending, 1, 0) != 1) return false;
  const int probe = ::fcntl(listen_fd, F_DUPFD_CLOEXEC, 0);
  if (probe >= 0) {
    ::close(probe);
    return false;
  }
  return errno == EMFILE || errno == ENFILE;
}

class connection;

// The connections a server holds, and the policy that closes idle ones. A
// fiber of the server (the reaper, reap_until_stopped) looks at them every
// `tick` and closes
//  * every connection on which nothing happened (connection::active) for the
//    idle timeout;
//  * while descriptors are exhausted (descriptors_exhausted): connections idle
//    for `exhausted_idle` (or the idle timeout, if shorter), the longest idle
//    first, an eighth of all connections per tick, until accept gets through.
//    Idle clients cannot starve a new one.
// Closing a stream wakes the fiber serving it, whose call then throws: its
// serve() ends as for a client that reset the connection.
class connection_registry {
 public:
  static constexpr std::chrono::milliseconds tick{100};
  static constexpr std::chrono::milliseconds exhausted_idle{1000};

  explicit connection_registry(std::chrono::milliseconds idle_timeout)
      : idle_timeout_(idle_timeout) {}

  // The reaper: runs until stop(). While `lst` is open it is watched for
  // descriptor exhaustion.
  void reap_until_stopped(const spindle::net::tcp_listener& lst);
  void stop();

 private:
  friend class connection;
  using clock = std::chrono::steady_clock;

  void add(connection& c);
  void remove(connection& c);

  const std::chrono::milliseconds idle_timeout_;
  spindle::mutex mutex_;                 // guards everything below
  spindle::condition_variable changed_;  // stopping_ set, or the first connection added
  bool stopping_ = false;
  std::unordered_set<connection*> connections_;
};

// One accepted connection, as serve_connections hands it to a server: its
// stream, and a flag that says whether it is in use. Registered with the
// registry for its lifetime (the stream outlives the registration: members
// are destroyed after the destructor's body).
class connection {
 public:
  connection(connection_registry& registry, spindle::net::tcp_stream s)
      : stream(std::move(s)), registry_(registry) {
    registry_.add(*this);
  }
  ~connection() { registry_.remove(*this); }
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  spindle::net::tcp_stream stream;

  // Says that bytes moved: the connection is in use, not idle. Call it after
  // every read (or write) that moved bytes; it costs one relaxed store.
  void active() noexcept { active_.store(true, std::memory_order_relaxed); }

 private:
  friend class connection_registry;
  connection_registry& registry_;
  // Set by the fibers serving the connection, cleared by the reaper.
  std::atomic<bool> active_{true};
  // When the reaper last saw active_ set; the reaper's, under the registry's mutex.
  connection_registry::clock::time_point last_active_;
};

inline void connection_registry::add(connection& c) {
  std::lock_guard lock(mutex_);
  c.last_active_ = clock::now();
  if (connections_.empty()) changed_.notify_one();  // the reaper has work again
  connections_.insert(&c);
}

inline void connection_registry::remove(connection& c) {
  // From ~connection: its wait for the lock must not throw when the
  // connection's fiber is cancelled (the server stopping).
  spindle::shield s;
  std::lock_guard lock(mutex_);
  connections_.erase(&c);
}

inline void connection_registry::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_one();
}

inline void connection_registry::reap_until_stopped(const spindle::net::tcp_listener& lst) {
  const auto idle_when_exhausted = std::min(idle_timeout_, exhausted_idle);
  std::vector<std::pair<clock::duration, connection*>> idle;  // longest idle first, once sorted
  std::unique_lock lock(mutex_);
  for (;;) {
    // Without connections the reaper sleeps until there are some: an idle
    // server does not wake up every tick.
    changed_.wait(lock, [this] { return stopping_ || !connections_.empty(); });
    if (changed_.wait_for(lock, tick, [this] { return stopping_; })) return;
    const auto now = clock::now();
    idle.clear();
    for (connection* c : connections_) {
      if (c->active_.exchange(false, std::memory_order_relaxed)) c->last_active_ = now;
      const auto idle_for = now - c->last_active_;
      if (!c->stream.is_open()) continue;
      if (idle_for >= idle_timeout_) {
        c->stream.close();
      } else if (idle_for >= idle_when_exhausted) {
        idle.emplace_back(idle_for, c);
      }
    }
    if (idle.empty() || !descriptors_exhausted(lst.native_handle())) continue;
    const std::size_t n = std::min(idle.size(), std::max<std::size_t>(1, connections_.size() / 8));
    std::partial_sort(idle.begin(), idle.begin() + static_cast<std::ptrdiff_t>(n), idle.end(),
                      [](const auto& a, const auto& b) { return a.first > b.first; });
    for (std::size_t i = 0; i < n; ++i) idle[i].second->stream.close();
  }
}

// The accept loop of every server here: spindle::net::serve (one fiber per
// connection until `lst` is closed, then every connection awaited; a
// std::system_error out of serve() ends its connection quietly, anything else
// is reported) plus the idle policy: connections idle for `idle_timeout` are
// closed, and idle ones first when descriptors run out (connection_registry).
// An error of accept other than the close is reported on stderr and stops
// the accepting; it never ends the process. Cancelling the calling fiber
// cancels every connection (net::serve) and then throws spindle::cancelled.
template <class Serve>
void serve_connections(spindle::net::tcp_listener& lst, std::chrono::milliseconds idle_timeout,
                       Serve serve) {
  connection_registry connections(idle_timeout);
  auto reaper = spindle::spawn([&] { connections.reap_until_stopped(lst); });
  std::exception_ptr cancelled;
  try {
    spindle::net::serve(lst, [&connections, serve](spindle::net::tcp_stream s) {
      connection c(connections, std::move(s));
      serve(c);
    });
  } catch (const spindle::cancelled&) {
    cancelled = std::current_exception();  // every connection has ended
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "accept failed, no more connections taken: %s\n", e.what());
  }
  {
    spindle::shield s;  // the reaper must be gone before `connections`, cancelled or not
    connections.stop();
    reaper.join();
  }
  if (cancelled) std::rethrow_exception(cancelled);
}

// --- stopping on a signal -----------------------------------------------------

// What a server counts for the line it prints when it stops.
struct server_stats {
  std::atomic<long> connections{0};
  std::atomic<long> requests{0};
};

// Serves `lst` until one of `signals` comes, then stops it cleanly; call it
// from a plain thread (main). serve(listener) is the accept loop (it returns
// once the listener is closed and its connections have ended, see
// serve_connections).
//  1. A fiber waits for a signal, then closes the listener: no new
//     connection.
//  2. The connections get `grace` to finish what they are doing (a client
//     that sends more meanwhile is still served); those still open then are
//     cancelled: they are the children of net::serve's task_group, which
//     cancelling the serving fiber reaches. Their waits throw
//     spindle::cancelled, their destructors run.
//  3. Returns the signal's number, or 0 if accepting failed instead
//     (reported on stderr) and no signal came.
// The caller creates `signals` before it announces the listener, so that a
// signal sent as soon as the announcement shows is never the default action.
template <class Serve>
int serve_until_signal(spindle::runtime& rt, spindle::signal_set& signals,
                       spindle::net::tcp_listener& lst, std::chrono::milliseconds grace,
                       Serve serve) {
  int signo = 0;
  rt.block_on([&] {
    spindle::latch served(1);
    auto server = spindle::spawn([&] {
      try {
        serve(lst);
      } catch (const spindle::cancelled&) {
        // The grace ran out: the connections still open were cut short.
      }
      served.count_down();
    });
    auto stopper = spindle::spawn([&] {
      signo = signals.wait();
      lst.close();
      if (!served.wait_for(grace)) server.cancel();
    });
    served.wait();
    // The stopper is done with `server` (or never will be: the server ended
    // by itself, accept failed, and no signal is coming).
    stopper.cancel();
    try {
      stopper.join();
    } catch (const spindle::cancelled&) {
    }
    server.join();
  });
  return signo;
}

// Runs a server on 127.0.0.1:port (listen_on_loopback) until SIGINT or
// SIGTERM, then stops it cleanly (serve_until_signal); call it from main.
// The signals are caught (spindle::signal_set) before the listener is
// announced. Prints "stopped by SIGTERM: N connections served, M <unit>" and
// returns 0; if accepting failed instead (reported on stderr), returns 1.
template <class Serve>
int serve_until_signalled(spindle::runtime& rt, int port, std::chrono::milliseconds grace,
                          const server_stats& stats, const char* unit, Serve serve) {
  spindle::signal_set signals{SIGINT, SIGTERM};
  auto lst = listen_on_loopback(port);
  const int signo = serve_until_signal(rt, signals, lst, grace, serve);
  if (signo == 0) return 1;
  std::printf("stopped by %s: %ld connections served, %ld %s\n",
              signo == SIGINT ? "SIGINT" : "SIGTERM", stats.connections.load(),
              stats.requests.load(), unit);
  std::fflush(stdout);
  return 0;
}

// Runs client(id) for every id in [0, n), each in a fiber of its own so that
// all of them run at once, and returns when every one has returned. Call it
// from a fiber.
template <class Int, class Client>
void run_clients(Int n, Client client) {
  std::vector<spindle::task<void>> clients;
  clients.reserve(static_cast<std::size_t>(n));
  for (Int id = 0; id < n; ++id) clients.push_back(spindle::spawn(client, id));
  for (auto& c : clients) c.join();
}

// A self-test within one process: serve(listener) runs in a fiber on a
// listener on 127.0.0.1:port (listen_on_loopback), and client(endpoint, id)
// for every id in [0, n) (run_clients); once the clients are done the
// listener is closed and the server awaited. Call it from a fiber.
template <class Serve, class Int, class Client>
void self_test_in_process(int port, Serve serve, Int n, Client client) {
  auto lst = listen_on_loopback(port);
  const spindle::net::endpoint ep = lst.local_endpoint();
  auto server = spindle::spawn(serve, std::ref(lst));
  run_clients(n, [&client, &ep](Int id) { client(ep, id); });
  lst.close();
  server.join();
}

}  // namespace spindle_samples
