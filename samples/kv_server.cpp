// kv_server: a Redis-protocol (RESP2) key-value server. One fiber per
// connection, written as plain blocking code; pipelined requests are answered
// with one write per batch.
//
//   kv_server [--port P] [--workers N] [--idle-timeout S]
//       Serves 127.0.0.1:P (default 6380; 0 = any free port) until killed.
//       redis-cli and redis-benchmark (-t ping,set,get,incr,mset) talk to it.
//   kv_server --self-test N [--requests R] [--workers N]
//       Serves a free port; N client fibers each pipeline R rounds of SET,
//       GET, INCR, EXPIRE/TTL and DEL and check every reply byte for byte.
//
// Commands: PING [msg], ECHO, GET, SET key value [EX s | PX ms], DEL, EXISTS,
// INCR, MGET, MSET, EXPIRE, TTL, QUIT, and of CONFIG GET and COMMAND what
// redis-benchmark and redis-cli ask for at start. Keys expire lazily (when
// next touched). Limits, so that no client can take unbounded memory: a
// request line (or inline command) of at most 64 KiB, a value of at most
// 16 MiB, at most 1,048,576 arguments per command; past them the client gets
// an error and is disconnected.
#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <spindle/spindle.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "reply_writer.hpp"
#include "sample_support.hpp"

using namespace std::chrono_literals;
namespace net = spindle::net;
using kv_clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t max_line = 64 * 1024;
constexpr long long max_bulk = 16 * 1024 * 1024;
constexpr long long max_args = 1024 * 1024;

// The pieces joined. (Built with append: GCC 12 at -O3 reports a false
// -Wrestrict on chains of operator+ over std::string, GCC PR 105329.)
std::string cat(std::initializer_list<std::string_view> parts) {
  std::string s;
  for (std::string_view p : parts) s.append(p);
  return s;
}

// --- the store ---------------------------------------------------------------

struct entry {
  std::string value;
  std::optional<kv_clock::time_point> expires;
};

// Keys spread over shards, each with its own fiber-aware mutex, so that
// workers rarely wait for each other.
class store {
 public:
  // Runs f(map) with the shard of `key` locked; expired entries of that key
  // are gone before f sees the map.
  template <class F>
  decltype(auto) with_key(const std::string& key, F f) {
    shard& s = shards_[std::hash<std::string>()(key) % shards_.size()];
    std::lock_guard lock(s.mutex);
    if (auto it = s.map.find(key);
        it != s.map.end() && it->second.expires && *it->second.expires <= kv_clock::now()) {
      s.map.erase(it);
    }
    return f(s.map);
  }

 private:
  struct shard {
    spindle::mutex mutex;
    std::unordered_map<std::string, entry> map;  // guarded by mutex
  };
  std::array<shard, 64> shards_;
};

// --- RESP2 replies -------------------------------------------------------------

struct reply {
  std::string out;
  void simple(std::string_view s) { out.append("+").append(s).append("\r\n"); }
  void error(std::string_view s) { out.append("-").append(s).append("\r\n"); }
  void integer(long long v) { out.append(":").append(std::to_string(v)).append("\r\n"); }
  void bulk(std::string_view s) {
    out.append("$").append(std::to_string(s.size())).append("\r\n").append(s).append("\r\n");
  }
  void null() { out.append("$-1\r\n"); }
  void array(std::size_t n) { out.append("*").append(std::to_string(n)).append("\r\n"); }
};

// --- requests ------------------------------------------------------------------

// A request the client got wrong in a way that ends the connection.
struct protocol_error {
  std::string message;
};

std::optional<long long> to_integer(std::string_view s) {
  long long v = 0;
  const auto [end, err] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (err != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

// "X<number>\r\n" with X = prefix, the number in [min, max].
long long header_number(std::string_view line, char prefix, long long min, long long max) {
  if (line.size() < 3 || line[0] != prefix || !line.ends_with("\r\n")) {
    throw protocol_error{cat({"Protocol error: expected '", std::string(1, prefix), "'"})};
  }
  const auto v = to_integer(line.substr(1, line.size() - 3));
  if (!v || *v < min || *v > max) throw protocol_error{"Protocol error: invalid length"};
  return *v;
}

// The next command's arguments; std::nullopt at end of stream.
std::optional<std::vector<std::string>> read_command(net::buffered_reader<>& in) {
  std::optional<std::string> line = in.read_until('\n');
  if (!line) return std::nullopt;
  std::vector<std::string> args;
  if ((*line)[0] != '*') {  // an inline command: words separated by spaces
    std::string_view rest(*line);
    while (!rest.empty() && (rest.back() == '\n' || rest.back() == '\r')) rest.remove_suffix(1);
    while (!rest.empty()) {
      const std::size_t space = rest.find(' ');
      if (space != 0) args.emplace_back(rest.substr(0, space));
      rest.remove_prefix(space == std::string_view::npos ? rest.size() : space + 1);
    }
    return args;
  }
  const long long n = header_number(*line, '*', 0, max_args);
  args.reserve(static_cast<std::size_t>(n));
  for (long long i = 0; i < n; ++i) {
    std::optional<std::string> len_line = in.read_until('\n');
    if (!len_line) throw protocol_error{"Protocol error: end of stream inside a command"};
    const long long len = header_number(*len_line, '$', 0, max_bulk);
    std::string arg(static_cast<std::size_t>(len) + 2, '\0');
    in.read_exact(std::as_writable_bytes(std::span(arg)));
    if (!arg.ends_with("\r\n")) throw protocol_error{"Protocol error: bulk not ended by CRLF"};
    arg.resize(static_cast<std::size_t>(len));
    args.push_back(std::move(arg));
  }
  return args;
}

bool is(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::toupper(static_cast<unsigned char>(x)) == y;
         });
}

// --- commands ------------------------------------------------------------------

using args_t = std::vector<std::string>;

void set(store& db, const args_t& a, reply& r) {
  if (a.size() % 2 == 0) return r.error("ERR syntax error");
  std::optional<kv_clock::time_point> expires;
  for (std::size_t i = 3; i < a.size(); i += 2) {
    const auto v = to_integer(a[i + 1]);
    if (!v || *v <= 0 || *v > 100'000'000'000LL || !(is(a[i], "EX") || is(a[i], "PX"))) {
      return r.error("ERR syntax error");
    }
    expires = kv_clock::now() + std::chrono::milliseconds(is(a[i], "EX") ? *v * 1000 : *v);
  }
  db.with_key(a[1], [&](auto& map) { map[a[1]] = entry{a[2], expires}; });
  r.simple("OK");
}

void get(store& db, const std::string& key, reply& r) {
  db.with_key(key, [&](auto& map) {
    if (auto it = map.find(key); it != map.end()) {
      r.bulk(it->second.value);
    } else {
      r.null();
    }
  });
}

void incr(store& db, const std::string& key, reply& r) {
  const std::optional<long long> v = db.with_key(key, [&](auto& map) -> std::optional<long long> {
    entry& e = map[key];
    const auto old = e.value.empty() ? std::optional<long long>(0) : to_integer(e.value);
    if (!old || *old == std::numeric_limits<long long>::max()) return std::nullopt;
    e.value = std::to_string(*old + 1);
    return *old + 1;
  });
  if (v) {
    r.integer(*v);
  } else {
    r.error("ERR value is not an integer or out of range");
  }
}

// How many of the keys a[1..] exist; `erase`: and deletes them.
long long count_keys(store& db, const args_t& a, bool erase) {
  long long n = 0;
  for (std::size_t i = 1; i < a.size(); ++i) {
    n += db.with_key(a[i], [&](auto& map) {
      return static_cast<long long>(erase ? map.erase(a[i]) : map.count(a[i]));
    });
  }
  return n;
}

void expire(store& db, const args_t& a, reply& r) {
  const auto secs = to_integer(a[2]);
  if (!secs || *secs > 100'000'000'000LL)
    return r.error("ERR value is not an integer or out of range");
  r.integer(db.with_key(a[1], [&](auto& map) -> long long {
    auto it = map.find(a[1]);
    if (it == map.end()) return 0;
    if (*secs <= 0) {
      map.erase(it);
    } else {
      it->second.expires = kv_clock::now() + std::chrono::seconds(*secs);
    }
    return 1;
  }));
}

long long ttl(store& db, const std::string& key) {
  return db.with_key(key, [&](auto& map) -> long long {
    auto it = map.find(key);
    if (it == map.end()) return -2;
    if (!it->second.expires) return -1;
    return std::chrono::ceil<std::chrono::seconds>(*it->second.expires - kv_clock::now()).count();
  });
}

// One command: its name, its arity (the command name counted) and what it does.
struct command_spec {
  std::string_view name;
  std::size_t min_args;
  std::size_t max_args;  // SIZE_MAX: no limit
  void (*run)(store&, const args_t&, reply&);
};

constexpr std::size_t any = SIZE_MAX;

const command_spec commands[] = {
    {"PING", 1, 2,
     [](store&, const args_t& a, reply& r) {
       if (a.size() == 1) {
         r.simple("PONG");
       } else {
         r.bulk(a[1]);
       }
     }},
    {"ECHO", 2, 2, [](store&, const args_t& a, reply& r) { r.bulk(a[1]); }},
    {"GET", 2, 2, [](store& db, const args_t& a, reply& r) { get(db, a[1], r); }},
    {"SET", 3, any, set},
    {"DEL", 2, any,
     [](store& db, const args_t& a, reply& r) { r.integer(count_keys(db, a, true)); }},
    {"EXISTS", 2, any,
     [](store& db, const args_t& a, reply& r) { r.integer(count_keys(db, a, false)); }},
    {"INCR", 2, 2, [](store& db, const args_t& a, reply& r) { incr(db, a[1], r); }},
    {"MGET", 2, any,
     [](store& db, const args_t& a, reply& r) {
       r.array(a.size() - 1);
       for (std::size_t i = 1; i < a.size(); ++i) get(db, a[i], r);
     }},
    {"MSET", 3, any,
     [](store& db, const args_t& a, reply& r) {
       if (a.size() % 2 == 0) return r.error("ERR wrong number of arguments for 'mset' command");
       for (std::size_t i = 1; i < a.size(); i += 2) {
         db.with_key(a[i], [&](auto& map) { map[a[i]] = entry{a[i + 1], std::nullopt}; });
       }
       r.simple("OK");
     }},
    {"EXPIRE", 3, 3, expire},
    {"TTL", 2, 2, [](store& db, const args_t& a, reply& r) { r.integer(ttl(db, a[1])); }},
    // redis-benchmark asks for "save" and "appendonly" before it starts.
    {"CONFIG", 2, any,
     [](store&, const args_t& a, reply& r) {
       if (a.size() == 3 && is(a[1], "GET") && (a[2] == "save" || a[2] == "appendonly")) {
         r.array(2);
         r.bulk(a[2]);
         r.bulk(a[2] == "save" ? "" : "no");
       } else {
         r.array(0);
       }
     }},
    // redis-cli asks for the command table; it copes with an empty one.
    {"COMMAND", 1, any, [](store&, const args_t&, reply& r) { r.array(0); }},
    {"QUIT", 1, 1, [](store&, const args_t&, reply& r) { r.simple("OK"); }},
};

// Runs one command; false when the connection should end (QUIT).
bool execute(store& db, const args_t& a, reply& r) {
  if (a.empty()) return true;
  const auto spec = std::find_if(std::begin(commands), std::end(commands),
                                 [&](const command_spec& c) { return is(a[0], c.name); });
  if (spec == std::end(commands)) {
    r.error(cat({"ERR unknown command '", a[0], "'"}));
  } else if (a.size() < spec->min_args || a.size() > spec->max_args) {
    r.error(cat({"ERR wrong number of arguments for '", a[0], "' command"}));
  } else {
    spec->run(db, a, r);
  }
  return spec == std::end(commands) || spec->name != "QUIT";
}

// The whole server side of one connection: answers every command read, and
// sends the answers when no further request is already buffered (or 64 KiB
// of them are ready), so a pipelined batch costs one read and one write.
// They go out through a reply_writer: reading stops only while a megabyte
// of answers waits for a client that pipelines without reading.
void session(spindle_samples::connection& c, store& db) {
  net::buffered_reader in(c.stream, {.buffer_size = 16 * 1024, .max_line = max_line});
  spindle_samples::reply_writer replies(c.stream, [&c] { c.active(); });
  reply r;
  try {
    while (auto args = read_command(in)) {
      c.active();
      const bool go_on = execute(db, *args, r);
      if (!go_on || in.buffered() == 0 || r.out.size() >= 64 * 1024) {
        replies.send(r.out);
        r.out.clear();
      }
      if (!go_on) return replies.finish();
    }
  } catch (const protocol_error& e) {
    r.error(cat({"ERR ", e.message}));
  } catch (const std::system_error& e) {
    if (e.code() != std::errc::message_size) throw;
    r.error("ERR Protocol error: request line too long");
  }
  if (!r.out.empty()) replies.send(r.out);
  replies.finish();
}

// --- self-test -----------------------------------------------------------------

std::string command(std::initializer_list<std::string_view> args) {
  std::string s = cat({"*", std::to_string(args.size()), "\r\n"});
  for (std::string_view a : args) s.append(cat({"$", std::to_string(a.size()), "\r\n", a, "\r\n"}));
  return s;
}

// One client: `requests` rounds of commands in one pipelined write, then the
// replies, compared byte for byte with what a Redis server answers.
bool self_test_client(net::endpoint ep, int id, int requests) {
  auto s = net::tcp_stream::connect(ep);
  s.set_timeout(60s);
  std::string out, expected;
  for (int i = 0; i < requests; ++i) {
    const std::string key = cat({"k", std::to_string(id), ":", std::to_string(i)});
    const std::string value = cat({"value-", std::to_string(id * 1000003 + i)});
    const std::string counter = cat({"counter", std::to_string(id)});
    out += command({"SET", key, value});
    expected += "+OK\r\n";
    out += command({"GET", key});
    expected += cat({"$", std::to_string(value.size()), "\r\n", value, "\r\n"});
    out += command({"INCR", counter});
    expected += cat({":", std::to_string(i + 1), "\r\n"});
    out += command({"EXPIRE", key, "100"});
    expected += ":1\r\n";
    out += command({"TTL", key});
    expected += ":100\r\n";
    out += command({"DEL", key, "missing"});
    expected += ":1\r\n";
    out += command({"GET", key});
    expected += "$-1\r\n";
  }
  out += command({"QUIT"});
  expected += "+OK\r\n";
  auto writer = spindle::spawn([&] { s.write_all(out); });  // reads while it writes
  std::string got(expected.size(), '\0');
  s.read_exact(std::as_writable_bytes(std::span(got)));
  writer.join();
  std::byte extra[1];
  const bool closed = s.read_some(extra) == 0;  // QUIT ends the connection
  if (got != expected || !closed) {
    std::fprintf(stderr, "client %d: replies differ from what Redis answers\n", id);
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  using spindle_samples::number;
  int port = -1, idle_timeout = 60, clients = 0, requests = 100;
  std::size_t workers = 0;
  spindle_samples::parse_options(
      argc, argv,
      "[--port P] [--workers N] [--idle-timeout S] [--self-test CLIENTS [--requests R]]",
      {number("--port", port, 0, 65535), number("--workers", workers, 0, 1024),
       number("--idle-timeout", idle_timeout, 1, 86400), number("--self-test", clients, 1, 10000),
       number("--requests", requests, 1, 100000)});
  spindle::runtime rt(spindle::options{.workers = workers});
  store db;
  auto serve = [&](net::tcp_listener& lst) {
    spindle_samples::serve_connections(lst, std::chrono::seconds(idle_timeout),
                                       [&db](spindle_samples::connection& c) { session(c, db); });
  };
  if (clients == 0) {
    return rt.block_on([&] {
      auto lst = spindle_samples::listen_on_loopback(port < 0 ? 6380 : port);
      serve(lst);
      return 1;  // accepting stopped: only an error does that
    });
  }
  std::atomic<int> failed{0};
  rt.block_on([&] {
    spindle_samples::self_test_in_process(port < 0 ? 0 : port, serve, clients,
                                          [&](net::endpoint ep, int id) {
                                            try {
                                              if (!self_test_client(ep, id, requests)) ++failed;
                                            } catch (const std::exception& e) {
                                              std::fprintf(stderr, "client %d: %s\n", id, e.what());
                                              ++failed;
                                            }
                                          });
  });
  std::printf("kv self-test: %d clients x %d rounds, %d failed\n", clients, requests,
              failed.load());
  return failed == 0 ? 0 : 1;
}
