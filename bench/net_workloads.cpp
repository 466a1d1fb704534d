// Server workloads: echo and http, on 127.0.0.1, until killed. The load comes
// from bench/tools/echo_load.c and wrk (driven by bench/compare.sh).
#include <spindle/spindle.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "bench_util.hpp"
#include "sample_support.hpp"

namespace bench {
namespace {

// Accepts forever on 127.0.0.1:port, one fiber per connection, with
// TCP_NODELAY set (as the Go, Tokio and epoll peers set it). A connection
// idle for a minute is closed, as in the samples.
template <class Serve>
void serve_forever(const args& a, int default_port, Serve serve) {
  spindle::runtime rt(spindle::options{.workers = a.workers});
  rt.block_on([&] {
    auto listener =
        spindle::net::tcp_listener::bind(spindle_samples::loopback(a.port ? a.port : default_port));
    std::fprintf(stderr, "listening on 127.0.0.1:%u\n", listener.local_endpoint().port());
    // Never closed: serves until killed.
    spindle_samples::serve_connections(listener, std::chrono::minutes(1),
                                       [&serve](spindle_samples::connection& c) {
                                         c.stream.set_no_delay(true);
                                         serve(c);
                                       });
  });
}

}  // namespace

void echo(const args& a) {
  serve_forever(a, 9000, [](spindle_samples::connection& c) {
    std::byte buf[16 * 1024];
    while (std::size_t n = c.stream.read_some(buf)) {
      c.active();
      c.stream.write_all(std::span<const std::byte>(buf, n));
    }
  });
}

// HTTP/1.1 keep-alive: every request (read up to its blank line) gets the same
// 13-byte answer. Requests may arrive pipelined or split across reads.
void http(const args& a) {
  serve_forever(a, 9001, [](spindle_samples::connection& c) {
    spindle::net::tcp_stream& s = c.stream;
    static constexpr std::string_view response =
        "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, World!";
    char buf[16 * 1024];
    std::size_t have = 0;
    for (;;) {
      std::size_t n = s.read_some(std::as_writable_bytes(std::span<char>(buf + have, sizeof buf - have)));
      if (n == 0) return;
      c.active();
      have += n;
      std::size_t answered = 0;
      std::string_view pending(buf, have);
      std::size_t end;
      int requests = 0;
      while ((end = pending.find("\r\n\r\n", answered)) != std::string_view::npos) {
        answered = end + 4;
        ++requests;
      }
      if (requests) {
        if (requests == 1) {
          s.write_all(response);  // the common case, without building a buffer
        } else {
          std::string out;
          out.reserve(response.size() * static_cast<std::size_t>(requests));
          for (int i = 0; i < requests; ++i) out.append(response);
          s.write_all(out);
        }
        std::memmove(buf, buf + answered, have - answered);
        have -= answered;
      }
      if (have == sizeof buf) return;  // a header larger than the buffer: drop the client
    }
  });
}

}  // namespace bench
