// prefork: the nginx model. A master process binds one TCP port, then forks
// worker processes that inherit the listening socket; each worker runs a
// spindle runtime of its own and serves a keep-alive HTTP/1.1 "Hello, World!"
// on it (net::serve: the kernel hands each new connection to whichever worker
// accepts first). The master never runs a runtime: a runtime's threads do not
// survive fork(), and the master forks again whenever a worker dies.
//
//   prefork [--port P] [--workers-procs N] [--workers T] [--idle-timeout S] [--grace G]
//       Serves 127.0.0.1:P (default 9003; 0 = any free port) with N worker
//       processes (default 2) of T threads each (default 1; 0 = one per
//       core). A worker that dies is restarted (one line on stdout). On
//       SIGINT or SIGTERM the master sends SIGTERM to every worker, which
//       stops accepting, gives its connections G seconds (default 5) and
//       exits; the master waits for all of them, prints "stopped by SIGTERM:
//       N workers stopped, R restarted" and exits 0. A keep-alive
//       connection idle for S seconds (default 60) is closed.
//   prefork --self-test N [--workers-procs N] [--workers T]
//       The same server on a free port, and a client process that sends N
//       requests over keep-alive connections and, half-way, kills the worker
//       that answered it with SIGKILL. A request whose reused connection
//       fails is retried once on a new connection; a request that fails on a
//       new connection counts as failed. Once the master has restarted the
//       worker, the client stops the other workers (SIGSTOP) for a moment and
//       checks that the new one answers a new connection. Exits 0 if all N
//       requests were answered correctly, the new worker answered, and the
//       master restarted exactly one worker.
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <span>
#include <spindle/spindle.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "sample_support.hpp"

using namespace std::chrono_literals;
namespace net = spindle::net;

namespace {

struct settings {
  int port = -1;  // -1: 9003 when serving, any free port for the self-test
  int processes = 2;
  std::size_t threads = 1;
  int idle_timeout = 60;  // seconds
  int grace = 5;          // seconds a worker's connections get once it is told to stop
  long self_test = 0;     // requests
};

constexpr const char* usage =
    "[--port P] [--workers-procs N] [--workers T] [--idle-timeout S] [--grace G] "
    "[--self-test REQUESTS]";

settings parse_args(int argc, char** argv) {
  using spindle_samples::number;
  settings s;
  spindle_samples::parse_options(
      argc, argv, usage,
      {number("--port", s.port, 0, 65535), number("--workers-procs", s.processes, 1, 64),
       number("--workers", s.threads, 0, 1024), number("--idle-timeout", s.idle_timeout, 1, 86400),
       number("--grace", s.grace, 0, 3600), number("--self-test", s.self_test, 1, 1000000)});
  return s;
}

// A system call of the master failed: there is nothing to fall back on.
[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "prefork: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

// A system call of a child failed: child_main reports it and ends the child.
[[noreturn]] void throw_errno(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

// fork(), with stdio flushed first: what is buffered would otherwise be
// written twice, by the parent and by the child.
pid_t fork_flushed() {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) fail("fork");
  return pid;
}

// A child ends with _Exit: it must not run the destructors and atexit
// handlers of the parent's objects it holds copies of.
[[noreturn]] void exit_child(int status) {
  std::fflush(nullptr);
  std::_Exit(status);
}

// Runs body() as the whole life of a child process and exits with the status
// it returns: nothing it throws may unwind into the parent's code, which the
// child has a copy of (a worker would go on as a second master).
template <class Body>
[[noreturn]] void child_main(Body body) {
  int status = 1;
  try {
    status = body();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "prefork: process %d: %s\n", ::getpid(), e.what());
  }
  exit_child(status);
}

// --- a worker -----------------------------------------------------------------

// The answer to every request; X-Worker names the process that answered, for
// the self-test's client.
std::string make_response() {
  return "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\nX-Worker: " +
         std::to_string(::getpid()) + "\r\n\r\nHello, World!";
}

// A request head larger than this is refused (the connection is dropped).
constexpr std::size_t max_head = 64 * 1024;

// Serves one keep-alive connection until the client closes it: every request
// head (everything up to a blank line) gets the response; pipelined requests
// are answered in one write. (http_hello shows the same with a bound on slow
// request heads.)
void serve_connection(spindle_samples::connection& c, const std::string& response,
                      spindle_samples::server_stats& stats) {
  ++stats.connections;
  std::string in, out;
  std::array<char, 16 * 1024> buf;
  for (;;) {
    const std::size_t n = c.stream.read_some(std::as_writable_bytes(std::span(buf)));
    if (n == 0) return;
    c.active();
    // A blank line may straddle two reads: look 3 bytes back.
    std::size_t scan = in.size() < 3 ? 0 : in.size() - 3;
    in.append(buf.data(), n);
    out.clear();
    for (std::size_t end; (end = in.find("\r\n\r\n", scan)) != std::string::npos; scan = 0) {
      in.erase(0, end + 4);
      out += response;
      ++stats.requests;
    }
    if (in.size() > max_head) return;
    if (!out.empty()) c.stream.write_all(out);
  }
}

// Dies with the master (Linux): a worker whose master was killed outright
// would otherwise serve on, holding the port, with nobody to stop it.
void die_with_master(pid_t master) {
#ifdef __linux__
  if (::prctl(PR_SET_PDEATHSIG, SIGTERM) < 0) throw_errno("prctl");
  if (::getppid() != master) throw std::runtime_error("the master is gone");
#else
  (void)master;
#endif
}

// A worker process, from fork() to its exit status: serves the inherited
// listener until SIGTERM or SIGINT. `master_mask` is the signal mask the
// master had before it blocked the signals it waits for.
int run_worker(net::tcp_listener& lst, const settings& cfg, pid_t master,
               const sigset_t& master_mask) {
  die_with_master(master);
  // Caught before they are unblocked: a SIGTERM the master sent while this
  // process was starting is pending, and stops the worker once it serves.
  spindle::signal_set signals{SIGINT, SIGTERM};
  if (::sigprocmask(SIG_SETMASK, &master_mask, nullptr) < 0) throw_errno("sigprocmask");
  spindle_samples::server_stats stats;
  const std::string response = make_response();
  int signo = 0;
  {
    spindle::runtime rt(spindle::options{.workers = cfg.threads});
    signo = spindle_samples::serve_until_signal(
        rt, signals, lst, std::chrono::seconds(cfg.grace), [&](net::tcp_listener& l) {
          spindle_samples::serve_connections(
              l, std::chrono::seconds(cfg.idle_timeout),
              [&](spindle_samples::connection& c) { serve_connection(c, response, stats); });
        });
  }
  std::printf("worker %d stopped: %ld connections served, %ld requests\n", ::getpid(),
              stats.connections.load(), stats.requests.load());
  return signo == 0 ? 1 : 0;
}

// --- the master ---------------------------------------------------------------

// The signals the master waits for with sigwaitinfo: blocked from the start,
// so that none is delivered (or lost) between two waits.
sigset_t master_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    return "killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
           ::strsignal(WTERMSIG(status)) + ")";
  }
  return "stopped";
}

class master {
 public:
  // `restart_pipe` >= 0: each restart writes a line there (the self-test's
  // client reads it): the new worker's pid, then those of the other live
  // workers.
  master(net::tcp_listener& lst, const settings& cfg, const sigset_t& original_mask,
         int restart_pipe)
      : lst_(lst), cfg_(cfg), original_mask_(original_mask), restart_pipe_(restart_pipe) {}

  void start_workers() {
    workers_.resize(static_cast<std::size_t>(cfg_.processes));
    for (std::size_t i = 0; i < workers_.size(); ++i) {
      start(i);
      std::printf("worker %zu started: pid %d\n", i + 1, workers_[i].pid);
    }
    std::fflush(stdout);
  }

  // Waits for signals, restarting workers that die, until SIGTERM or SIGINT
  // (returned) or until the child `until_exit` (> 0) exits (0 returned, its
  // status in *exit_status).
  int supervise(pid_t until_exit = -1, int* exit_status = nullptr) {
    const sigset_t wanted = master_signals();
    for (;;) {
      // A worker waiting out its restart pause bounds the wait.
      const auto pause = next_restart_in();
      siginfo_t info;
      int signo;
      if (pause) {
        const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(*pause).count();
        const timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
        signo = ::sigtimedwait(&wanted, &info, &ts);
      } else {
        signo = ::sigwaitinfo(&wanted, &info);
      }
      if (signo < 0 && errno != EAGAIN && errno != EINTR) fail("sigwaitinfo");
      if (signo == SIGTERM || signo == SIGINT) return signo;
      // SIGCHLD (several deaths may have coalesced into one), or the pause
      // ended: reap every child that has exited, then restart what is due.
      int status;
      for (pid_t pid; (pid = ::waitpid(-1, &status, WNOHANG)) > 0;) {
        if (pid == until_exit) {
          *exit_status = status;
          return 0;
        }
        worker_died(pid, status);
      }
      restart_due();
    }
  }

  // Sends SIGTERM to every worker and waits for all of them. (And SIGCONT:
  // a worker that is stopped would hold the SIGTERM until continued.)
  void stop_workers() {
    for (const worker& w : workers_) {
      if (w.pid <= 0) continue;
      ::kill(w.pid, SIGTERM);
      ::kill(w.pid, SIGCONT);
    }
    for (worker& w : workers_) {
      if (w.pid <= 0) continue;
      int status;
      while (::waitpid(w.pid, &status, 0) < 0 && errno == EINTR) {
      }
      ++stopped_;
      w.pid = -1;
    }
  }

  int restarts() const noexcept { return restarts_; }
  int stopped() const noexcept { return stopped_; }

 private:
  using clock = std::chrono::steady_clock;
  // A worker that dies sooner than this after its start is restarted only
  // once this much time has passed since the start: a worker that cannot
  // start does not make the master fork in a tight loop.
  static constexpr clock::duration restart_pause = 1s;

  struct worker {
    pid_t pid = -1;             // -1: dead, to be restarted at restart_at
    clock::time_point started;  // of the current process
    clock::time_point restart_at;
  };

  void start(std::size_t i) {
    const pid_t master_pid = ::getpid();
    const pid_t pid = fork_flushed();
    if (pid == 0) {
      if (restart_pipe_ >= 0) ::close(restart_pipe_);
      child_main([&] { return run_worker(lst_, cfg_, master_pid, original_mask_); });
    }
    workers_[i].pid = pid;
    workers_[i].started = clock::now();
  }

  void worker_died(pid_t pid, int status) {
    for (std::size_t i = 0; i < workers_.size(); ++i) {
      if (workers_[i].pid != pid) continue;
      workers_[i].pid = -1;
      workers_[i].restart_at = std::max(clock::now(), workers_[i].started + restart_pause);
      std::printf("worker %zu (pid %d) %s; restarting it\n", i + 1, pid,
                  describe_exit(status).c_str());
      std::fflush(stdout);
      return;
    }
  }

  std::optional<clock::duration> next_restart_in() const {
    std::optional<clock::duration> in;
    for (const worker& w : workers_) {
      if (w.pid > 0) continue;
      const auto d = std::max(clock::duration::zero(), w.restart_at - clock::now());
      if (!in || d < *in) in = d;
    }
    return in;
  }

  void restart_due() {
    for (std::size_t i = 0; i < workers_.size(); ++i) {
      if (workers_[i].pid > 0 || clock::now() < workers_[i].restart_at) continue;
      start(i);
      ++restarts_;
      std::printf("worker %zu restarted: pid %d\n", i + 1, workers_[i].pid);
      std::fflush(stdout);
      if (restart_pipe_ >= 0) {
        std::string line = std::to_string(workers_[i].pid);
        for (const worker& w : workers_) {
          if (w.pid > 0 && w.pid != workers_[i].pid) line.append(" ").append(std::to_string(w.pid));
        }
        line += "\n";
        if (::write(restart_pipe_, line.data(), line.size()) < 0) fail("write");
      }
    }
  }

  net::tcp_listener& lst_;
  const settings& cfg_;
  const sigset_t& original_mask_;
  const int restart_pipe_;
  std::vector<worker> workers_;
  int restarts_ = 0;
  int stopped_ = 0;
};

// --- the self-test's client ---------------------------------------------------

constexpr std::string_view request = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

// One keep-alive connection of the client.
class client_connection {
 public:
  explicit client_connection(net::endpoint ep, std::chrono::seconds timeout = 10s)
      : stream_(net::tcp_stream::connect(ep, timeout)) {
    stream_.set_timeout(timeout);
  }

  // One request; the pid of the worker that answered it correctly. Throws
  // std::system_error when the connection fails (a reset, or its end before a
  // whole response), std::runtime_error for a wrong response.
  pid_t exchange() {
    stream_.write_all(request);
    std::string head;
    while (auto line = in_.read_line()) {
      if (line->empty()) break;
      head += *line + "\n";
    }
    if (head.empty()) {
      throw std::system_error(std::make_error_code(std::errc::connection_reset),
                              "the connection ended before a response");
    }
    constexpr std::string_view status = "HTTP/1.1 200 OK\nContent-Length: 13\n";
    const auto worker = head.find("X-Worker: ");
    if (head.compare(0, status.size(), status) != 0 || worker == std::string::npos) {
      throw std::runtime_error("wrong response head: " + head);
    }
    std::array<std::byte, 13> body;
    in_.read_exact(body);
    if (std::string_view(reinterpret_cast<const char*>(body.data()), body.size()) !=
        "Hello, World!") {
      throw std::runtime_error("wrong response body");
    }
    ++exchanges_;
    return static_cast<pid_t>(std::atol(head.c_str() + worker + 10));
  }

  // Requests answered on this connection so far.
  long exchanges() const noexcept { return exchanges_; }

 private:
  net::tcp_stream stream_;
  net::buffered_reader<> in_{stream_};
  long exchanges_ = 0;
};

struct client_results {
  std::atomic<long> answered{0};
  std::atomic<long> failed{0};
  std::atomic<long> retried{0};  // on a new connection, after the reused one failed
  std::atomic<long> probes{0};   // connections until the restarted worker answered
  std::atomic<bool> new_worker_answered{false};
};

// Reads the line the master writes to the restart pipe (as a fiber waits):
// the new worker's pid first, then the other workers'.
std::vector<pid_t> wait_for_restart(int pipe_fd) {
  auto in = net::fd_stream::adopt(pipe_fd);
  in.set_read_timeout(30s);
  net::buffered_reader<net::fd_stream> lines(in);
  std::vector<pid_t> pids;
  if (const auto line = lines.read_line()) {
    for (const char* p = line->c_str(); *p != '\0';) {
      char* end;
      pids.push_back(static_cast<pid_t>(std::strtol(p, &end, 10)));
      if (end == p) break;
      p = end;
    }
  }
  return pids;
}

// True once every thread of process `pid` has stopped (Linux: the state in
// /proc/PID/task/*/stat is T). A SIGSTOP takes effect some time after kill()
// returns: the thread the kernel picks to act on it must run first, and on
// a busy machine that can take milliseconds, while the other threads go on.
// Elsewhere true at once (the probes' retries cover the delay).
bool all_threads_stopped(pid_t pid) {
#ifdef __linux__
  std::error_code ec;
  for (const auto& task :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    std::ifstream in(task.path() / "stat");
    const std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto name_end = stat.rfind(')');  // the state follows the name, which may hold anything
    if (name_end != std::string::npos && name_end + 2 < stat.size() && stat[name_end + 2] != 'T' &&
        stat[name_end + 2] != 't') {
      return false;
    }
  }
#else
  (void)pid;
#endif
  return true;
}

// Checks that the restarted worker `pids[0]` serves: the other workers are
// stopped (SIGSTOP), so that it is the only process left to accept a new
// connection; the survivors would otherwise win most of them, being awake
// already. Fresh connections, one request each, until it answers one: the
// first does once the others have stopped (at most 5 s are given to that;
// /proc is read on the blocking pool). In case a survivor still took a
// probe, which then waits for nothing, each probe gets 2 s, and there are
// up to 10. Then the others go on (SIGCONT).
void probe_new_worker(net::endpoint ep, const std::vector<pid_t>& pids, client_results& r) {
  for (std::size_t i = 1; i < pids.size(); ++i) ::kill(pids[i], SIGSTOP);
  for (std::size_t i = 1; i < pids.size(); ++i) {
    const pid_t pid = pids[i];
    for (int ms = 0; ms < 5000; ++ms) {
      if (spindle::run_blocking([pid] { return all_threads_stopped(pid); })) break;
      spindle::this_fiber::sleep_for(1ms);
    }
  }
  for (int i = 0; i < 10 && !r.new_worker_answered; ++i) {
    ++r.probes;
    try {
      client_connection c(ep, 2s);
      r.new_worker_answered = c.exchange() == pids[0];
    } catch (const std::system_error& e) {
      std::fprintf(stderr, "client: no answer to probe %d: %s\n", i + 1, e.what());
    }
  }
  for (std::size_t i = 1; i < pids.size(); ++i) ::kill(pids[i], SIGCONT);
}

// One client fiber: takes request numbers from `next` until `total`, on one
// keep-alive connection at a time. Whoever takes the request number `kill_at`
// kills the worker that answered it and waits for the master's restart.
void client_fiber(net::endpoint ep, std::atomic<long>& next, long total, long kill_at,
                  int restart_pipe, client_results& r) {
  std::optional<client_connection> c;
  for (long i; (i = next++) < total;) {
    pid_t worker = -1;
    for (;;) {
      const bool reused = c && c->exchanges() > 0;
      try {
        if (!c) c.emplace(ep);
        worker = c->exchange();
        break;
      } catch (const std::system_error& e) {
        c.reset();
        if (!reused) {
          std::fprintf(stderr, "client: request %ld failed on a new connection: %s\n", i, e.what());
          break;
        }
        ++r.retried;
      }
    }
    if (worker < 0) {
      ++r.failed;
      continue;
    }
    ++r.answered;
    if (i == kill_at) {
      std::printf("client: killing worker pid %d (SIGKILL) after request %ld\n", worker, i);
      std::fflush(stdout);
      ::kill(worker, SIGKILL);
      const std::vector<pid_t> workers = wait_for_restart(restart_pipe);
      if (!workers.empty()) probe_new_worker(ep, workers, r);
    }
  }
}

// The client process, from fork() to its exit status.
int run_client(net::endpoint ep, long total, int restart_pipe, pid_t master,
               const sigset_t& original_mask) {
  die_with_master(master);
  if (::sigprocmask(SIG_SETMASK, &original_mask, nullptr) < 0) throw_errno("sigprocmask");
  client_results r;
  {
    spindle::runtime rt;
    rt.block_on([&] {
      std::atomic<long> next{0};
      const long fibers = std::min(total, 4L);
      spindle_samples::run_clients(fibers, [&](long) {
        try {
          client_fiber(ep, next, total, total / 2, restart_pipe, r);
        } catch (const std::exception& e) {
          ++r.failed;
          std::fprintf(stderr, "client: %s\n", e.what());
        }
      });
    });
  }
  const bool ok = r.answered == total && r.failed == 0 && r.new_worker_answered;
  std::printf(
      "client: %ld of %ld requests answered correctly (%ld retried on a new connection), %ld "
      "failed; the restarted worker %s (%ld connections with the others stopped)\n",
      r.answered.load(), total, r.retried.load(), r.failed.load(),
      r.new_worker_answered ? "answered" : "never answered", r.probes.load());
  return ok ? 0 : 1;
}

int self_test(net::tcp_listener& lst, const settings& cfg, const sigset_t& original_mask) {
  int restart_pipe[2];
  if (::pipe(restart_pipe) < 0) fail("pipe");
  const pid_t master_pid = ::getpid();
  const pid_t client = fork_flushed();
  if (client == 0) {
    child_main([&] {
      ::close(restart_pipe[1]);
      const net::endpoint ep = lst.local_endpoint();
      lst.close();
      return run_client(ep, cfg.self_test, restart_pipe[0], master_pid, original_mask);
    });
  }
  ::close(restart_pipe[0]);
  master m(lst, cfg, original_mask, restart_pipe[1]);
  m.start_workers();
  int client_status = 0;
  const int signo = m.supervise(client, &client_status);
  m.stop_workers();
  ::close(restart_pipe[1]);
  if (signo != 0) {
    ::kill(client, SIGTERM);
    ::waitpid(client, &client_status, 0);
  }
  const bool ok = signo == 0 && WIFEXITED(client_status) && WEXITSTATUS(client_status) == 0 &&
                  m.restarts() == 1;
  std::printf("self-test: client %s, %d worker restarted (1 expected), %d workers stopped: %s\n",
              describe_exit(client_status).c_str(), m.restarts(), m.stopped(),
              ok ? "OK" : "FAILED");
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const settings cfg = parse_args(argc, argv);
  // Blocked before any child exists, so that each is either delivered to
  // sigwaitinfo or pending, never lost; every child restores the mask.
  const sigset_t wanted = master_signals();
  sigset_t original_mask;
  if (::sigprocmask(SIG_BLOCK, &wanted, &original_mask) < 0) fail("sigprocmask");
  // Bound before the first fork: every worker inherits the one socket.
  auto lst = spindle_samples::listen_on_loopback(cfg.port >= 0       ? cfg.port
                                                 : cfg.self_test > 0 ? 0
                                                                     : 9003);
  if (cfg.self_test > 0) return self_test(lst, cfg, original_mask);
  master m(lst, cfg, original_mask, -1);
  m.start_workers();
  const int signo = m.supervise();
  m.stop_workers();
  std::printf("stopped by %s: %d workers stopped, %d restarted\n",
              signo == SIGINT ? "SIGINT" : "SIGTERM", m.stopped(), m.restarts());
  return 0;
}
