// fetch_client: downloads N resources concurrently from a small HTTP server it
// starts itself, at most C requests at a time (a spindle::semaphore), each
// read or write of a request bounded by a timeout (tcp_stream::set_timeout).
//
//   fetch_client [--count N] [--concurrency C] [--timeout-ms T] [--workers W]
//
// The server answers GET /resource/<i> with a body whose size and bytes
// depend on i. Every 10th resource is slow: the server waits 2*T before it
// answers, so the client's timeout must give up on exactly those. Exits 0
// when every other body arrived intact, the slow ones timed out, and no more
// than C requests were ever in flight.
#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <span>
#include <spindle/spindle.hpp>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "sample_support.hpp"

using namespace std::chrono_literals;
namespace net = spindle::net;
using std::chrono::milliseconds;

namespace {

struct settings {
  int count = 100;
  int concurrency = 8;
  milliseconds timeout{200};
  std::size_t workers = 0;
};

settings parse_args(int argc, char** argv) {
  using spindle_samples::number;
  settings s;
  spindle_samples::parse_options(
      argc, argv, "[--count N] [--concurrency C] [--timeout-ms T] [--workers W]",
      {number("--count", s.count, 0, 1000000),
       number("--concurrency", s.concurrency, 1, 100000),
       {"--timeout-ms", 1, 3600000, [&s](long long v) { s.timeout = milliseconds(v); }},
       number("--workers", s.workers, 0, 1024)});
  return s;
}

bool is_slow(int resource) {
  return resource % 10 == 9;
}

std::size_t body_size(int resource) {
  return static_cast<std::size_t>(resource) * 997 % 65536 + 1;
}

char body_byte(int resource, std::size_t i) {
  return static_cast<char>('a' + (static_cast<std::size_t>(resource) * 7 + i) % 26);
}

// Reads until the end of an HTTP head ("\r\n\r\n"); returns the head, and
// leaves what came after it (the start of a body) in `rest`.
std::string read_head(net::tcp_stream& s, std::string& rest) {
  std::string data;
  std::array<char, 4096> buf;
  for (;;) {
    if (auto end = data.find("\r\n\r\n"); end != std::string::npos) {
      rest = data.substr(end + 4);
      data.resize(end + 4);
      return data;
    }
    const std::size_t n = s.read_some(std::as_writable_bytes(std::span(buf)));
    if (n == 0)
      throw std::system_error(std::make_error_code(std::errc::connection_aborted),
                              "end of stream in the head");
    data.append(buf.data(), n);
  }
}

// --- the server ---------------------------------------------------------------

// One request per connection: GET /resource/<i>, answered, then closed. When
// the client gives up on a request (its timeout) and closes, the write here
// fails with a std::system_error, which serve_connections drops.
void serve_one(net::tcp_stream& s, milliseconds slow_delay) {
  std::string rest;
  const std::string head = read_head(s, rest);
  constexpr std::string_view prefix = "GET /resource/";
  if (head.compare(0, prefix.size(), prefix) != 0) {
    s.write_all("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    return;
  }
  const int resource = std::atoi(head.c_str() + prefix.size());
  if (is_slow(resource)) spindle::this_fiber::sleep_for(slow_delay);
  std::string reply = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body_size(resource)) +
                      "\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n";
  for (std::size_t i = 0; i < body_size(resource); ++i) reply += body_byte(resource, i);
  s.write_all(reply);
}

// Accepts until the listener is closed, one fiber per connection, and
// returns once every connection has ended too. A connection idle for a
// minute is closed (no request here takes that long).
void serve(net::tcp_listener& lst, milliseconds slow_delay) {
  spindle_samples::serve_connections(
      lst, std::chrono::minutes(1),
      [slow_delay](spindle_samples::connection& c) { serve_one(c.stream, slow_delay); });
}

// --- the client ---------------------------------------------------------------

enum class outcome { ok, timed_out, failed };

// The value of a header (case-insensitive name), or "" if absent.
std::string header(std::string_view head, std::string_view name) {
  std::string lower(head);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const std::string key = "\r\n" + std::string(name) + ":";
  const auto at = lower.find(key);
  if (at == std::string::npos) return "";
  const auto start = head.find_first_not_of(' ', at + key.size());
  return std::string(head.substr(start, head.find("\r\n", start) - start));
}

// One download; a timeout anywhere makes it timed_out.
outcome fetch(net::endpoint server, int resource, milliseconds timeout, std::size_t& bytes) {
  try {
    auto s = net::tcp_stream::connect(server, timeout);
    s.set_timeout(timeout);
    s.write_all("GET /resource/" + std::to_string(resource) +
                " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    std::string body;
    const std::string head = read_head(s, body);
    if (head.rfind("HTTP/1.1 200 ", 0) != 0) return outcome::failed;
    const std::size_t length = std::stoul(header(head, "content-length"));
    const std::size_t have = body.size();
    if (have > length) return outcome::failed;
    body.resize(length);
    s.read_exact(std::as_writable_bytes(std::span(body).subspan(have)));
    for (std::size_t i = 0; i < length; ++i) {
      if (body[i] != body_byte(resource, i)) return outcome::failed;
    }
    if (length != body_size(resource)) return outcome::failed;
    bytes = length;
    return outcome::ok;
  } catch (const std::system_error& e) {
    if (e.code() == std::errc::timed_out) return outcome::timed_out;
    std::fprintf(stderr, "resource %d: %s\n", resource, e.what());
    return outcome::failed;
  } catch (const std::exception& e) {  // a malformed Content-Length
    std::fprintf(stderr, "resource %d: %s\n", resource, e.what());
    return outcome::failed;
  }
}

}  // namespace

int main(int argc, char** argv) {
  const settings cfg = parse_args(argc, argv);
  spindle::runtime rt(spindle::options{.workers = cfg.workers});
  std::atomic<int> ok{0}, timed_out{0}, failed{0}, in_flight{0}, peak{0};
  std::atomic<long> bytes{0};
  const auto start = std::chrono::steady_clock::now();
  rt.block_on([&] {
    auto lst = net::tcp_listener::bind(net::endpoint::parse("127.0.0.1:0"));
    auto server = spindle::spawn(serve, std::ref(lst), 2 * cfg.timeout);
    spindle::semaphore slots(cfg.concurrency);
    std::vector<spindle::task<void>> downloads;
    for (int r = 0; r < cfg.count; ++r) {
      downloads.push_back(spindle::spawn([&, r, ep = lst.local_endpoint()] {
        slots.acquire();
        const int now = ++in_flight;
        for (int p = peak.load(); now > p && !peak.compare_exchange_weak(p, now);) {
        }
        std::size_t got = 0;
        switch (fetch(ep, r, cfg.timeout, got)) {
          case outcome::ok:
            ++ok;
            bytes += static_cast<long>(got);
            break;
          case outcome::timed_out:
            ++timed_out;
            break;
          case outcome::failed:
            ++failed;
            break;
        }
        --in_flight;
        slots.release();
      }));
    }
    for (auto& d : downloads) d.join();
    lst.close();
    server.join();
  });
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  int slow = 0;
  for (int r = 0; r < cfg.count; ++r) slow += is_slow(r);
  const bool good =
      ok == cfg.count - slow && timed_out == slow && failed == 0 && peak <= cfg.concurrency;
  std::printf("fetched %d of %d resources (%.1f MB, every byte checked) in %.2f s\n", ok.load(),
              cfg.count, static_cast<double>(bytes.load()) / 1e6, secs);
  std::printf(
      "%d timed out after %lld ms (the server delayed %d slow ones by %lld ms), %d failed\n",
      timed_out.load(), static_cast<long long>(cfg.timeout.count()), slow,
      static_cast<long long>(2 * cfg.timeout.count()), failed.load());
  std::printf("at most %d requests in flight (limit %d): %s\n", peak.load(), cfg.concurrency,
              good ? "OK" : "FAILED");
  return good ? 0 : 1;
}
