// http_hello: the HTTP/1.1 keep-alive "Hello, World!" server of the benchmark
// SPEC. Every request (everything up to its blank line) is answered with the
// same 13-byte text; pipelined requests are answered in one write.
//
//   http_hello [--port P] [--workers N] [--idle-timeout S]
//       Serves 127.0.0.1:P (default 9001; 0 = any free port) until killed.
//       A keep-alive connection idle for S seconds (default 60) is closed,
//       and idle ones go first when descriptors run out (sample_support.hpp).
//   http_hello --self-test N [--requests R] [--workers N]
//       Serves a free port; N keep-alive clients (fibers of the same process)
//       send R requests each, alone, pipelined, or split across writes, and
//       check every response byte for byte. Exits 0 on success.
//   --trace FILE (either mode)
//       Records a trace (runtime::start_trace) from the start and writes it
//       to FILE (Chrome trace-event JSON: ui.perfetto.dev, chrome://tracing)
//       when the self-test ends, or when the server gets SIGINT or SIGTERM;
//       the server then stops accepting and exits once its connections have
//       closed. See docs/USER_GUIDE.md, "Recording a trace".
#include <signal.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <span>
#include <spindle/spindle.hpp>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

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
  std::string trace;  // --trace FILE; empty: no trace
};

constexpr const char* usage =
    "[--port P] [--workers N] [--idle-timeout S] [--self-test CLIENTS [--requests R]] "
    "[--trace FILE]";

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
       number("--self-test", s.self_test, 1, 100000),
       number("--requests", s.requests, 0, 1000000)});
  return s;
}

// Serves one keep-alive connection until the client closes it. A reset (or
// the close of an idle connection) ends it with a std::system_error, which
// serve_connections drops.
void serve_connection(spindle_samples::connection& c) {
  static std::atomic<long> connections{0};
  spindle::this_fiber::set_name("conn " + std::to_string(++connections));  // dump, trace
  net::tcp_stream& s = c.stream;
  std::string in;   // received, not yet answered
  std::string out;  // the answers to what one read completed
  std::array<char, 16 * 1024> buf;
  for (;;) {
    const std::size_t n = s.read_some(std::as_writable_bytes(std::span(buf)));
    if (n == 0) return;
    c.active();
    // A blank line may straddle two reads: look 3 bytes back.
    std::size_t scan = in.size() < 3 ? 0 : in.size() - 3;
    in.append(buf.data(), n);
    std::size_t answered = 0;
    for (std::size_t end; (end = in.find("\r\n\r\n", scan)) != std::string::npos;) {
      out += response;
      answered = scan = end + 4;
    }
    in.erase(0, answered);
    if (!out.empty()) {
      s.write_all(out);
      out.clear();
    }
    if (in.size() > max_head) return;
  }
}

// Accepts until the listener is closed, one fiber per connection, and
// returns once every connection has ended too.
void serve(net::tcp_listener& lst, std::chrono::seconds idle_timeout) {
  spindle_samples::serve_connections(lst, idle_timeout, serve_connection);
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
  spindle::this_fiber::set_name("client " + std::to_string(id));
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

int self_test(spindle::runtime& rt, const settings& cfg) {
  results r;
  const auto start = std::chrono::steady_clock::now();
  rt.block_on([&] {
    spindle_samples::self_test_in_process(
        cfg.port < 0 ? 0 : cfg.port,
        [&cfg](net::tcp_listener& lst) { serve(lst, std::chrono::seconds(cfg.idle_timeout)); },
        cfg.self_test, [&](net::endpoint ep, long id) { client(ep, id, cfg.requests, r); });
  });
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const bool ok = r.errors == 0 && r.responses == cfg.self_test * cfg.requests;
  std::printf("self-test: %ld keep-alive clients, %ld responses checked, %.2f s, %ld errors: %s\n",
              cfg.self_test, r.responses.load(), secs, r.errors.load(), ok ? "OK" : "FAILED");
  return ok ? 0 : 1;
}

}  // namespace

// With --trace: serves until SIGINT or SIGTERM, then writes the trace, stops
// accepting and returns once the open connections have closed.
void serve_traced(spindle::runtime& rt, const settings& cfg) {
  auto lst = spindle_samples::listen_on_loopback(cfg.port < 0 ? 9001 : cfg.port);
  spindle::signal_set stop{SIGINT, SIGTERM};
  auto server = spindle::spawn([&] { serve(lst, std::chrono::seconds(cfg.idle_timeout)); });
  const int signo = stop.wait();
  rt.stop_trace();
  std::printf("signal %d: trace written to %s; waiting for open connections to close\n", signo,
              cfg.trace.c_str());
  std::fflush(stdout);
  lst.close();
  server.join();
}

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
  if (cfg.self_test > 0) {
    const int status = self_test(rt, cfg);
    if (!cfg.trace.empty()) {
      rt.stop_trace();
      std::printf("trace written to %s\n", cfg.trace.c_str());
    }
    return status;
  }
  if (!cfg.trace.empty()) {
    rt.block_on([&] { serve_traced(rt, cfg); });
    return 0;
  }
  rt.block_on([&] {
    auto lst = spindle_samples::listen_on_loopback(cfg.port < 0 ? 9001 : cfg.port);
    serve(lst, std::chrono::seconds(cfg.idle_timeout));
  });
  return 1;  // serve() returns only when accept failed (reported on stderr)
}
