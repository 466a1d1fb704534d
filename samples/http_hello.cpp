// http_hello: the HTTP/1.1 keep-alive "Hello, World!" server of the benchmark
// SPEC. Every request (everything up to its blank line) is answered with the
// same 13-byte text; pipelined requests are answered in one write, and the
// answers never stop the reading while less than a megabyte waits.
//
//   http_hello [--port P] [--workers N] [--idle-timeout S] [--request-timeout R]
//              [--grace G]
//       Serves 127.0.0.1:P (default 9001; 0 = any free port) until SIGINT or
//       SIGTERM: then it stops accepting, gives the open connections G seconds
//       (default 5) before it cancels them, prints one line (connections
//       served, requests answered) and exits 0 (sample_support.hpp,
//       serve_until_signalled). A keep-alive connection idle for S seconds
//       (default 60) is closed, and idle ones go first when descriptors run
//       out. Slow clients: once a request's first bytes came, the rest of its
//       head must come within R seconds (default 10; with_timeout), or the
//       connection is dropped.
//   http_hello --self-test N [--requests R] [--workers N]
//       Serves a free port; N keep-alive clients (fibers of the same process)
//       send R requests each, alone, pipelined, or split across writes, and
//       check every response byte for byte. Exits 0 on success.
//       --pipeline P adds one connection that writes P requests back to back
//       while another fiber reads and checks the answers (P = 2,000,000 in
//       the smoke test): the server reads ahead while its answers wait, up to
//       a megabyte of them (reply_writer.hpp).
//   --trace FILE (either mode)
//       Records a trace (runtime::start_trace) from the start and writes it
//       to FILE (Chrome trace-event JSON: ui.perfetto.dev, chrome://tracing)
//       when the self-test ends, or when the server gets SIGINT or SIGTERM;
//       the server then stops accepting and exits once its connections have
//       closed. See docs/USER_GUIDE.md, "Recording a trace".
#include <signal.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <optional>
#include <span>
#include <spindle/spindle.hpp>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "reply_writer.hpp"
#include "sample_support.hpp"

using namespace std::chrono_literals;
namespace net = spindle::net;

namespace {

constexpr std::string_view response =
    "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, World!";

// A request head larger than this is refused (the connection is dropped).
constexpr std::size_t max_head = 64 * 1024;

struct settings {
  int port = -1;  // -1: 9001 when serving, any free port for the self-test
  std::size_t workers = 0;
  int idle_timeout = 60;  // seconds
  long self_test = 0;
  int requests = 20;
  long pipeline = 0;         // requests of the self-test's pipelining client
  int request_timeout = 10;  // seconds, from a request's first bytes to its blank line
  int grace = 5;             // seconds the connections get once a signal came
  std::string trace;  // --trace FILE; empty: no trace
};

constexpr const char* usage =
    "[--port P] [--workers N] [--idle-timeout S] [--request-timeout R] [--grace G] "
    "[--self-test CLIENTS [--requests R] [--pipeline P]] [--trace FILE]";

// "--trace FILE", the one option that is not a number: taken out of argv
// before the others are parsed.
std::string take_trace_option(int& argc, char** argv) {
  std::string path;
  for (int i = 1; i < argc;) {
    if (std::string_view(argv[i]) != "--trace") {
      ++i;
      continue;
    }
    if (i + 1 == argc || argv[i + 1][0] == '\0') {
      std::fprintf(stderr, "%s: --trace needs a file name\n", argv[0]);
      spindle_samples::exit_with_usage(argv[0], usage, false);
    }
    path = argv[i + 1];
    for (int k = i; k + 2 < argc; ++k) argv[k] = argv[k + 2];
    argc -= 2;
  }
  return path;
}

settings parse_args(int argc, char** argv) {
  using spindle_samples::number;
  settings s;
  s.trace = take_trace_option(argc, argv);
  spindle_samples::parse_options(
      argc, argv, usage,
      {number("--port", s.port, 0, 65535), number("--workers", s.workers, 0, 1024),
       number("--idle-timeout", s.idle_timeout, 1, 86400),
       number("--request-timeout", s.request_timeout, 1, 86400),
       number("--grace", s.grace, 0, 3600), number("--self-test", s.self_test, 1, 100000),
       number("--requests", s.requests, 0, 1000000),
       number("--pipeline", s.pipeline, 0, 100000000)});
  return s;
}

// For the line printed when the server stops.
spindle_samples::server_stats served;

// One connection's reading: requests arrive in `in`, complete ones are cut
// off and counted.
class request_reader {
 public:
  explicit request_reader(spindle_samples::connection& c) : c_(c) {}

  // Reads once (waits for bytes); false at the end of the stream or when
  // the head grows past max_head.
  bool read() {
    const std::size_t n = c_.stream.read_some(std::as_writable_bytes(std::span(buf_)));
    if (n == 0) return false;
    c_.active();
    in_.append(buf_.data(), n);
    // A blank line may straddle two reads: look 3 bytes back.
    for (std::size_t end; (end = in_.find("\r\n\r\n", scan_)) != std::string::npos;) {
      ++complete_;
      in_.erase(0, end + 4);
      scan_ = 0;
    }
    scan_ = in_.size() < 3 ? 0 : in_.size() - 3;
    return in_.size() <= max_head;
  }
  // Requests read completely and not yet taken.
  bool has_complete() const noexcept { return complete_ > 0; }
  int take_complete() noexcept { return std::exchange(complete_, 0); }
  // Part of a request head has come, not all of it.
  bool inside_a_request() const noexcept { return !in_.empty(); }

 private:
  spindle_samples::connection& c_;
  std::array<char, 16 * 1024> buf_;
  std::string in_;  // the start of a request whose head is not complete
  std::size_t scan_ = 0;
  int complete_ = 0;
};

// Serves one keep-alive connection until the client closes it. Waiting for a
// request is bounded by the idle timeout (sample_support.hpp); once its first
// bytes came, the rest of the head must come within `request_timeout`
// (with_timeout), or the connection is dropped: a client that trickles a
// request byte by byte cannot hold a fiber and a descriptor for long. A reset
// (or the close of an idle connection) ends it with a std::system_error,
// which serve_connections drops.
void serve_connection(spindle_samples::connection& c, std::chrono::seconds request_timeout) {
  spindle::this_fiber::set_name(std::string("conn ").append(std::to_string(++served.connections)));  // dump, trace
  request_reader requests(c);
  spindle_samples::reply_writer replies(c.stream, [&c] { c.active(); });
  std::string out;  // the answers to what one read completed
  for (;;) {
    // A request's first bytes (the idle timeout bounds the wait); at the end
    // of the stream, the answers still waiting go out first.
    if (!requests.read()) return replies.finish();
    for (;;) {
      const int n = requests.take_complete();
      if (n > 0) {
        out.clear();
        for (int i = 0; i < n; ++i) out += response;
        replies.send(out);  // waits only while a megabyte of answers waits
        served.requests += n;
      }
      if (!requests.inside_a_request()) break;
      // The rest of a head that has begun, within the request timeout.
      const std::optional<bool> complete = spindle::with_timeout(request_timeout, [&] {
        do {
          if (!requests.read()) return false;
        } while (!requests.has_complete());
        return true;
      });
      if (complete != true) return;  // too slow (nullopt), gone, or too large
    }
  }
}

// Accepts until the listener is closed, one fiber per connection, and
// returns once every connection has ended too.
void serve(net::tcp_listener& lst, std::chrono::seconds idle_timeout,
           std::chrono::seconds request_timeout) {
  spindle_samples::serve_connections(
      lst, idle_timeout, [request_timeout](auto& c) { serve_connection(c, request_timeout); });
}

struct results {
  std::atomic<long> responses{0};
  std::atomic<long> errors{0};
};

// One self-test client: `requests` requests on one connection, in rounds of
// one request, two pipelined in one write, and one split across two writes.
void client(net::endpoint ep, long id, int requests, results& r) {
  constexpr std::string_view request =
      "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: spindle-self-test\r\n\r\n";
  spindle::this_fiber::set_name(std::string("client ").append(std::to_string(id)));
  try {
    auto s = net::tcp_stream::connect(ep);
    s.set_timeout(30s);
    std::vector<std::byte> got;
    for (int sent = 0, round = 0; sent < requests; ++round) {
      int batch = 1;
      switch ((id + round) % 3) {
        case 0:
          s.write_all(request);
          break;
        case 1:
          batch = sent + 2 <= requests ? 2 : 1;
          s.write_all(batch == 2 ? std::string(request) + std::string(request)
                                 : std::string(request));
          break;
        default:
          s.write_all(request.substr(0, 20));
          spindle::this_fiber::yield();  // the server sees half a request first
          s.write_all(request.substr(20));
          break;
      }
      got.resize(response.size() * static_cast<std::size_t>(batch));
      s.read_exact(got);
      for (int k = 0; k < batch; ++k) {
        const auto* p = reinterpret_cast<const char*>(got.data()) +
                        response.size() * static_cast<std::size_t>(k);
        if (std::string_view(p, response.size()) != response) {
          if (r.errors++ == 0) std::fprintf(stderr, "client %ld: wrong response\n", id);
          return;
        }
        ++r.responses;
      }
      sent += batch;
    }
  } catch (const std::system_error& e) {
    if (r.errors++ == 0) std::fprintf(stderr, "client %ld: %s\n", id, e.what());
  }
}

// The self-test's pipelining client: one connection, `requests` requests
// written back to back in 64 KiB writes by one fiber, while another reads
// the answers and checks every byte. The server must keep reading while its
// answers wait for this client to read them (reply_writer.hpp).
void pipelining_client(net::endpoint ep, long requests, results& r) {
  constexpr std::string_view request = "GET /p HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  spindle::this_fiber::set_name("pipelining client");
  try {
    auto s = net::tcp_stream::connect(ep);
    s.set_timeout(60s);
    auto writer = spindle::spawn([&] {
      std::string chunk;
      const long per_chunk = (64 * 1024) / static_cast<long>(request.size());
      for (long sent = 0; sent < requests;) {
        chunk.clear();
        for (long k = 0; k < per_chunk && sent < requests; ++k, ++sent) chunk += request;
        s.write_all(chunk);
      }
    });
    std::vector<char> got(response.size() * 1024);
    long checked = 0;
    while (checked < requests) {
      const long batch = std::min<long>(1024, requests - checked);
      const std::size_t bytes = response.size() * static_cast<std::size_t>(batch);
      s.read_exact(std::as_writable_bytes(std::span(got).first(bytes)));
      for (long k = 0; k < batch; ++k)
        if (std::string_view(got.data() + response.size() * static_cast<std::size_t>(k),
                             response.size()) != response) {
          if (r.errors++ == 0) std::fprintf(stderr, "pipelining client: wrong response\n");
          writer.cancel();
          writer.join();
          return;
        }
      checked += batch;
      r.responses += batch;
    }
    writer.join();
  } catch (const std::system_error& e) {
    if (r.errors++ == 0) std::fprintf(stderr, "pipelining client: %s\n", e.what());
  }
}

int self_test(spindle::runtime& rt, const settings& cfg) {
  results r;
  const auto start = std::chrono::steady_clock::now();
  rt.block_on([&] {
    spindle_samples::self_test_in_process(
        cfg.port < 0 ? 0 : cfg.port,
        [&cfg](net::tcp_listener& lst) {
          serve(lst, std::chrono::seconds(cfg.idle_timeout),
                std::chrono::seconds(cfg.request_timeout));
        },
        cfg.self_test + (cfg.pipeline > 0 ? 1 : 0),
        [&](net::endpoint ep, long id) {
          if (id == cfg.self_test)
            pipelining_client(ep, cfg.pipeline, r);
          else
            client(ep, id, cfg.requests, r);
        });
  });
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const bool ok = r.errors == 0 && r.responses == cfg.self_test * cfg.requests + cfg.pipeline;
  std::printf("self-test: %ld keep-alive clients, %ld responses checked, %.2f s, %ld errors: %s\n",
              cfg.self_test, r.responses.load(), secs, r.errors.load(), ok ? "OK" : "FAILED");
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const settings cfg = parse_args(argc, argv);
  spindle::runtime rt(spindle::options{.workers = cfg.workers});
  if (!cfg.trace.empty()) {
    try {
      rt.start_trace(cfg.trace);
    } catch (const std::system_error& e) {
      std::fprintf(stderr, "%s: %s\n", argv[0], e.what());
      return 2;
    }
  }
  const int status =
      cfg.self_test > 0
          ? self_test(rt, cfg)
          : spindle_samples::serve_until_signalled(
                rt, cfg.port < 0 ? 9001 : cfg.port, std::chrono::seconds(cfg.grace), served,
                "requests", [&cfg](net::tcp_listener& lst) {
                  serve(lst, std::chrono::seconds(cfg.idle_timeout),
                        std::chrono::seconds(cfg.request_timeout));
                });
  if (!cfg.trace.empty()) {
    rt.stop_trace();
    std::printf("trace written to %s\n", cfg.trace.c_str());
  }
  return status;
}
